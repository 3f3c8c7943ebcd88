"""Prompt tuning on tiny causal and seq2seq LMs (label likelihood): training touches only the prompt,
checkpoints (and the legacy gen-prompt name), a toy task is learnt, Adafactor, XPrompt's masking seam."""

from dataclasses import replace

import pytest
import torch

from infoprompt.api import TrainConfig, evaluate, load, train
from infoprompt.data.tasks import get_task
from infoprompt.errors import ConfigError
from infoprompt.methods import build_method
from infoprompt.prompting.template import collate
from infoprompt.testing import load_checkpoint
from infoprompt.training.checkpoint import save_checkpoint
from infoprompt.training.config import TrainerConfig
from infoprompt.training.optim import make_optimizer
from infoprompt.training.steps import train_step


def build(backbone, toy, name="prompt", **options):
    method = build_method(name, backbone, get_task("sst2"), {"n_prompts": 4, "predict": "label", **options})
    features = method.make_template(64).encode(toy)
    return method, features, collate(features, backbone.tokenizer.pad_token_id)


def test_one_step_changes_only_the_prompt(gen_backbone, toy):
    method, _, batch = build(gen_backbone, toy)
    before = {n: p.detach().clone() for n, p in method.named_parameters()}
    params = [p for p in method.parameters() if p.requires_grad]
    assert list(method.trainable_state_dict()) == ["prompt"]
    config = TrainerConfig(lr=0.1)
    train_step(method, batch, make_optimizer(params, config), params, config)
    changed = {n for n, p in method.named_parameters() if not torch.equal(p, before[n])}
    assert changed == {"prompt"}


@pytest.mark.parametrize("name", ["prompt", "warp"])
def test_label_scores_are_batch_by_classes(gen_backbone, name, toy):
    method, _, batch = build(gen_backbone, toy, name)
    out = method(batch)
    assert out.logits.shape == (len(toy), 2)
    assert torch.isfinite(out.logits).all() and (out.logits <= 0).all()  # mean log-likelihoods
    assert set(out.losses) == {"pred"}


def test_lm_loss_is_the_gold_verbalizer_nll(causal_backbone, toy):
    method, _, batch = build(causal_backbone, toy, gen_loss="both", label_score="sum")
    out = method(batch)
    lengths = torch.tensor([len(c) for c in method.candidates], dtype=torch.float)
    gold = out.logits[torch.arange(len(toy)), batch["labels"]] / lengths[batch["labels"]]
    assert out.losses["lm"].item() == pytest.approx(-gold.mean().item(), rel=1e-5)
    assert set(out.weights) == {"pred", "lm"}


def test_checkpoint_reloads_to_the_same_logits(gen_backbone, tmp_path, toy):
    method, _, batch = build(gen_backbone, toy)
    with torch.no_grad():
        method.prompt.add_(torch.randn_like(method.prompt))
    method.eval()
    expected = method(batch).logits
    save_checkpoint(tmp_path, method, {"template": {"max_length": 64, "layout": "prefix"}})
    loaded, record = load_checkpoint(tmp_path, gen_backbone)
    assert record["method"] == "prompt"
    assert torch.equal(loaded(batch).logits, expected)


def test_legacy_gen_prompt_checkpoints_load_as_label_likelihood_prompts(gen_backbone, tmp_path, toy):
    method = build_method("gen-prompt", gen_backbone, get_task("sst2"), {"n_prompts": 4})
    assert method.predict == "label" and list(method.trainable_state_dict()) == ["prompt"]
    save_checkpoint(tmp_path, method, {"template": {"max_length": 64, "layout": "prefix"}})
    loaded, record = load_checkpoint(tmp_path, gen_backbone)
    assert record["method"] == "gen-prompt" and torch.equal(loaded.prompt, method.prompt)


