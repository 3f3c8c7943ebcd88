"""Hand-made finished run directories (run.json, result.json, config.json, metrics.jsonl) for report tests."""

from __future__ import annotations

import json
from pathlib import Path

from infoprompt.sweep.rundir import prepare_run_dir
from infoprompt.sweep.spec import RunSpec


def make_run(runs: Path, flags: dict, dev: dict, *, test: dict | None = None, curve: list[float] | None = None,
             steps: list[int] | None = None, primary: str | None = None, legacy: bool = False,
             last: dict | None = None, majority: dict | None = None, collapsed: bool = False,
             select_on: str = "dev-split") -> Path:
    """A finished run. By default its summary is the kind `infoprompt train` writes since issue 17: the reported
    split's selected score is `test` when given, else `dev`; `last` defaults to the selected score; `majority`
    (the majority-class baseline) defaults to 0.5 on every metric. `legacy=True`: a summary from before (best dev
    and test only)."""
    spec = RunSpec(flags)
    run_dir = runs / spec.name
    prepare_run_dir(run_dir, spec)
    summary = {"task": spec.args["task"], "method": spec.args["method"], "seed": spec.args["seed"],
               "shots": spec.args["shots"], "n_prompts": spec.args["n_prompts"], "dev": dev, "spec_hash": spec.hash}
    if test is not None:
        summary["test"] = test
    if not legacy:
        selected = test if test is not None else dev
        summary.update({
            "select_on": select_on, "honest": select_on != "dev",
            "reported": {"split": "test" if test is not None else "dev (the other half, n=100)", "selected": selected,
                         "last": last or selected, "collapsed": collapsed, "predicted_share": 0.97 if collapsed else 0.6,
                         "majority": {"class": "x", "rate": 0.5,
                                      "metrics": majority or {k: 0.5 for k in selected}}},
            "dev_majority": majority or {k: 0.5 for k in dev},
        })
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
