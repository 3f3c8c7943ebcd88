"""The CMI-ordering claim of issue 17 over training seeds: per seed, `infoprompt analyze cmi` on that seed's
WARP, InfoPrompt and InfoPrompt-without-MI checkpoints plus random and handcrafted prompts, then the per-source
mean CMI over seeds and the paired differences that the paper's ordering implies.

Usage: python scripts/cmi_study.py RUNS_DIR --data-dir DATA --out OUT     (measure, then tabulate)
       python scripts/cmi_study.py --from OUT                              (tabulate the committed cmi.json files)

RUNS_DIR holds the finished runs of configs/sweeps/cmi_minilm.yaml. Every seed's analysis uses the same 24
dev inputs, prompt draws and noise (the analysis's own --seed 0), so seeds differ only in the trained prompts.
A source's number for one seed is its mean per-input CMI estimate (nats); OUT/seedN/ keeps cmi.json, cmi.csv and
cmi.png, and OUT/summary.json + summary.md the table. Differences are paired by training seed (mean ± sample
std, 95 % t interval, n); the paper's claim is that InfoPrompt's prompts have the highest CMI.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from infoprompt.atomic_files import atomic_write_bytes, atomic_write_json
from infoprompt.errors import DataError, InfoPromptError

LABELS = {("warp", "none"): "WARP", ("infoprompt", "none"): "InfoPrompt", ("infoprompt", "no-mi"): "InfoPrompt no-MI"}
PAIRS = [("InfoPrompt", "WARP"), ("InfoPrompt", "InfoPrompt no-MI"), ("InfoPrompt", "random"), ("WARP", "random")]


def checkpoints_by_seed(runs_dir: Path) -> dict[int, dict[str, Path]]:
    """{seed: {label: run dir}} over the finished runs (result.json present)."""
    found: dict[int, dict[str, Path]] = {}
    for run in sorted(p for p in runs_dir.iterdir() if (p / "result.json").is_file()):
        args = json.loads((run / "run.json").read_text(encoding="utf-8"))["args"]
        label = LABELS.get((args["method"], args.get("ablation") or "none"))
        if label is not None:
            found.setdefault(int(args["seed"]), {})[label] = run
    return found


def measure(runs_dir: Path, data_dir: str, out: Path) -> None:
    from infoprompt.cli import main as cli

    for seed, runs in sorted(checkpoints_by_seed(runs_dir).items()):
        if len(runs) < len(LABELS):
            print(f"seed {seed}: only {sorted(runs)} finished; skipped", file=sys.stderr)
            continue
        if (out / f"seed{seed}" / "cmi.json").is_file():
            continue  # resumable: a seed already measured is kept
        argv = ["analyze", "cmi", "--data-dir", data_dir, "--out", str(out / f"seed{seed}"), "--threads", "1", "--quiet"]
        for label in LABELS.values():
            argv += ["--checkpoint", f"{label}={runs[label]}"]
        if cli(argv) != 0:
            raise DataError(f"seed {seed}: infoprompt analyze cmi failed")


def tabulate(out: Path) -> dict:
    from infoprompt.report.compare import t_interval

    per_seed = {}
    for path in sorted(out.glob("seed*/cmi.json")):
        summary = json.loads(path.read_text(encoding="utf-8"))["summary"]
        per_seed[int(path.parent.name[4:])] = {source: row["mean"] for source, row in summary.items()}
    if not per_seed:
        raise DataError(f"{out}: no seed*/cmi.json")
    sources = list(next(iter(per_seed.values())))
    table = {}
    for source in sources:
        values = [per_seed[s][source] for s in sorted(per_seed)]
        table[source] = {"mean": statistics.fmean(values), "n": len(values),
                         "std": statistics.stdev(values) if len(values) > 1 else None}
    pairs = {}
    for a, b in PAIRS:
        if a in sources and b in sources:
            diffs = [per_seed[s][a] - per_seed[s][b] for s in sorted(per_seed)]
            pairs[f"{a} - {b}"] = {"mean": statistics.fmean(diffs), "n": len(diffs), "ci95": t_interval(diffs),
                                   "std": statistics.stdev(diffs) if len(diffs) > 1 else None}
    return {"units": "nats (mean per-input CMI estimate)", "seeds": sorted(per_seed), "per_seed": per_seed,
            "sources": table, "paired": pairs,
            "ranking": sorted(sources, key=lambda s: -table[s]["mean"])}


def markdown(result: dict) -> str:
    lines = [f"CMI I(P; Z | X) per source, mean over training seeds {result['seeds']} ({result['units']}):", "",
             "| source | mean ± std over seeds | n |", "|---|---|---|"]
    for source in result["ranking"]:
        row = result["sources"][source]
        std = f" ± {row['std']:.3f}" if row["std"] is not None else ""
        lines.append(f"| {source} | {row['mean']:.3f}{std} | {row['n']} |")
    lines += ["", "| paired difference (nats) | mean ± std | 95 % t interval | n |", "|---|---|---|---|"]
    for name, d in result["paired"].items():
        std = f" ± {d['std']:.3f}" if d["std"] is not None else ""
        ci = f"[{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}]" if d["ci95"] else "-"
        lines.append(f"| {name} | {d['mean']:+.3f}{std} | {ci} | {d['n']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs_dir", nargs="?", type=Path)
    parser.add_argument("--data-dir")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--from", dest="source", type=Path, help="tabulate an earlier OUT without measuring")
    args = parser.parse_args(argv)
    try:
        out = args.source or args.out
        if out is None:
            parser.error("--out (or --from) is required")
        if not args.source:
            if args.runs_dir is None or not args.data_dir:
                parser.error("RUNS_DIR and --data-dir are required to measure")
            measure(args.runs_dir, args.data_dir, out)
        result = tabulate(out)
        atomic_write_json(out / "summary.json", result)
        atomic_write_bytes(out / "summary.md", markdown(result).encode("utf-8"))
        print(markdown(result), end="")
    except InfoPromptError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
