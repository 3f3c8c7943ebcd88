"""`residual` (residual prompt tuning): the reparameterisation's math, folding, checkpoints, export, resume."""

from __future__ import annotations

import copy

import pytest
import torch
from torch.nn import functional as F

from infoprompt.api import load
from infoprompt.config import TrainConfig
from infoprompt.data.example import Example
from infoprompt.data.tasks import get_task
from infoprompt.errors import ConfigError
from infoprompt.methods import build_method
from infoprompt.prompting.template import collate
from infoprompt.training.checkpoint import load_tensors, read_checkpoint_config, save_checkpoint
from infoprompt.training.config import TrainerConfig
from infoprompt.training.optim import make_optimizer
from infoprompt.training.resume import load_training_state, save_training_state
from infoprompt.training.state import LoopPosition
from infoprompt.training.steps import train_step

EXAMPLES = [Example("a great movie", label=1), Example("a terrible film , boring and long", label=0),
            Example("the plot is thin but fun", label=1), Example("boring", label=0)]


def build(backbone, **options):
    return build_method("residual", backbone, get_task("sst2"), {"n_prompts": 3, "residual_bottleneck": 8, **options})


def batch_for(method) -> dict:
    return collate(method.make_template(48).encode(EXAMPLES), method.backbone_info.tokenizer.pad_token_id)


def trained(method, steps: int = 2):
    """`method` after `steps` AdamW steps at a large rate (every tensor moves off its init)."""
    batch = batch_for(method)
    params = [p for p in method.parameters() if p.requires_grad]
    config = TrainerConfig(lr=5e-2)
    optimizer = make_optimizer(params, config)
    method.train()
    for _ in range(steps):
        train_step(method, batch, optimizer, params, config)
    return method.eval(), optimizer


def test_forward_backward_reaches_the_prompt_and_the_mlp_only(tiny_bert):
    method = build(tiny_bert).train()
    out = method(batch_for(method))
    assert set(out.losses) == {"pred"}
    out.total().backward()
    assert method.prompt.grad is not None and method.prompt.grad.abs().sum() > 0
    mlp = method.reparam.mlps[0]
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in (mlp.down.weight, mlp.up.weight))
    assert all(p.grad is None for p in method.backbone.parameters())


def test_layer_norm_and_skip_math(tiny_bert):
    method = build(tiny_bert)
    mlp, p = method.reparam.mlps[0], method.prompt
    with torch.no_grad():
        mlp.norm.weight.uniform_(0.5, 1.5)  # not the identity affine, so the test sees it
        inner = F.linear(F.relu(F.linear(p, mlp.down.weight, mlp.down.bias)), mlp.up.weight, mlp.up.bias)
        expected = p + F.layer_norm(inner, (p.shape[1],), mlp.norm.weight, mlp.norm.bias, eps=1e-5)
        torch.testing.assert_close(method.prompt_values(), expected, rtol=0, atol=1e-6)
        plain = build(tiny_bert, residual_layer_norm=False)
        torch.testing.assert_close(plain.prompt_values(), p + inner, rtol=0, atol=1e-6)  # same seed: same MLP
        per_token = build(tiny_bert, residual_mlp="per_token")
        assert len(per_token.reparam.mlps) == 3
        rows = [m(p[i]) for i, m in enumerate(per_token.reparam.mlps)]
        assert torch.equal(per_token.prompt_values(), torch.stack(rows))


def test_starts_from_prompts_draw_and_leaves_the_run_rng_alone(tiny_bert):
    prompt = build_method("prompt", tiny_bert, get_task("sst2"), {"n_prompts": 3})
    torch.manual_seed(5)
    method = build(tiny_bert)
    after = torch.rand(1)
    torch.manual_seed(5)
    build_method("prompt", tiny_bert, get_task("sst2"), {"n_prompts": 3})
    assert torch.equal(torch.rand(1), after)  # building the MLP drew nothing from the run's stream
    assert torch.equal(method.prompt, prompt.prompt) and method.config.layout == "prefix"
    assert torch.equal(method.head.class_embeddings, prompt.head.class_embeddings)
    assert not torch.equal(method.prompt_values(), method.prompt)  # the reparameterisation changes the prompt


