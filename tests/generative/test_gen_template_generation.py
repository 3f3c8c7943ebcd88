"""Text-to-text layout and truncation; free generation mapped to labels (unmatched counted wrong)."""

import pytest
import torch

from infoprompt.data.example import Example
from infoprompt.data.tasks import get_task
from infoprompt.generative import generation
from infoprompt.generative.formats import TextFormat, task_format
from infoprompt.generative.generation import evaluate_generation, generate_predictions, text_to_label
from infoprompt.generative.scoring import causal_logits
from infoprompt.generative.template import GenerativeTemplate
from infoprompt.methods import build_method
from infoprompt.prompting.template import collate


def test_causal_layout_prompts_after_bos_and_no_eos(roberta_tokenizer):
    template = GenerativeTemplate(roberta_tokenizer, 3, kind="causal", fmt=task_format(get_task("superglue-rte")))
    feature = template.encode_one(Example("the plot is thin?", "a great movie", 1))
    assert feature.input_ids[0] == roberta_tokenizer.bos_token_id
    assert list(feature.prompt_index[:4]) == [-1, 0, 1, 2]
    assert roberta_tokenizer.eos_token_id not in feature.input_ids
    assert feature.mask_pos == len(feature.input_ids) - 1 and feature.label == 1
    assert template.render(Example("the plot is thin?", "a great movie")) == "<s>a great movie\nthe plot is thin?\nAnswer:"


def test_seq2seq_layout_ends_with_eos_and_warp_spreads_the_slots(roberta_tokenizer):
    fmt = TextFormat("{a}", "Answer:")
    template = GenerativeTemplate(roberta_tokenizer, 4, kind="seq2seq", fmt=fmt, layout="warp")
    feature = template.encode_one(Example("hello world"))
    assert feature.input_ids[-1] == roberta_tokenizer.eos_token_id
    slots = [i for i, p in enumerate(feature.prompt_index) if p >= 0]
    assert [feature.prompt_index[i] for i in slots] == [0, 1, 2, 3]
    # 4 prompts over 3 slots -> [2, 1, 1]: two before the text, one before the cue, one right before </s>
    assert slots[1] == slots[0] + 1 and slots[2] > slots[1] + 1 and slots[3] > slots[2] + 1
    assert slots[3] == len(feature.input_ids) - 2
    assert template.answer_ids("yes")[-1] == roberta_tokenizer.eos_token_id


def test_truncation_cuts_the_longer_context_and_keeps_question_and_cue(roberta_tokenizer):
    template = GenerativeTemplate(roberta_tokenizer, 2, kind="causal", fmt=task_format(get_task("superglue-boolq")),
                                  max_length=24)
    long_context = " ".join(["one two three four five six seven eight nine ten"] * 10)
    feature = template.encode_one(Example("is it fun?", long_context, 0, group="q1"))
    assert len(feature.input_ids) <= 24 and feature.group == "q1"
    text = roberta_tokenizer.decode([t for t, p in zip(feature.input_ids, feature.prompt_index) if p < 0])
    assert text.endswith("one two three\nis it fun?\nAnswer:") or text.endswith("\nis it fun?\nAnswer:")
    with pytest.raises(Exception, match="--max-length"):
        GenerativeTemplate(roberta_tokenizer, 20, kind="causal", fmt=TextFormat("{a}", "Answer:"),
                           max_length=10).encode_one(Example("x"))


@pytest.mark.parametrize("text, label", [(" great!", 1), ("Terrible film", 0), ("greatness", None), ("", None),
                                         ("\n  GREAT", 1), ("ok", None)])
def test_text_to_label(text, label):
    assert text_to_label(text, ["terrible", "great"]) == label


def test_text_to_label_prefers_the_longest_word():
    assert text_to_label("not good", ["not", "not good"]) == 1


def test_generation_is_greedy_and_independent_of_padding(gen_backbone):
    method = build_method("gen-prompt", gen_backbone, get_task("sst2"), {"n_prompts": 2})
    method.eval()
    features = method.make_template(64).encode([Example("a great movie with a wonderful cast", label=1),
                                                 Example("hello", label=0)])
    labels, texts = generate_predictions(method, features, batch_size=2, max_new_tokens=3)
    alone = [generate_predictions(method, [f], batch_size=1, max_new_tokens=3)[1][0] for f in features]
    assert texts == alone and len(labels) == 2
    if gen_backbone.kind == "causal":  # the first generated token is the argmax of the scorer's next-token logits
        pad = gen_backbone.tokenizer.pad_token_id
        for feature in features:
            batch = collate([feature], pad)
            with torch.no_grad():
                expected = causal_logits(method.backbone, method.embed(batch, method.prompts(batch)), batch["attention_mask"], 1)[0, -1]
            assert generation.generate_ids(method, batch, 1)[0, 0].item() == expected.argmax().item()


def test_unmatched_generations_count_as_wrong(gen_backbone, monkeypatch):
    method = build_method("gen-prompt", gen_backbone, get_task("sst2"), {"n_prompts": 2})
    features = method.make_template(64).encode([Example("a", label=1), Example("b", label=0), Example("c", label=0)])
    monkeypatch.setattr(generation, "generate_texts", lambda m, batch, n: ["great", "nonsense", "terrible"][:len(
        batch["input_ids"])])
    out = evaluate_generation(method, features, batch_size=8)
    # features are batched by length (all length-equal here, so in order): great->1 ok, nonsense->wrong, terrible->0 ok
    assert out["unmatched"] == 1 and out["accuracy"] == pytest.approx(2 / 3)
