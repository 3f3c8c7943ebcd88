"""Backbone families: detection, loading with the LM head, where Z is read, LM-head rows, module maps."""

import pytest
import torch

from infoprompt.backbones import load_backbone
from infoprompt.data.example import Example
from infoprompt.data.tasks import get_task
from infoprompt.delta.insert import matching_names
from infoprompt.errors import ConfigError
from infoprompt.families import FAMILIES, family_for_config
from infoprompt.methods import build_method
from infoprompt.prompting.template import collate
from infoprompt.testing import TINY_FAMILIES, tiny_family_backbone

EXPECTED = {"bert": "encoder", "bert-mlm": "mlm", "roberta-mlm": "mlm", "llama": "causal", "t5": "seq2seq"}


@pytest.fixture(scope="module", params=TINY_FAMILIES)
def any_backbone(request, bert_tokenizer, roberta_tokenizer):
    return request.param, tiny_family_backbone(request.param, bert_tokenizer, roberta_tokenizer)


def test_each_tiny_model_is_claimed_by_its_family(any_backbone):
    key, backbone = any_backbone
    assert backbone.family.name == EXPECTED[key]
    config = backbone.model.config
    config.architectures = config.architectures or [type(backbone.model).__name__]  # as save_pretrained records
    assert family_for_config(config).name == EXPECTED[key]
    assert all(not p.requires_grad for p in backbone.model.parameters())


def test_module_map_names_real_modules(any_backbone):
    _, backbone = any_backbone
    names = backbone.family.module_map(backbone.model)
    modules = [n for n, _ in backbone.model.named_modules()]
    params = [n for n, _ in backbone.model.named_parameters()]
    for pattern in (names.attention_output, names.ffn_output, names.query_value):
        assert matching_names(modules, pattern)
    assert matching_names(params, names.layer_norms)


def test_registry_order_puts_the_catch_all_last():
    assert list(FAMILIES)[-1] == "encoder" and set(FAMILIES) == {"encoder", "mlm", "causal", "seq2seq"}


def _batch(method, backbone):
    features = method.make_template(48).encode([Example("a great movie", label=1), Example("a terrible film", label=0)])
    return collate(features, backbone.tokenizer.pad_token_id)


@pytest.mark.parametrize("key", ["bert-mlm", "roberta-mlm", "llama", "t5"])
def test_head_starts_as_the_lms_own_verbalizer_scores(key, bert_tokenizer, roberta_tokenizer):
    """Z is what the LM head's projection reads: the class head initialised from the verbalizer rows gives
    the LM's logits of the labels' first tokens, as the full model computes them."""
    backbone = tiny_family_backbone(key, bert_tokenizer, roberta_tokenizer)
    method = build_method("prompt", backbone, get_task("sst2"), {"n_prompts": 2, "predict": "head"}).eval()
    batch = _batch(method, backbone)
    embeds = method.embed(batch, method.prompts(batch))
    rows = torch.arange(2)
    with torch.no_grad():
        logits = method(batch).logits
        if key == "t5":
            start = torch.full((2, 1), backbone.model.config.decoder_start_token_id)
            full = backbone.model(inputs_embeds=embeds, attention_mask=batch["attention_mask"],
                                  decoder_input_ids=start).logits[:, 0]
        else:
            kwargs = {"token_type_ids": batch["token_type_ids"]} if key == "bert-mlm" else {}
            full = backbone.model(inputs_embeds=embeds, attention_mask=batch["attention_mask"], **kwargs).logits
            full = full[rows, batch["mask_pos"]]
    first = [c[0] for c in method.candidates]
    assert torch.allclose(logits, full[:, first], atol=1e-5)


def test_mlm_folder_loads_with_its_head_and_safetensors_only(tmp_path, bert_tokenizer, roberta_tokenizer):
    backbone = tiny_family_backbone("bert-mlm", bert_tokenizer, roberta_tokenizer)
    backbone.model.save_pretrained(tmp_path)
    bert_tokenizer.save_pretrained(tmp_path)
    loaded = load_backbone(str(tmp_path), safetensors_only=True)
    assert loaded.family.name == "mlm" and type(loaded.model).__name__ == "BertForMaskedLM"
    assert torch.equal(loaded.model.get_output_embeddings().weight, backbone.model.get_output_embeddings().weight)
    pickled = tmp_path / "pickled"
    backbone.model.config.save_pretrained(pickled)
    bert_tokenizer.save_pretrained(pickled)
    torch.save(backbone.model.state_dict(), pickled / "pytorch_model.bin")  # a pickled checkpoint
    with pytest.raises(ConfigError, match="cannot load backbone"):
        load_backbone(str(pickled), safetensors_only=True)


@pytest.mark.parametrize("key, readout", [("bert", "mean-text"), ("bert-mlm", "mask"), ("llama", "answer"),
                                          ("t5", "decoder")])
def test_readout_is_described_in_words(key, readout, bert_tokenizer, roberta_tokenizer):
    backbone = tiny_family_backbone(key, bert_tokenizer, roberta_tokenizer)
    method = build_method("warp", backbone, get_task("sst2"), {"n_prompts": 2})
    assert method.readout == readout and method.describe_readout().startswith(readout + ": ")
