"""bf16 autocast on CPU for every registered method: a few training steps on a tiny model are finite
and stay within noise of the same steps in fp32 (issue 19, item 6; the CUDA runs are in
docs/performance.md). The same seed gives the same batches, so the two runs differ only in precision."""

from __future__ import annotations

import json
import math

import pytest
import torch

from infoprompt.api import TrainConfig, train
from infoprompt.methods import list_methods
from infoprompt.testing import make_tiny_backbone

STEPS = 6  # 24 training rows, batch 8: two epochs of 3 steps


def _losses(tmp_path, task_files, bert_tokenizer, method: str, precision: str) -> list[float]:
    backbone = make_tiny_backbone("bert", bert_tokenizer, mlm=False)  # a fresh copy: full fine-tuning changes it
    cfg = TrainConfig(task="custom", method=method, train_file=str(task_files / "train.csv"),
                      dev_file=str(task_files / "dev.csv"), text_fields=["sentence"], epochs=2, batch_size=8,
                      progress=False, output=str(tmp_path / precision), precision=precision, seed=3)
    train(cfg, backbone=backbone)
    log = [json.loads(line) for line in (tmp_path / precision / "metrics.jsonl").read_text().splitlines()]
    return [r["total"] for r in log if r["type"] == "train"]


@pytest.mark.parametrize("method", list_methods())
def test_bf16_trains_finite_and_close_to_fp32(tmp_path, task_files, bert_tokenizer, method, one_torch_thread):
    fp32 = _losses(tmp_path, task_files, bert_tokenizer, method, "fp32")
    bf16 = _losses(tmp_path, task_files, bert_tokenizer, method, "bf16")
    assert len(fp32) == len(bf16) == STEPS
    assert all(math.isfinite(x) for x in bf16), bf16
    assert fp32 != bf16, "bf16 gave fp32's exact numbers: autocast did not run"
    # bf16 keeps 8 bits of mantissa (~0.4% per rounding). On this tiny model the two runs' losses differ
    # by at most 0.3% over these steps (InfoPrompt; the others ~0.02%); 2% (or 0.02 absolute, for losses
    # near 0) is noise, while a broken path (an overflow, a mask in the wrong dtype) is off by far more.
    for step, (a, b) in enumerate(zip(fp32, bf16), start=1):
        assert abs(a - b) <= max(0.02 * abs(a), 0.02), f"{method} step {step}: fp32 {a:.4f} vs bf16 {b:.4f}"


def test_find_nonfinite_still_runs(tiny_model_dir, shared_data, capsys):
    """benchmarks/find_nonfinite.py (the CUDA bf16 diagnosis tool) still runs, here on CPU in bf16."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "find_nonfinite.py"
    spec = importlib.util.spec_from_file_location("find_nonfinite", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    argv = ["--method", "prompt", "--device", "cpu", "--precision", "bf16", "--steps", "2",
            "--backbone", str(tiny_model_dir), "--data-dir", str(shared_data)]
    try:
        assert module.main(argv) == 0
    finally:
        torch.autograd.set_detect_anomaly(False)  # the script turns anomaly mode on for the whole process
    assert capsys.readouterr().out.count(": ok; non-finite parameters []") == 2
