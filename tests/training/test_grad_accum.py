"""`--grad-accum N` (N forwards per optimizer step) and `--max-steps N` (exactly N optimizer steps) in our loop."""

from __future__ import annotations

import json

import pytest
import torch

from infoprompt.api import TrainConfig, train
from infoprompt.data.example import Example
from infoprompt.data.tasks import get_task
from infoprompt.errors import ConfigError
from infoprompt.methods import build_method
from infoprompt.testing import CORPUS
from infoprompt.training.config import TrainerConfig
from infoprompt.training.loop import fit
from infoprompt.training.steps import micro_batches


def _fit(tmp_path, backbone, name: str, **trainer):
    torch.manual_seed(0)
    method = build_method("prompt", backbone, get_task("sst2"), {"n_prompts": 2})
    template = method.make_template(32)
    examples = [Example(text, label=i % 2) for i, text in enumerate(CORPUS + CORPUS[:5])]  # 16 rows
    features = template.encode(examples)
    config = TrainerConfig(**{"epochs": 2, "lr": 0.05, "progress": False, "device": "cpu", "patience": 0,
                              "seed": 3, **trainer})
    result = fit(method, features, features[:6], metrics=["accuracy"], primary_metric="accuracy", config=config,
                 run_dir=tmp_path / name)
    return method, result


def test_grad_accum_2_of_batch_4_is_batch_8(tmp_path, tiny_bert):
    one, plain = _fit(tmp_path, tiny_bert, "b8", batch_size=8)
    two, accum = _fit(tmp_path, tiny_bert, "b4x2", batch_size=4, grad_accum=2)
    assert plain.steps == accum.steps == 4  # 16 rows / 8 per optimizer step x 2 epochs
    for name, value in one.trainable_state_dict().items():
        assert torch.allclose(value, two.trainable_state_dict()[name], atol=1e-5), name
    three, single = _fit(tmp_path, tiny_bert, "b4", batch_size=4)  # the control: batch 4 alone differs
    assert single.steps == 8
    assert not torch.allclose(one.trainable_state_dict()["prompt"], three.trainable_state_dict()["prompt"], atol=1e-5)
    log = [json.loads(line) for line in (tmp_path / "b4x2" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if r["type"] == "train"] == [1, 2, 3, 4]


@pytest.mark.parametrize("max_steps, epochs", [(3, 2), (6, 1)])
def test_max_steps_stops_exactly(tmp_path, tiny_bert, max_steps, epochs):
    _, result = _fit(tmp_path, tiny_bert, "run", batch_size=4, epochs=epochs, max_steps=max_steps)
    assert result.steps == max_steps  # 4 steps per pass: 3 stops inside the first, 6 runs past --epochs 1
    log = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if r["type"] == "train"] == list(range(1, max_steps + 1))
    assert [r for r in log if r["type"] == "eval"][-1]["step"] == max_steps  # the last step is evaluated
    closing = next(r for r in log if r["type"] == "selection")
    assert closing["last_step"] == max_steps and closing["stopped_early"] is False  # --max-steps is the plan


def test_micro_batches_shares_sum_to_one():
    parts = micro_batches(list(range(10)), 4)
    assert [len(rows) for rows, _ in parts] == [4, 4, 2]
    assert sum(share for _, share in parts) == pytest.approx(1.0)


def test_flags_are_checked_and_recorded(tmp_path, tiny_bert):
    with pytest.raises(ConfigError, match="--grad-accum"):
        TrainerConfig(grad_accum=0)
    with pytest.raises(ConfigError, match="--max-steps"):
        TrainConfig(max_steps=0)
    rows = [{"sentence": text, "label": i % 2} for i, text in enumerate(CORPUS)]
    cfg = TrainConfig(task="custom", method="prompt", train_data=rows, dev_data=rows[:4], text_fields=["sentence"],
                      batch_size=2, grad_accum=2, max_steps=2, lr=0.05, output=str(tmp_path / "api"),
                      progress=False, device="cpu", max_length=32, patience=0)
    result = train(cfg, backbone=tiny_bert)
    assert result.summary["steps"] == 2
    record = json.loads((tmp_path / "api" / "config.json").read_text())
    assert record["train_config"]["grad_accum"] == 2 and record["train_config"]["max_steps"] == 2
