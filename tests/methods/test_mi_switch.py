"""MI losses as a switch (`--mi-losses`) on the free-prompt methods, and InfoPrompt's numbers pinned.

The pin was recorded on the code before the MI losses moved into `infoprompt.methods.mi`: the same
loss values, logits, parameter names and RNG consumption order after the move.
"""

from __future__ import annotations

import pytest
import torch

from infoprompt.data.example import Example
from infoprompt.data.tasks import get_task
from infoprompt.methods import build_method
from infoprompt.prompting.template import collate
from infoprompt.training.config import TrainerConfig
from infoprompt.training.optim import make_optimizer
from infoprompt.training.steps import train_step

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


SWITCHED = ["prompt", "warp", "residual"]


def switched(backbone, name: str, **options):
    return build_method(name, backbone, get_task("sst2"), {"n_prompts": 3, **options})


@pytest.mark.parametrize("name", SWITCHED)
def test_off_by_default_builds_and_draws_nothing(tiny_bert, name):
    torch.manual_seed(3)
    method = switched(tiny_bert, name)
    after = torch.rand(1)
    assert not method.config.mi_losses and method.config.classifier_input == "z"
    assert not any(n.startswith(("bottleneck.", "rep_score.", "head_score.")) for n in method.trainable_state_dict())
    out = method.train()(batch_for(method))
    assert set(out.losses) == {"pred"}
    torch.manual_seed(3)
    on = switched(tiny_bert, name, mi_losses=True)
    assert not torch.equal(torch.rand(1), after)  # the switch's bottleneck is what draws
    assert torch.equal(on.prompt, method.prompt)


@pytest.mark.parametrize("name", SWITCHED)
def test_the_switch_adds_exactly_the_mi_terms_and_keeps_the_prediction(tiny_bert, name):
    off = switched(tiny_bert, name).eval()
    on = switched(tiny_bert, name, mi_losses=True, nce_clamp=None)
    batch = batch_for(on)
    assert torch.equal(on.eval()(batch).logits, off(batch).logits)  # the head reads Z as without the switch
    out = on.train()(batch)
    assert set(out.losses) == {"pred", "rep", "head", "kl"}
    assert out.weights["rep"] == 0.1 and out.weights["head"] == 0.05 and out.weights["kl"] == 0.1
    torch.testing.assert_close(out.losses["pred"], off.train()(batch).losses["pred"], rtol=0, atol=0)
    assert torch.isfinite(out.total())


@pytest.mark.parametrize("name", SWITCHED)
@pytest.mark.parametrize("term", ["rep", "head"])
def test_mi_terms_reach_the_prompt(tiny_bert, name, term):
    method = switched(tiny_bert, name, mi_losses=True, nce_clamp=None).train()
    method(batch_for(method)).losses[term].backward()
    assert method.prompt.grad is not None and method.prompt.grad.abs().sum() > 0
    assert all(p.grad is None for p in method.backbone.parameters())


def test_ablations_under_the_switch(tiny_bert):
    from infoprompt.config import ABLATIONS

    batch = batch_for(switched(tiny_bert, "prompt"))
    expect = {"none": {"pred", "rep", "head", "kl"}, "no-head": {"pred", "rep", "kl"}, "no-rep": {"pred", "head"},
              "no-mi": {"pred"}}
    for ablation, terms in expect.items():
        method = switched(tiny_bert, "prompt", mi_losses=True, **ABLATIONS[ablation]).train()
        assert set(method(batch).losses) == terms, ablation
        assert (method.bottleneck is None) == (ablation in ("no-rep", "no-mi"))  # nothing reads it: not built
    reads = switched(tiny_bert, "prompt", mi_losses=True, classifier_input="bottleneck", beta=0.0, gamma=0.0)
    assert set(reads.train()(batch).losses) == {"pred", "kl"} and reads.bottleneck is not None
    assert not torch.equal(reads.eval()(batch).logits, switched(tiny_bert, "prompt").eval()(batch).logits)


def test_mi_options_without_the_switch_are_refused(tiny_bert):
    from infoprompt.config import TrainConfig
    from infoprompt.errors import ConfigError

    for kwargs, message in (({"method_options": {"beta": 0.2}}, "--beta do(es) not apply to method 'warp' without "
                                                                 "--mi-losses"),
                            ({"ablation": "no-mi"}, "--ablation no-mi applies to infoprompt, not to method 'warp' "
                                                    "without --mi-losses")):
        with pytest.raises(ConfigError) as caught:
            TrainConfig(method="warp", **kwargs)
        assert message in str(caught.value) and "\n" not in str(caught.value)
    config = TrainConfig(method="warp", ablation="no-rep", method_options={"mi_losses": True})
    assert config.method_config().beta == 0.0 and config.method_config().gamma == 0.05


def test_prompt_free_states_are_cached_and_survive_resume(tiny_bert):
    from infoprompt.methods import Capability

    method = switched(tiny_bert, "prompt", mi_losses=True).train()
    batch = batch_for(method)
    first = method(batch).losses["rep"]
    assert len(method.mi_cache) == len(EXAMPLES) and method.capabilities & Capability.RUN_STATE
    state = method.export_run_state()
    other = switched(tiny_bert, "prompt", mi_losses=True)
    other.load_state_dict(method.state_dict())
    other.import_run_state(state)
    assert len(other.mi_cache) == len(EXAMPLES)
    torch.manual_seed(0)
    again = method(batch).losses["rep"]
    torch.manual_seed(0)
    assert torch.equal(other.train()(batch).losses["rep"], again) and torch.isfinite(first)
    method.clear_run_state()
    assert len(method.mi_cache) == 0


def test_the_switch_on_late_prompts_adds_the_mi_terms_and_they_reach_the_generator(tiny_bert):
    torch.manual_seed(5)
    off = switched(tiny_bert, "late", prompt_layer=2)
    batch = batch_for(off)
    assert set(off.train()(batch).losses) == {"pred"}
    torch.manual_seed(5)
    on = switched(tiny_bert, "late", prompt_layer=2, mi_losses=True)
    out = on.train()(batch)
    assert set(out.losses) == {"pred", "rep", "head", "kl"}
    out.losses["rep"].backward()
    grads = [p.grad for p in on.generator.parameters()]
    assert all(g is not None for g in grads) and sum(g.abs().sum() for g in grads) > 0
    on.eval()
    assert set(on(batch).losses) == {"pred"}  # evaluation scores the prediction only, as InfoPrompt's does
