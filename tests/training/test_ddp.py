"""Data-parallel training: shares of a batch, the weighted gradient sum, and a real 2-process CPU run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch

from infoprompt.cli import main
from infoprompt.testing import make_tiny_backbone
from infoprompt.training.checkpoint import TENSORS, load_file
from infoprompt.training.distributed import GradientSync, shard_rows


@pytest.mark.parametrize("rows,world", [(list(range(8)), 2), (list(range(7)), 2), (list(range(5)), 3), ([4], 2)])
def test_shards_cover_the_batch_once_with_weights_summing_to_one(rows, world):
    shares = [shard_rows(rows, rank, world) for rank in range(world)]
    real = [share for share, weight in shares if weight > 0]
    assert [i for share in real for i in share] == rows
    assert sum(weight for _, weight in shares) == pytest.approx(1.0)
    assert all(share for share, _ in shares)  # an empty share still runs one example (with weight 0)


@pytest.fixture
def single_rank_group(monkeypatch):
    """A one-process gloo group, so GradientSync.reduce runs its real collective here."""
    import torch.distributed as dist

    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", "29533")
    dist.init_process_group("gloo", rank=0, world_size=1)
    sync = GradientSync.__new__(GradientSync)
    sync.rank, sync.world, sync.device = 0, 1, torch.device("cpu")
    yield sync
    dist.destroy_process_group()


def test_reduce_weights_gradients_and_keeps_unused_parameters_gradient_free(single_rank_group):
    used, unused = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(2))
    used.grad = torch.tensor([2.0, 4.0, 6.0])
    losses = single_rank_group.reduce([used, unused], {"pred": torch.tensor(3.0)}, 0.5, None)
    assert torch.equal(used.grad, torch.tensor([1.0, 2.0, 3.0]))
    assert unused.grad is None
    assert losses["pred"].item() == 1.5


def test_reduce_raises_on_every_rank_when_a_loss_is_not_finite(single_rank_group):
    from infoprompt.training.steps import NonFiniteLoss

    p = torch.nn.Parameter(torch.ones(1))
    with pytest.raises(NonFiniteLoss):
        single_rank_group.reduce([p], {"pred": torch.tensor(float("nan"))}, 1.0, "pred")


@pytest.fixture(scope="module")
def tiny_run_inputs(tmp_path_factory, bert_tokenizer):
    folder = tmp_path_factory.mktemp("ddp")
    model_dir = folder / "tiny-bert"
    backbone = make_tiny_backbone("bert", bert_tokenizer, mlm=False)
    backbone.model.save_pretrained(model_dir)
    bert_tokenizer.save_pretrained(model_dir)
    words = [("a great movie", 1), ("a terrible film", 0), ("wonderful and fun", 1), ("boring and long", 0)]
    for name, n in (("train.csv", 16), ("dev.csv", 8)):
        rows = [f"{words[i % 4][0]} {i},{words[i % 4][1]}" for i in range(n)]
        (folder / name).write_text("sentence,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return folder, model_dir


def _argv(folder, model_dir, out) -> list[str]:
    return ["train", "--task", "custom", "--train-file", str(folder / "train.csv"), "--dev-file", str(folder / "dev.csv"),
            "--text-fields", "sentence", "--verbalizer", "0=bad,1=good", "--backbone", str(model_dir),
            "--method", "prompt", "--epochs", "2", "--batch-size", "8", "--lr", "0.01", "--seed", "1",
            "--output", str(out), "--quiet", "--json"]


@pytest.mark.skipif(shutil.which("accelerate") is None, reason="accelerate's launcher is not installed")
def test_two_cpu_processes_stay_in_sync_and_match_one_process(tmp_path, capsys, tiny_run_inputs):
    folder, model_dir = tiny_run_inputs
    assert main(_argv(folder, model_dir, tmp_path / "one")) == 0
    single = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    cmd = ["accelerate", "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29534",
           "-m", "infoprompt.cli", *_argv(folder, model_dir, tmp_path / "two")]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": "",
           "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    # Each rank ends with GradientSync.check_in_sync (bit-identical trainable tensors across ranks), so a
    # clean exit means the ranks stayed in sync; both print the same summary.
    assert done.returncode == 0, done.stderr[-2000:]
    summaries = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(summaries) == 1  # issue 26: --json prints exactly one line, rank 0's
    assert summaries[0]["steps"] == single["steps"] == 4
    assert summaries[0]["dev"] == single["dev"] and summaries[0]["best_step"] == single["best_step"]
    logged = [json.loads(line) for line in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()]
    assert sum(r["type"] == "train" for r in logged) == 4  # rank 0 alone writes the log
    ours, reference = load_file(str(tmp_path / "two" / TENSORS)), load_file(str(tmp_path / "one" / TENSORS))
    assert ours.keys() == reference.keys()
    for name in ours:  # the same update as one process on the whole batch, up to float summation order
        torch.testing.assert_close(ours[name], reference[name], rtol=1e-5, atol=1e-6)


def test_a_launch_asking_for_two_processes_that_started_one_is_refused():
    from infoprompt.errors import ConfigError
    from infoprompt.training.launch import check_launch, requested_processes

    argv = ["/usr/bin/python3", "/usr/local/bin/accelerate", "launch", "--cpu", "--num_processes", "2", "-m",
            "infoprompt.cli", "train"]
    assert requested_processes(argv) == 2
    assert requested_processes(["/usr/local/bin/accelerate", "launch", "--num_processes=3"]) == 3
    assert requested_processes(["python", "-m", "pytest"]) is None
    with pytest.raises(ConfigError, match="asked for 2 processes but started only this one"):
        check_launch(argv)
    check_launch(["/usr/local/bin/accelerate", "launch", "--num_processes", "1"])  # one asked, one started


@pytest.mark.skipif(shutil.which("accelerate") is None, reason="accelerate's launcher is not installed")
def test_accelerate_cpu_launch_of_two_processes_exits_2_with_one_line(tmp_path, tiny_run_inputs):
    folder, model_dir = tiny_run_inputs
    cmd = ["accelerate", "launch", "--cpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
           "--dynamo_backend", "no", "-m", "infoprompt.cli", *_argv(folder, model_dir, tmp_path / "run")]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode != 0 and not done.stdout.strip()
    errors = [line for line in done.stderr.splitlines() if line.startswith("infoprompt: error:")]
    assert len(errors) == 1 and "asked for 2 processes but started only this one" in errors[0]
