"""Hand-made finished run directories (run.json, result.json, config.json, metrics.jsonl) for report tests."""

from __future__ import annotations

import json
from pathlib import Path

from infoprompt.sweep.grid import RunSpec
from infoprompt.sweep.rundir import prepare_run_dir


def make_run(runs: Path, flags: dict, dev: dict, *, test: dict | None = None, curve: list[float] | None = None,
             steps: list[int] | None = None, primary: str | None = None) -> Path:
    spec = RunSpec(flags)
    run_dir = runs / spec.name
    prepare_run_dir(run_dir, spec)
    summary = {"task": spec.args["task"], "method": spec.args["method"], "seed": spec.args["seed"],
               "shots": spec.args["shots"], "n_prompts": spec.args["n_prompts"], "dev": dev, "spec_hash": spec.hash}
    if test is not None:
        summary["test"] = test
    (run_dir / "result.json").write_text(json.dumps(summary))
    if primary:  # what `infoprompt train` records in the checkpoint
        (run_dir / "config.json").write_text(json.dumps({"task": {"primary_metric": primary}}))
    if curve is not None:
        metric = primary or next(iter(dev))
        steps = steps or [10 * (i + 1) for i in range(len(curve))]
        lines = [{"type": "train", "step": 1, "total": 0.5}]
        lines += [{"type": "eval", "step": s, "epoch": i + 1, "metrics": {metric: v}}
                  for i, (s, v) in enumerate(zip(steps, curve))]
        (run_dir / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return run_dir