def test_dropout_acts_in_training_only_and_the_fold_uses_evaluation(tiny_bert):
    method = build(tiny_bert, residual_dropout=0.5).train()
    torch.manual_seed(0)
    assert not torch.equal(method.prompt_values(), method.prompt_values())
    folded = method.folded_prompt()
    assert method.reparam.training  # the fold restores the mode it found
    assert torch.equal(folded, method.eval().prompt_values())


def test_folded_checkpoint_holds_a_plain_prompt_and_predicts_exactly(tiny_bert, tmp_path):
    method, _ = trained(build(tiny_bert))
    batch = batch_for(method)
    expected = method(batch).logits
    save_checkpoint(tmp_path, method, {"template": {"max_length": 48, "layout": "prefix"}})
    saved = load_tensors(tmp_path)
    assert set(saved) == {"prompt", "head.class_embeddings", "head.bias"}
    assert torch.equal(saved["prompt"], method.prompt_values()) and not torch.equal(saved["prompt"], method.prompt)
    assert read_checkpoint_config(tmp_path)["method_config"]["folded"] is True
    assert not method.config.folded  # the live method keeps training un-folded
    loaded = load(tmp_path, tiny_bert)
    assert loaded.method.reparam is None and torch.equal(loaded.method.prompt, saved["prompt"])
    assert torch.equal(loaded.method(batch).logits, expected)
    assert loaded.predict_examples(EXAMPLES) == expected.argmax(-1).tolist()


def test_peft_export_holds_the_folded_prompt(tiny_bert, tmp_path):
    peft = pytest.importorskip("peft")
    from infoprompt.export.peft import export_peft

    method, _ = trained(build(tiny_bert))
    save_checkpoint(tmp_path / "run", method, {"template": {"max_length": 48, "layout": "prefix"}})
    out = export_peft(tmp_path / "run", tmp_path / "peft", backbone=tiny_bert)
    model = peft.PeftModel.from_pretrained(copy.deepcopy(tiny_bert.model).eval(), str(out)).eval()
    config = model.peft_config["default"]
    assert config.peft_type == peft.PeftType.PROMPT_TUNING and config.num_virtual_tokens == 3
    torch.testing.assert_close(model.prompt_encoder["default"].embedding.weight, method.prompt_values(),
                               rtol=0, atol=0)


def test_resume_state_keeps_the_unfolded_mlp_bit_for_bit(tiny_bert, tmp_path):
    method, optimizer = trained(build(tiny_bert))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    save_training_state(tmp_path, method, optimizer, scheduler, LoopPosition(), {"method": "residual"})
    fresh = build(tiny_bert)
    params = [p for p in fresh.parameters() if p.requires_grad]
    fresh_optimizer = make_optimizer(params, TrainerConfig(lr=5e-2))
    fresh_scheduler = torch.optim.lr_scheduler.LambdaLR(fresh_optimizer, lambda step: 1.0)
    load_training_state(tmp_path, fresh, fresh_optimizer, fresh_scheduler, {"method": "residual"})
    state, restored = method.trainable_state_dict(), fresh.trainable_state_dict()
    assert any(name.startswith("reparam.") for name in restored) and set(state) == set(restored)
    assert all(torch.equal(state[name], restored[name]) for name in state)


def test_bad_settings_are_one_line_errors():
    for options, message in (({"residual_bottleneck": 0}, "--residual-bottleneck must be >= 1"),
                             ({"residual_mlp": "tree"}, "--residual-mlp"),
                             ({"residual_dropout": 1.0}, "--residual-dropout must be")):
        with pytest.raises(ConfigError, match=message) as caught:
            TrainConfig(method="residual", method_options=options)
        assert "\n" not in str(caught.value)
