"""SmolLM2-135M-Instruct (GGUF, `--backbone smollm2`) on real SST-2 rows. Opt-in: `pytest -m slow tests/generative`."""

import pytest
import torch

from infoprompt.backbones import load_backbone
from infoprompt.data.tasks import get_task, load_split
from infoprompt.methods import build_method
from infoprompt.prompting.template import collate
from infoprompt.training.config import TrainerConfig
from infoprompt.training.optim import make_optimizer
from infoprompt.training.steps import train_step

pytestmark = pytest.mark.slow


def test_smollm2_prompt_tuning_steps_on_sst2(shared_data):
    pytest.importorskip("gguf")
    backbone = load_backbone("smollm2")
    assert backbone.kind == "causal" and backbone.hidden_size == 576
    task = get_task("sst2")
    examples = load_split(task, "train", shared_data)[:8]
    method = build_method("prompt", backbone, task, {"n_prompts": 8, "predict": "label"})
    features = method.make_template(96).encode(examples)
    batch = collate(features, backbone.tokenizer.pad_token_id)
    params = [p for p in method.parameters() if p.requires_grad]
    config = TrainerConfig(lr=0.01)
    optimizer = make_optimizer(params, config)
    start = method.prompt.detach().clone()
    with torch.no_grad():
        first = method(batch)
    assert first.logits.shape == (8, 2)
    for _ in range(4):
        train_step(method, batch, optimizer, params, config)
    with torch.no_grad():
        assert method(batch).total().item() < first.total().item()
    assert not torch.equal(method.prompt, start)
