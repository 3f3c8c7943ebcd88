"""MI losses as a switch (`--mi-losses`) on the free-prompt methods, and InfoPrompt's numbers pinned.

The pin was recorded on the code before the MI losses moved into `infoprompt.methods.mi`: the same
loss values, logits, parameter names and RNG consumption order after the move.
"""

from __future__ import annotations

import torch

from infoprompt.data.example import Example
from infoprompt.data.tasks import get_task
from infoprompt.methods import build_method
from infoprompt.prompting.template import collate
from infoprompt.training.loop import TrainerConfig, make_optimizer, train_step

EXAMPLES = [Example("a great movie", label=1), Example("a terrible film , boring and long", label=0),
            Example("the plot is thin but fun", label=1), Example("boring", label=0)]

PINNED_LOSSES = [  # two training steps of InfoPrompt on the tiny BERT, seeds 0 (build) and 1 (steps)
    {"pred": 0.7242578268051147, "rep": 3.4626693725585938, "head": 3.4657340049743652, "kl": 37.7169189453125},
    {"pred": 0.6657038927078247, "rep": 3.383917808532715, "head": 3.4612655639648438, "kl": 19.34404754638672},
]
PINNED_LOGIT_SUM = -0.008062254637479782
INFOPROMPT_TENSORS = [
    "bottleneck.f_mu.bias", "bottleneck.f_mu.weight", "bottleneck.f_sigma.bias", "bottleneck.f_sigma.weight",
    "bottleneck.to_hidden.bias", "bottleneck.to_hidden.weight", "generator.bias", "generator.down.0.bias",
    "generator.down.0.weight", "generator.up.0.bias", "generator.up.0.weight", "head.bias", "head.class_embeddings",
    "head_score.weight", "rep_score.weight"]


def batch_for(method, examples=EXAMPLES) -> dict:
    return collate(method.make_template(64).encode(examples), method.backbone_info.tokenizer.pad_token_id)


def two_steps(method, batch) -> list[dict[str, float]]:
    params = [p for p in method.parameters() if p.requires_grad]
    config = TrainerConfig(lr=1e-2)
    optimizer = make_optimizer(params, config)
    method.train()
    torch.manual_seed(1)
    seen = []
    for _ in range(2):
        seen.append({k: v.item() for k, v in method(batch).losses.items()})
        train_step(method, batch, optimizer, params, config)
    method.eval()
    return seen


def test_infoprompt_numbers_are_pinned(tiny_bert, one_torch_thread):
    torch.manual_seed(0)
    method = build_method("infoprompt", tiny_bert, get_task("sst2"), {"n_prompts": 3, "predict": "head",
                                                                     "nce_clamp": None})
    batch = batch_for(method)
    assert two_steps(method, batch) == PINNED_LOSSES
    assert method(batch).logits.sum().item() == PINNED_LOGIT_SUM
    assert sorted(method.trainable_state_dict()) == INFOPROMPT_TENSORS
