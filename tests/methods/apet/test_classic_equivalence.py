"""Classic methods as APET configurations behave like their standalone implementations on the same backbone.

Each check fails if the preset's positions, sizes or weight layout were wrong: same parameter count,
the same function once identical weights are loaded (LoRA vs peft, Adapter vs ours), and the same
gradients and the same logits after one identical optimiser step (BitFit, prompt tuning).
"""

from __future__ import annotations

import torch
from apet_helpers import batch_for

from infoprompt.data.tasks import get_task
from infoprompt.delta import OutputDelta
from infoprompt.delta.partial import FlatBottleneck, LowRankAdd
from infoprompt.methods import build_method


def inserted(method) -> int:
    return sum(p.numel() for n, p in method.named_parameters() if p.requires_grad and not n.startswith("head."))


def one_step(method, batch) -> torch.Tensor:
    params = [p for p in method.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-2)
    method.train()
    method(batch).total().backward()
    optimizer.step()
    method.eval()
    with torch.no_grad():
        return method(batch).logits


def test_apet_bitfit_is_bitfit(tiny_bert):
    task = get_task("rte")
    bitfit = build_method("bitfit", tiny_bert, task)
    apet = build_method("apet", tiny_bert, task, {"apet_preset": "bitfit"})
    assert inserted(apet) == inserted(bitfit) == 608
    batch = batch_for(bitfit)
    bitfit.eval(), apet.eval()
    with torch.no_grad():
        assert torch.equal(bitfit(batch).logits, apet(batch).logits)
    bitfit(batch).total().backward()
    apet(batch).total().backward()
    grads = {n: p.grad for n, p in bitfit.named_parameters() if p.requires_grad and not n.startswith("head.")}
    for name, grad in grads.items():
        module, _, param = name.rpartition(".")
        delta = apet.get_parameter(f"{module}.parametrizations.{param}.0.delta.theta")
        assert torch.allclose(delta.grad, grad, atol=1e-6), name
    for m in (bitfit, apet):
        m.zero_grad()
    assert torch.allclose(one_step(bitfit, batch), one_step(apet, batch), atol=1e-5)


def test_apet_prompt_is_prompt_tuning(tiny_bert):
    task = get_task("sst2")
    prompt = build_method("prompt", tiny_bert, task, {"n_prompts": 3})
    apet = build_method("apet", tiny_bert, task, {"apet_preset": "prompt", "n_prompts": 3, "layout": "prefix"})
    assert inserted(apet) == inserted(prompt) == 3 * 32
    batch = batch_for(prompt)
    assert torch.equal(batch["prompt_index"], batch_for(apet)["prompt_index"])
    prompt.eval(), apet.eval()
    with torch.no_grad():
        assert torch.equal(prompt(batch).logits, apet(batch).logits)
    assert torch.allclose(one_step(prompt, batch), one_step(apet, batch), atol=1e-5)


def test_apet_lora_is_peft_lora(tiny_bert):
    task = get_task("sst2")
    lora = build_method("lora", tiny_bert, task, {"lora_r": 4, "lora_alpha": 4})
    apet = build_method("apet", tiny_bert, task, {"apet_preset": "lora", "apet_rank": 4})
    assert inserted(apet) == inserted(lora) == 2 * 2 * 4 * (32 + 32)
    torch.manual_seed(1)
    loaded = 0
    for name, module in apet.backbone.named_modules():
        if isinstance(module, LowRankAdd):
            peft_layer = lora.backbone.get_submodule(name)
            a, b = torch.randn(4, 32), torch.randn(32, 4)  # B nonzero: the update is really exercised
            with torch.no_grad():
                peft_layer.lora_A["default"].weight.copy_(a)
                peft_layer.lora_B["default"].weight.copy_(b)
            module.load_lora(a, b)
            loaded += 1
    assert loaded == 4
    batch = batch_for(lora)
    lora.eval(), apet.eval()
    with torch.no_grad():
        reference = build_method("lora", tiny_bert, task, {"lora_r": 4, "lora_alpha": 4}).eval()(batch).logits
        assert torch.allclose(lora(batch).logits, apet(batch).logits, atol=1e-5)
        assert not torch.allclose(lora(batch).logits, reference, atol=1e-3)


def test_apet_adapter_is_the_adapter(tiny_bert):
    task = get_task("rte")
    adapter = build_method("adapter", tiny_bert, task, {"adapter_size": 8})
    apet = build_method("apet", tiny_bert, task, {"apet_preset": "adapter", "apet_bottleneck": 8})
    assert inserted(apet) == inserted(adapter) == 2 * (2 * (2 * 32 * 8 + 8 + 32) + 2 * 2 * 32)
    torch.manual_seed(2)
    with torch.no_grad():
        for name, p in adapter.named_parameters():
            if p.requires_grad and not name.startswith("head."):
                p.add_(torch.randn_like(p) * 0.2)
    for name, module in adapter.backbone.named_modules():
        if isinstance(module, OutputDelta):
            target = apet.backbone.get_submodule(name)
            assert isinstance(target.delta, FlatBottleneck)
            target.delta.params.load_full(FlatBottleneck.from_bottleneck(module.delta).params.full())
    with torch.no_grad():
        for name, p in adapter.backbone.named_parameters():
            if p.requires_grad and "LayerNorm" in name:
                module, _, param = name.rpartition(".")
                original = apet.backbone.get_submodule(module).parametrizations[param].original
                apet.backbone.get_submodule(module).parametrizations[param][0].delta.theta.copy_(p - original)
    batch = batch_for(adapter)
    adapter.eval(), apet.eval()
    with torch.no_grad():
        fresh = build_method("adapter", tiny_bert, task, {"adapter_size": 8}).eval()(batch).logits
        assert torch.allclose(adapter(batch).logits, apet(batch).logits, atol=1e-5)
        assert not torch.allclose(adapter(batch).logits, fresh, atol=1e-3)