@pytest.mark.parametrize("optimizer, lr", [("adamw", 0.05), ("adafactor", 0.3)])
def test_loss_decreases_on_a_toy_task(gen_backbone, optimizer, lr, toy):
    """6 of 8 examples positive: a random 2-layer LM's label scores barely depend on the input, but the
    prompt can move the label prior (the CE optimum is 0.562 from about 0.66 / 0.55 at the start)."""
    toy = [replace(e, label=int(i < 6)) for i, e in enumerate(toy)]
    method, _, batch = build(gen_backbone, toy, n_prompts=8)
    params = [p for p in method.parameters() if p.requires_grad]
    config = TrainerConfig(lr=lr, optimizer=optimizer, weight_decay=1e-5)
    opt = make_optimizer(params, config)
    assert type(opt).__name__ == ("Adafactor" if optimizer == "adafactor" else "AdamW")
    with torch.no_grad():
        first = method(batch).total().item()
    for _ in range(15):
        train_step(method, batch, opt, params, config)
    with torch.no_grad():
        assert method(batch).total().item() < first - 0.01


def test_unknown_optimizer_is_a_config_error():
    with pytest.raises(ConfigError, match="--optimizer"):
        TrainerConfig(optimizer="sgd").validate()


class Scale(torch.nn.Module):
    def __init__(self, factor: float):
        super().__init__()
        self.factor = factor

    def forward(self, prompts: torch.Tensor) -> torch.Tensor:
        return prompts * self.factor


def test_pruning_mask_seam_acts_on_generative_prompts(causal_backbone, toy):
    """XPrompt's masker sits in `mask_prompts`: a zero mask must change the logits, an identity must not."""
    method, _, batch = build(causal_backbone, toy)
    method.eval()
    plain = method(batch).logits
    method.prompt_masker = torch.nn.Identity()
    assert torch.equal(method(batch).logits, plain)
    method.prompt_masker = Scale(0.0)
    assert not torch.allclose(method(batch).logits, plain)


def test_every_method_name_is_kept_on_every_family(causal_backbone, tiny_bert):
    with pytest.raises(ConfigError, match="--label-score"):
        build_method("prompt", causal_backbone, get_task("sst2"), {"label_score": "max"})
    with pytest.raises(ConfigError, match="--predict label needs the LM head"):
        build_method("prompt", tiny_bert, get_task("sst2"), {"predict": "label"})


def test_train_and_load_through_the_api(causal_backbone, tmp_path):
    """`--method prompt` on a causal backbone: SuperGLUE files -> prompt (label likelihood) -> checkpoint -> load -> predict."""
    rows = [{"premise": "a great movie", "hypothesis": "it is good", "label": "entailment"},
            {"premise": "a terrible film", "hypothesis": "it is good", "label": "not_entailment"}] * 4
    folder = tmp_path / "superglue" / "rte"
    folder.mkdir(parents=True)
    for split in ("train", "val"):
        (folder / f"{split}.jsonl").write_text("".join(__import__("json").dumps(r) + "\n" for r in rows))
    cfg = TrainConfig(task="superglue-rte", method="prompt", data_dir=str(tmp_path), epochs=2, batch_size=4, lr=0.05,
                      optimizer="adafactor", output=str(tmp_path / "run"), progress=False, max_length=48,
                      method_options={"predict": "label"})
    result = train(cfg, backbone=causal_backbone)
    assert result.summary["readout"].startswith("answer:") and result.summary["predict"] == "label"
    assert 0.0 <= result.metrics["accuracy"] <= 1.0
    model = load(tmp_path / "run", causal_backbone)
    assert model.record["method"] == "prompt"
    assert set(model.predict_texts([("it is good?", "a great movie")])) <= {"entailment", "not_entailment"}
    generated = evaluate(tmp_path / "run", data_dir=str(tmp_path), backbone=causal_backbone, generate=True)["dev"]
    assert 0 <= generated["unmatched"] <= len(rows) and 0.0 <= generated["accuracy"] <= 1.0


def test_prompt_starts_from_vocabulary_or_text_embeddings(gen_backbone, toy):
    weight = gen_backbone.model.get_input_embeddings().weight
    method, _, _ = build(gen_backbone, toy, prompt_init="text:great movie", n_prompts=3)
    ids = gen_backbone.tokenizer("great movie", add_special_tokens=False)["input_ids"]
    assert torch.equal(method.prompt.data, weight[(ids * 3)[:3]])
    sampled, _, _ = build(gen_backbone, toy, n_prompts=3)  # vocab: rows of the embedding matrix
    assert all(any(torch.equal(row, w) for w in weight) for row in sampled.prompt.data)
