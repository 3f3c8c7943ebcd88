"""End to end: a few-shot SST-2 run of `infoprompt train` against benchmarks/peft_trainer_sst2.py.

Both are separate processes timed from outside (start-up, tokenisation, training, every dev
evaluation, checkpoint writes), with the same backbone, examples (the same seeded draw), dev set,
epochs, batch size, learning rate and maximum length.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from infoprompt.errors import ConfigError

PEFT_SCRIPT = "peft_trainer_sst2.py"


@dataclass
class EndToEnd:
    backbone: str
    data_dir: str
    shots: int = 256
    epochs: int = 10
    batch_size: int = 8
    lr: float = 1e-3
    max_length: int = 128
    seed: int = 0
    device: str = "cpu"
    precision: str = "fp32"
    dev_limit: int | None = None  # quick runs: score the first N dev examples (both sides read the same file)
    timeout: int = 3600


def find_peft_script(explicit: str | None = None) -> Path:
    """benchmarks/peft_trainer_sst2.py of the source checkout (the package is installed editable)."""
    candidates = [Path(explicit)] if explicit else [
        Path(__file__).resolve().parents[3] / "benchmarks" / PEFT_SCRIPT, Path.cwd() / "benchmarks" / PEFT_SCRIPT,
    ]
    for path in candidates:
        if path.is_file():
            return path
    raise ConfigError(f"--peft-script: cannot find {PEFT_SCRIPT} (looked in {', '.join(map(str, candidates))})")


def limited_data_dir(data_dir: str, dev_limit: int | None, scratch: Path) -> str:
    """A data folder whose SST-2 dev file holds only the first `dev_limit` rows (train is linked, unchanged,
    so the few-shot draw is the same as from the full folder)."""
    if not dev_limit:
        return data_dir
    from infoprompt.data.glue import _task_dir

    source = _task_dir(Path(data_dir), "sst2")
    target = scratch / "data" / "glue" / "sst2"
    target.mkdir(parents=True, exist_ok=True)
    (target / "train.tsv").symlink_to((source / "train.tsv").resolve())
    lines = (source / "dev.tsv").read_text(encoding="utf-8").splitlines()
    (target / "dev.tsv").write_text("\n".join(lines[: dev_limit + 1]) + "\n", encoding="utf-8")
    return str(scratch / "data")


def _run(cmd: list[str], timeout: int) -> tuple[float, dict | None, str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false"}
    start = time.perf_counter()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return time.perf_counter() - start, None, f"timed out after {timeout}s"
    wall = time.perf_counter() - start
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return wall, None, f"exit {done.returncode}: {tail}"
    return wall, json.loads(lines[-1]), ""


def run_ours(cfg: EndToEnd, method: str, data_dir: str, out_dir: Path) -> dict:
    """`method` may carry extra train flags after the name, e.g. "prompt --bucket-batches 16"."""
    name, *extra = method.split()
    cmd = [sys.executable, "-m", "infoprompt.cli", "train", "--task", "sst2", "--method", name, *extra,
           "--backbone", cfg.backbone, "--data-dir", data_dir, "--shots", str(cfg.shots), "--seed", str(cfg.seed),
           "--epochs", str(cfg.epochs), "--batch-size", str(cfg.batch_size), "--lr", str(cfg.lr),
           "--max-length", str(cfg.max_length), "--device", cfg.device, "--precision", cfg.precision,
           "--output", str(out_dir), "--json", "--quiet",
           "--patience", "0"]  # every epoch, as the peft + Trainer side runs: the timing compares equal work
    wall, summary, error = _run(cmd, cfg.timeout)
    record = {"side": "infoprompt", "method": method, "wall_s": wall, "command": _shown(cmd)}
    if error:
        return {**record, "error": error}
    return {**record, "accuracy": summary["dev"]["accuracy"], "steps": summary["steps"]}


def run_peft(cfg: EndToEnd, script: Path, data_dir: str, out_dir: Path, kind: str = "prompt") -> dict:
    cmd = [sys.executable, str(script), "--peft", kind, "--backbone", cfg.backbone, "--data-dir", data_dir,
           "--shots", str(cfg.shots), "--seed", str(cfg.seed), "--epochs", str(cfg.epochs),
           "--batch-size", str(cfg.batch_size), "--lr", str(cfg.lr), "--max-length", str(cfg.max_length),
           "--device", cfg.device, "--output", str(out_dir)] + (["--bf16"] if cfg.precision == "bf16" else [])
    wall, summary, error = _run(cmd, cfg.timeout)
    record = {"side": "peft+Trainer", "method": f"peft-{kind}", "wall_s": wall, "command": _shown(cmd)}
    if error:
        return {**record, "error": error}
    return {**record, "accuracy": summary["accuracy"], "steps": summary["steps"]}


def _shown(cmd: list[str]) -> str:
    """The command as a person would type it (python -m ... rather than the interpreter's full path)."""
    return " ".join(["python" if i == 0 else part for i, part in enumerate(cmd)])


def run_end_to_end(cfg: EndToEnd, methods: list[str], peft_script: Path, log=print,
                   peft_kinds: tuple[str, ...] = ("prompt",)) -> list[dict]:
    """Our CLI for each of `methods`, then the peft + Trainer script for each of `peft_kinds`; one record per run."""
    records = []
    with tempfile.TemporaryDirectory(prefix="infoprompt-bench-") as scratch:
        data_dir = limited_data_dir(cfg.data_dir, cfg.dev_limit, Path(scratch))
        for method in methods:
            log(f"end to end: infoprompt train --method {method} ...")
            records.append(run_ours(cfg, method, data_dir, Path(scratch) / f"ours-{len(records)}"))
        for kind in peft_kinds:
            log(f"end to end: peft + Trainer ({kind}) ...")
            records.append(run_peft(cfg, peft_script, data_dir, Path(scratch) / f"peft-{kind}", kind))
    return records
