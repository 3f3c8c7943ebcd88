"""What the three experiments share: the run grid, running one run at a time, results and labels."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from infoprompt.atomic_files import atomic_write_bytes, atomic_write_json
from infoprompt.errors import ConfigError

# The unified binary label set of the paper's appendix E: negative-like -> 0, positive-like -> 1.
UNIFIED = {"negative": 0, "positive": 1, "not_entailment": 0, "entailment": 1, "not_equivalent": 0, "equivalent": 1,
           "unacceptable": 0, "acceptable": 1}


@dataclass
class Setup:
    """Training settings every run of an experiment shares (the `infoprompt train` flags)."""

    tasks: list[str]
    backbone: str = "minilm"
    data_dir: str | None = None
    shots: int | None = 256
    epochs: int = 2
    seed: int = 0
    max_length: int = 128
    eval_batch_size: int = 64
    lr: float | None = None
    extra: dict = field(default_factory=dict)  # further train flags, e.g. {"apet_ops": "add,plug,concat"}
    packing: str = "auto"  # `infoprompt train --packing`; only named in a run's flags when not the default

    def flags(self, task: str, method: str, **more) -> dict:
        flags = {"task": task, "method": method, "backbone": self.backbone, "data_dir": self.data_dir,
                 "shots": self.shots, "epochs": self.epochs, "seed": self.seed, "max_length": self.max_length,
                 "eval_batch_size": self.eval_batch_size, "lr": self.lr,
                 # one evaluation, after the last epoch: dev sets cost more than few-shot training here
                 "eval_every": 10**9}
        if self.packing != "auto":  # default runs keep the identity (run folder) they had before packing existed
            flags["packing"] = self.packing
        return {**flags, **(self.extra if method == "apet" else {}), **more}


def run_one(flags: dict, runs_dir: Path) -> dict | None:
    """Train the run `flags` names unless it is finished; return its result (None if it failed)."""
    from infoprompt.sweep import RunSpec, run_sweep
    from infoprompt.sweep.rundir import find_run_dir, read_result
    from infoprompt.sweep.runners import train_cli

    spec = RunSpec(flags)
    outcome = run_sweep([spec], runs_dir, workers=1, run_fn=train_cli, progress=False)
    for failed in outcome.failed:
        print(f"apet: run failed: {failed.name}: {failed.message}", flush=True)
    result = read_result(find_run_dir(runs_dir, spec))
    if result is not None:
        result["run_dir"] = str(find_run_dir(runs_dir, spec))
    return result


def run_all(grid: list[dict], runs_dir: Path, on_progress: Callable[[list[dict | None]], None]) -> list[dict | None]:
    """Run the grid in order, one at a time; after each run call on_progress(results so far)."""
    results: list[dict | None] = [None] * len(grid)
    for i, flags in enumerate(grid):
        results[i] = run_one(flags, runs_dir)
        on_progress(results)
    return results


def accuracy(result: dict | None) -> float | None:
    """Dev accuracy in percent (the paper's unit), or None for a missing/failed run."""
    if not result or "accuracy" not in result.get("dev", {}):
        return None
    return 100.0 * float(result["dev"]["accuracy"])


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample std (0 for one value); NaN for none."""
    if not values:
        return math.nan, math.nan
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def label_levels(task: str, data_dir: str | None) -> dict:
    """Chance (100/C) and majority-class accuracy on the task's dev split, in percent."""
    from infoprompt.data.tasks import get_task, load_split, resolve_data_dir

    spec = get_task(task)
    labels = [e.label for e in load_split(spec, "dev", resolve_data_dir(data_dir))]
    majority = max(labels.count(c) for c in set(labels)) / len(labels)
    return {"chance": 100.0 / spec.num_labels, "majority": 100.0 * majority, "dev_size": len(labels)}


def unified_labels(task: str) -> list[int]:
    """The task's label indices mapped to the unified set (0 negative-like, 1 positive-like)."""
    from infoprompt.data.tasks import get_task

    names = get_task(task).label_names
    unknown = [n for n in names if n not in UNIFIED]
    if unknown:
        raise ConfigError(f"task '{task}': labels {unknown} have no place in the unified label set {sorted(UNIFIED)}")
    return [UNIFIED[n] for n in names]


def write_outputs(out_dir: Path, stem: str, record: dict, markdown: str, plot: Callable[[Path], None] | None) -> None:
    """<stem>.json, <stem>.md and (when there is something to draw) <stem>.png, each written atomically."""
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out_dir / f"{stem}.json", record)
    atomic_write_bytes(out_dir / f"{stem}.md", markdown.encode("utf-8"))
    if plot is not None:
        plot(out_dir / f"{stem}.png")


def compact(result: dict | None) -> dict | None:
    """The fields of a run summary worth committing (no paths, no per-unit lists)."""
    if result is None:
        return None
    keep = ("task", "method", "seed", "shots", "trainable_params", "apet_params", "apet_budget", "dev", "steps",
            "train_seconds", "lr")
    out = {k: result[k] for k in keep if k in result}
    if "apet_units" in result:
        units = result["apet_units"]
        out["placement"] = {"units": len(units), "ops": sorted({u["op"] for u in units}),
                            "partial_last": bool(units and units[-1]["size"] < units[-1]["capacity"]),
                            "sites": [f"{u['op']}:{u['site']}:{u['size']}" for u in units[:12]]}
    return out


def dumps(record: dict) -> str:
    return json.dumps(record, indent=1, sort_keys=True)
