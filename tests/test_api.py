"""The API inside a user's own training loop (no infoprompt trainer involved)."""

import torch

from infoprompt.data.example import Example
from infoprompt.data.tasks import get_task
from infoprompt.methods import build_method
from infoprompt.prompting import Template, collate


def test_method_works_in_a_plain_pytorch_loop(tiny_bert):
    task = get_task("sst2")
    method = build_method("infoprompt", tiny_bert, task, {"n_prompts": 2})
    template = Template(tiny_bert.tokenizer, 2)
    batch = collate(template.encode([Example("good", label=1), Example("bad", label=0)]), tiny_bert.tokenizer.pad_token_id)
    optimizer = torch.optim.AdamW([p for p in method.parameters() if p.requires_grad], lr=1e-2)
    before = method.generator.bias.detach().clone()
    frozen = next(method.backbone.parameters()).detach().clone()
    method.train()
    for _ in range(3):
        out = method(batch)
        loss = sum(out.weights[k] * v for k, v in out.losses.items())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert not torch.equal(before, method.generator.bias)
    assert torch.equal(frozen, next(method.backbone.parameters()))
