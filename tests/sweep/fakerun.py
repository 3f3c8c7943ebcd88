"""A cheap, deterministic stand-in for `infoprompt train`, for executor tests (in-process or in worker processes).

Its score depends only on the run's flags, so an interrupted-and-resumed sweep must produce the same
report as an uninterrupted one. Each call appends a line to RUN_DIR/starts.log (how many times a run
was started, and with which resume flag). Environment knobs for the process tests:
FAKE_SLEEP (seconds per run), FAKE_HANG (a substring of run names that sleep "forever").
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

METHOD_OFFSET = {"warp": 0.0, "idpg": 0.01, "infoprompt": 0.03, "prompt": -0.05}


def fake_score(args: dict) -> float:
    base = 0.6 + METHOD_OFFSET.get(str(args.get("method")), 0.0) + 0.02 * (int(args.get("n_prompts") or 4) == 4)
    return round(base + 0.01 * int(args.get("seed") or 0) + (0.05 if args.get("shots") is None else 0.0), 6)


def run(spec, run_dir: Path, resume: bool) -> dict:
    run_dir = Path(run_dir)
    with (run_dir / "starts.log").open("a") as fh:
        fh.write(json.dumps({"resume": resume, "pid": os.getpid()}) + "\n")
    if os.environ.get("FAKE_HANG") and os.environ["FAKE_HANG"] in run_dir.name:
        time.sleep(3600)
    time.sleep(float(os.environ.get("FAKE_SLEEP", "0")))
    args = spec.args
    best = fake_score(args)
    values = [best * f for f in (0.5, 0.8, 0.96, 1.0, 0.99)]
    with (run_dir / "metrics.jsonl").open("w") as fh:
        for i, value in enumerate(values, 1):
            fh.write(json.dumps({"type": "eval", "step": 10 * i, "epoch": i, "metrics": {"accuracy": value}}) + "\n")
    return {"task": args["task"], "method": args["method"], "seed": args["seed"], "shots": args["shots"],
            "n_prompts": args["n_prompts"], "dev": {"accuracy": best}, "best_step": 40, "steps": 50,
            # the selection protocol's fields, as `infoprompt train` writes them (training.selection)
            "select_on": "dev-split", "honest": True, "selected_step": 40, "last_step": 50,
            "reported": {"split": "dev (the other half, n=10)", "selected": {"accuracy": best},
                         "last": {"accuracy": values[-1]}, "collapsed": False, "predicted_share": 0.6,
                         "majority": {"class": "positive", "rate": 0.5, "metrics": {"accuracy": 0.5}}}}


# --- helpers for tests that run whole sweeps in separate processes ---------------------------------

HERE = Path(__file__).resolve().parent

SWEEP_YAML = """\
fixed:
  epochs: 2
grid:
  - method: [warp, infoprompt]
    task: [sst2, rte]
    seed: [0, 1]
  - method: [infoprompt]
    ablation: [no-head]
    task: [sst2]
    shots: [64]
    seed: [0, 1]
"""
N_RUNS = 10


def sweep_process(config: Path, runs: Path, *, workers: int = 2, sleep: float = 0.0, hang: str = ""):
    """`infoprompt sweep CONFIG` with this module as the run function, in its own process."""
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
           "FAKE_SLEEP": str(sleep), "FAKE_HANG": hang}
    command = [sys.executable, "-m", "infoprompt.sweep.cli", str(config), "--runs-dir", str(runs),
               "--workers", str(workers), "--runner", "fakerun:run"]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def report_texts(runs: Path, out: Path) -> dict[str, str]:
    """Every text file of the report on `runs`, by name."""
    from infoprompt.report import write_report

    write_report(runs, out, plots=False)
    return {p.name: p.read_text() for p in sorted(out.iterdir()) if p.suffix in (".md", ".csv")}
