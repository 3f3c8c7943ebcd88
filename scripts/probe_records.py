"""The frozen probe as run records beside a sweep's runs, on exactly the runs' draws and splits (issue 23).

Usage: python scripts/probe_records.py SWEEP_FILE DEST [--data-dir DATA]

For every run of SWEEP_FILE whose method is `prompt` (one per task, draw and protocol), the same data the run
trains, selects and reports on is assembled by the run's own code (run.read_splits, run.reported_split), and the
frozen probe (infoprompt.analysis.probe: mean-pooled frozen features, logistic regression, C chosen on the
run's selection split) is scored on the run's reported split. Each probe writes DEST/<run name>-probe/ with a
run.json (the run's flags, method `probe`) and a result.json in the run summary's layout (`reported` with the
selected score, the majority baseline and the collapse flag), so `scripts/beyond_study.py` and
`infoprompt report` read it as one more condition. Rerunning writes the same bytes; finished probes are kept.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from infoprompt.analysis.probe import embed, fit_probe
from infoprompt.atomic_files import atomic_write_bytes
from infoprompt.environment import package_versions
from infoprompt.errors import InfoPromptError
from infoprompt.rundir import RESULT, SPEC

BASE = "prompt"  # the sweep's runs whose data the probe reuses


class Features:
    """Frozen features per distinct input, computed once for every probe of the process."""

    def __init__(self, backbone: str):
        from transformers import AutoModel, AutoTokenizer

        from infoprompt.backbones import ALIASES

        path = ALIASES[backbone]() if backbone in ALIASES else backbone
        self.tokenizer, self.model = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()
        self.cache: dict[tuple, np.ndarray] = {}

    def __call__(self, examples) -> np.ndarray:
        keys = [(e.text_a, e.text_b) for e in examples]
        missing = list(dict.fromkeys(k for k in keys if k not in self.cache))
        if missing:
            for key, row in zip(missing, embed(missing, self.tokenizer, self.model)):
                self.cache[key] = row
        return np.stack([self.cache[k] for k in keys])


def splits_of(cfg) -> tuple[list, list, list, str]:
    """(train, selection, report examples, the report split's name) as the run with config `cfg` has them."""
    from infoprompt.data.readers import BadRowPolicy
    from infoprompt.data.tasks import resolve_data_dir
    from infoprompt.run import load_examples, read_splits, reported_split, resolve_task
    from infoprompt.training.selection import split_dev

    policy = BadRowPolicy()
    task = resolve_task(cfg, policy)
    data_dir = resolve_data_dir(cfg.data_dir)
    data = read_splits(task, ("train", "dev"), data_dir, policy, cfg)
    if cfg.select_on == "dev-split":
        halves = split_dev([e.label for e in data["dev"]], cfg.seed)
        return (data["train"], [data["dev"][i] for i in halves.selection], [data["dev"][i] for i in halves.report],
                f"dev (the other half, n={len(halves.report)})")
    if cfg.select_on not in ("test", "few-shot"):
        raise InfoPromptError(f"--select-on {cfg.select_on}: the probe needs a selection split apart from the report")
    name = reported_split(cfg, task)
    report = load_examples(cfg, task, name, data_dir, policy)
    return data["train"], data["dev"], report, f"{name} (n={len(report)})"


def probe_summary(spec, features: Features) -> dict:
    from infoprompt.config import TrainConfig

    cfg = TrainConfig(**spec.flags)
    train, select, report, split = splits_of(cfg)
    y = lambda rows: np.array([e.label for e in rows])  # noqa: E731
    cell = fit_probe(features(train), y(train), features(select), y(select), features(report), y(report))
    score = {"accuracy": cell["report_accuracy"]}
    return {
        "task": cfg.task, "method": "probe", "backbone": cfg.backbone, "seed": cfg.seed, "shots": cfg.shots,
        "n_prompts": cfg.n_prompts, "select_on": cfg.select_on, "honest": True, "environment": package_versions(),
        "probe": {"C": cell["C"], "selection_accuracy": cell["selection_accuracy"], "train_rows": len(train),
                  "selection_rows": len(select)},
        "reported": {"split": split, "selected": score, "last": score, "collapsed": cell["collapsed"],
                     "predicted_share": cell["predicted_share"],
                     "majority": {"class": cell["majority_class"], "rate": cell["majority_rate"],
                                  "metrics": {"accuracy": cell["majority_rate"]}}},
    }


def write_probes(sweep_file: Path, dest: Path) -> int:
    from infoprompt.sweep.config import load_sweep
    from infoprompt.sweep.grid import expand

    specs = [s for s in expand(load_sweep(sweep_file)) if s.args["method"] == BASE]
    if not specs:
        raise InfoPromptError(f"{sweep_file}: no run of method '{BASE}' to take the data from")
    features = None
    written = 0
    for spec in specs:
        target = dest / f"{spec.name}-probe"
        if (target / RESULT).is_file():
            continue
        features = features or Features(spec.args["backbone"])
        summary = probe_summary(spec, features)
        record = {"args": {**spec.args, "method": "probe"}, "flags": {**spec.flags, "method": "probe"},
                  "name": target.name, "format": 1}
        target.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(target / SPEC, (json.dumps(record, indent=2, sort_keys=True) + "\n").encode())
        atomic_write_bytes(target / RESULT, (json.dumps(summary, indent=2, sort_keys=True) + "\n").encode())
        print(f"{target.name}: {summary['reported']['selected']['accuracy']:.4f} on {summary['reported']['split']} "
              f"(C={summary['probe']['C']})", file=sys.stderr)
        written += 1
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep", type=Path)
    parser.add_argument("dest", type=Path)
    parser.add_argument("--data-dir", help="the data folder (default: $INFOPROMPT_DATA)")
    args = parser.parse_args(argv)
    if args.data_dir:
        import os

        os.environ["INFOPROMPT_DATA"] = args.data_dir
    try:
        written = write_probes(args.sweep, args.dest)
    except InfoPromptError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{written} probes written", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
