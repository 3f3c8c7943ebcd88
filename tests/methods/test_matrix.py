"""Every method on every backbone family (tiny random BERT, BertForMaskedLM, RobertaForMaskedLM, Llama, T5).

Per cell: two training steps change only trainable tensors (and some of them); the checkpoint holds
exactly the trainable tensors, the method's own buffers and a tuned baseline's frozen slot vectors,
with their values; save -> load gives bit-identical logits; `predict` works on the loaded run; XPrompt's
masker prunes a token of every prompt method. Meaningless cells are a one-line ConfigError saying why.
"""

from __future__ import annotations

import pytest
import torch

from infoprompt.api import load
from infoprompt.data.example import Example
from infoprompt.data.tasks import get_task
from infoprompt.errors import ConfigError
from infoprompt.methods import Capability, build_method
from infoprompt.prompting.template import collate
from infoprompt.pruning import importance_scores
from infoprompt.testing import TINY_FAMILIES, tiny_family_backbone
from infoprompt.training.checkpoint import load_tensors, save_checkpoint
from infoprompt.training.config import TrainerConfig
from infoprompt.training.optim import make_optimizer
from infoprompt.training.steps import train_step

METHODS = {
    "prompt": {}, "residual": {"residual_bottleneck": 8}, "residual-mi": {"residual_bottleneck": 8, "mi_losses": True},
    "warp": {}, "idpg": {}, "infoprompt": {}, "infoprompt-head": {"predict": "head"},
    "adapter": {"adapter_size": 4}, "lora": {"lora_r": 2}, "bitfit": {}, "prefix": {"prefix_length": 2},
    "apet": {"budget": 300, "apet_ops": "add,plug"}, "finetune": {}, "late": {},
}
FOLDED = {"residual", "residual-mi"}  # the checkpoint holds the folded prompt P' instead of P and the MLP
MEANINGLESS = {  # (method, family) -> what the one-line error says
    ("bitfit", "llama"): "has none in its layers", ("bitfit", "t5"): "has none in its layers",
    ("prefix", "t5"): "not supported on seq2seq", ("infoprompt-head", "bert"): None,  # head is bert's only predict
    ("late", "llama"): "causal family: label scoring continues", ("late", "t5"): "seq2seq family: T5's first",
}
EXAMPLES = [Example("a great movie with a wonderful cast", label=1), Example("a terrible film , boring and long", label=0),
            Example("the plot is thin but fun", label=1), Example("this is negative", label=0)]


@pytest.fixture(scope="module")
def backbones(bert_tokenizer, roberta_tokenizer):
    return {key: tiny_family_backbone(key, bert_tokenizer, roberta_tokenizer) for key in TINY_FAMILIES}


def build(name: str, backbone):
    options = {"n_prompts": 3, **METHODS[name]}
    return build_method(name.removesuffix("-head").removesuffix("-mi"), backbone, get_task("sst2"), options)


@pytest.mark.parametrize("family", TINY_FAMILIES)
@pytest.mark.parametrize("name", list(METHODS))
def test_method_on_family(name, family, backbones, tmp_path):
    backbone = backbones[family]
    if (name, family) in MEANINGLESS:
        why = MEANINGLESS[(name, family)]
        if why is None:
            pytest.skip("same cell as infoprompt on this family")
        with pytest.raises(ConfigError, match=why) as caught:
            build(name, backbone)
        assert "\n" not in str(caught.value)
        return
    torch.manual_seed(0)
    method = build(name, backbone)
    template = method.make_template(48)
    features = template.encode(EXAMPLES)
    batch = collate(features, backbone.tokenizer.pad_token_id)

    # two training steps change only trainable tensors
    before = {n: p.detach().clone() for n, p in method.named_parameters()}
    pristine = {n: p.detach().clone() for n, p in backbone.model.named_parameters()}
    trainable = {n for n, p in method.named_parameters() if p.requires_grad}
    params = [p for p in method.parameters() if p.requires_grad]
    config = TrainerConfig(lr=1e-2)
    optimizer = make_optimizer(params, config)
    method.train()
    for _ in range(2):
        train_step(method, batch, optimizer, params, config)
    changed = {n for n, p in method.named_parameters() if not torch.equal(p, before[n])}
    assert changed and changed <= trainable
    assert all(torch.equal(p, pristine[n]) for n, p in backbone.model.named_parameters())  # the given model is pristine

    # the checkpoint holds exactly the trainable tensors (plus own buffers and frozen slot vectors), with their values
    method.eval()
    expected = method(batch).logits
    save_checkpoint(tmp_path, method, {"template": {"max_length": 48, "layout": method.config.layout}})
    saved = load_tensors(tmp_path)
    extras = {n for n, _ in method.named_buffers() if not n.startswith("backbone.")}
    if not method.capabilities & Capability.PRUNABLE and hasattr(method, "prompt"):
        extras.add("prompt")  # a tuned baseline's frozen slot vectors (late has none)
    folded = method.checkpoint_state()[0] if name in FOLDED else {}
    if folded:
        trainable = {n for n in trainable if not n.startswith("reparam.")}
    assert set(saved) == trainable | extras
    current = {**dict(method.named_parameters()), **dict(method.named_buffers()), **folded}
    assert all(torch.equal(saved[n], current[n].detach()) for n in saved)

    # save -> load: bit-identical logits; predict works
    loaded = load(tmp_path, backbone)
    assert torch.equal(loaded.method(batch).logits, expected)
    assert loaded.predict_examples(EXAMPLES) == expected.argmax(-1).tolist()

    # XPrompt prunes every prompt method: importance per token, and a pruned token changes the logits
    if method.capabilities & Capability.PRUNABLE:
        masker = method.attach_prompt_masker(pieces=2)
        scores = importance_scores(method, features, "token", batch_size=4)
        assert scores.shape == (3,) and torch.isfinite(scores).all()
        masker.token_mask[int(scores.argmin())] = 0.0
        with torch.no_grad():
            pruned = method(batch).logits
        assert torch.isfinite(pruned).all() and not torch.equal(pruned, expected)
