"""The four-task study of issue 23: do residual and late prompts beat plain prompt tuning on MiniLM?

Usage: python scripts/beyond_study.py RECORDS_DIR [--out REPORT_DIR] [--baseline prompt]
       python scripts/beyond_study.py RECORDS_DIR --choose residual,late,late+late_generator=pooling [--out FILE]

RECORDS_DIR holds the study's committed raw records (scripts/keep_records.py output of
configs/sweeps/beyond_minilm*.yaml). Writes REPORT_DIR/report.md and REPORT_DIR/summary.json (default:
RECORDS_DIR/../report), byte for byte the same for the same records:

- per setting (few-shot: 16 per class, the LM-BFF protocol; 256 shots: the dev-split protocol) and task, each
  condition's score (mean ± sample std over seeds, n), the reported split's majority-class rate, how many runs
  collapsed onto one class, seconds per epoch and peak RSS (means over the same runs);
- each condition's paired difference from the baseline (prompt tuning) per task and averaged over the tasks
  (per seed, the mean over the four tasks; mean ± std, the 95 % Student-t interval and n seeds).

`--choose A,B,...` picks "the best new method" among the named conditions on TUNING data only: each run's
score on its selection split at the checkpoint it kept (the few-shot protocol's 16-per-class dev draw, read from
the "selection" record of its metrics.jsonl), averaged over every task and draw; the reported test sets take no
part. It writes the ranking and the choice as JSON (default: RECORDS_DIR/../chosen.json).

Every score is the run's reported split at the checkpoint its selection split kept (`--score selected`): the
few-shot runs select on a 16-per-class dev draw and report the full test set; the 256-shot runs select on a
seeded half of dev and report the other half. Neither chose itself.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

from infoprompt.atomic_files import atomic_write_bytes
from infoprompt.errors import InfoPromptError
from infoprompt.report.compare import CELL_KEYS, t_interval, variant
from infoprompt.report.runs import RunRecord, load_runs, varying_keys

TASK_ORDER = ("sst2", "sst5", "cr", "mpqa")
TASK_LABELS = {"sst2": "SST-2", "sst5": "SST-5", "cr": "CR", "mpqa": "MPQA"}
# Flags that set a run's protocol and data draw: they name the setting, not the condition.
SETTING_KEYS = frozenset({"select_on", "shots", "shots_per_class", "official_draw", "stratified", "patience",
                          "epochs", "eval_every"})


def setting_of(record: RunRecord) -> str:
    if record.args.get("select_on") == "few-shot":
        k = record.args.get("shots_per_class") or 16
        return f"few-shot {k}/class"
    return f"{record.shots} shots" if record.shots else "full data"


def _mean_std(values: list[float]) -> tuple[float, float | None]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None


def _fmt(mean: float, std: float | None, n: int) -> str:
    return f"{mean:.4f} ± {std:.4f} (n={n})" if std is not None else f"{mean:.4f} (n={n})"


def _points(d: dict) -> str:
    ci = d.get("ci95")
    interval = f"[{100 * ci[0]:+.2f}, {100 * ci[1]:+.2f}]" if ci else "no interval"
    std = d.get("std")
    spread = f" ± {100 * std:.2f}" if std is not None and std == std else ""
    return f"{100 * d['mean']:+.2f}{spread} {interval} (n={d.get('seeds', d.get('n'))})"


def _order(conditions: set[str], baseline: str) -> list[str]:
    return sorted(conditions, key=lambda c: (c != baseline, c))


def paired_against(scores: dict[tuple, float], tasks: list[str], a: str, b: str) -> dict:
    """A − B paired by draw (seed): per task, and averaged over the tasks (per seed, the mean over the tasks where
    both finished that seed; only seeds that have every task). Mean, sample std, 95 % t interval, n seeds."""
    per_task: dict[str, dict[int, float]] = {}
    for task in tasks:
        seeds = sorted({s for (t, c, s) in scores if t == task and c == a} & {s for (t, c, s) in scores
                                                                          if t == task and c == b})
        if seeds:
            per_task[task] = {s: scores[(task, a, s)] - scores[(task, b, s)] for s in seeds}
    entry = {task: _stats(list(diffs.values())) for task, diffs in per_task.items()}
    common = set.intersection(*(set(d) for d in per_task.values())) if per_task and len(per_task) == len(tasks) \
        else set()
    if common:
        entry["average"] = _stats([statistics.fmean(per_task[t][s] for t in tasks) for s in sorted(common)])
    return entry


def _stats(values: list[float]) -> dict:
    mean, std = _mean_std(values)
    return {"mean": mean, "std": std, "ci95": t_interval(values), "seeds": len(values)}


def summarise(records: list[RunRecord], baseline: str) -> dict:
    """Everything the report shows, as plain data (summary.json)."""
    keys = [k for k in varying_keys(records) if k not in CELL_KEYS and k not in SETTING_KEYS]
    by_setting: dict[str, list[RunRecord]] = defaultdict(list)
    for record in records:
        by_setting[setting_of(record)].append(record)
    out: dict = {"baseline": baseline, "condition_flags": keys, "settings": {}}
    for setting, runs in sorted(by_setting.items()):
        cells: dict = {}
        conditions = sorted({variant(r, keys) for r in runs})
        tasks = [t for t in TASK_ORDER if any(r.task == t for r in runs)] + \
            sorted({r.task for r in runs} - set(TASK_ORDER))
        for task in tasks:
            for condition in conditions:
                chosen = [r for r in runs if r.task == task and variant(r, keys) == condition]
                if not chosen:
                    continue
                scores = [r.score() for r in chosen]
                mean, std = _mean_std(scores)
                majority = [m for m in (r.majority() for r in chosen) if m is not None]
                costs = {name: [float(r.summary[name]) for r in chosen if r.summary.get(name) is not None]
                         for name in ("seconds_per_epoch", "peak_rss_mb")}
                cells[f"{task}|{condition}"] = {
                    "task": task, "condition": condition, "mean": mean, "std": std, "n": len(scores),
                    "seeds": sorted(r.seed for r in chosen), "majority": max(majority) if majority else None,
                    "collapsed": sum(bool(r.collapsed) for r in chosen),
                    "split": str((chosen[0].reported or {}).get("split") or chosen[0].scored()[1]),
                    **{name: statistics.fmean(v) if v else None for name, v in costs.items()},
                }
        scores = {(r.task, variant(r, keys), r.seed): r.score() for r in runs}
        paired = {condition: paired_against(scores, tasks, condition, baseline)
                  for condition in conditions if condition != baseline}
        out["settings"][setting] = {"tasks": tasks, "conditions": conditions, "cells": cells, "paired": paired}
    return out


def markdown(summary: dict) -> str:
    baseline = summary["baseline"]
    lines = ["# Residual and late prompts against prompt tuning (issue 23), MiniLM", "",
             "Generated by `python scripts/beyond_study.py` from the committed records; do not edit by hand.",
             "Scores: each run's reported split at the checkpoint its selection split kept (the score never chose "
             "itself). Cells: mean ± sample std over seeds (n). *majority*: always predicting the reported split's "
             "most frequent class. Seconds per epoch: optimizer steps only, averaged over the epochs run. "
             "Peak RSS: the training process's, model and data included.", ""]
    for setting, block in summary["settings"].items():
        tasks, conditions, cells = block["tasks"], _order(set(block["conditions"]), baseline), block["cells"]
        lines += [f"## {setting}", ""]
        splits = {c["task"]: c["split"] for c in cells.values()}
        lines += ["Reported splits: " + "; ".join(f"{TASK_LABELS.get(t, t)} {splits[t]}" for t in tasks) + ".", ""]
        lines += ["| condition | " + " | ".join(TASK_LABELS.get(t, t) for t in tasks) + " | avg |",
                  "|---|" + "---|" * (len(tasks) + 1)]
        for condition in conditions:
            row, means = [], []
            for task in tasks:
                cell = cells.get(f"{task}|{condition}")
                if cell is None:
                    row.append("-")
                    continue
                note = f" ⚠ {cell['collapsed']} collapsed" if cell["collapsed"] else ""
                row.append(_fmt(cell["mean"], cell["std"], cell["n"]) + note)
                means.append(cell["mean"])
            avg = f"{statistics.fmean(means):.4f}" if len(means) == len(tasks) else "-"
            lines.append(f"| {condition} | " + " | ".join(row) + f" | {avg} |")
        majority = [max((c["majority"] for c in cells.values() if c["task"] == t and c["majority"] is not None),
                        default=None) for t in tasks]
        lines.append("| *majority* | " + " | ".join(f"{m:.4f}" if m is not None else "-" for m in majority) +
                     (f" | {statistics.fmean(majority):.4f} |" if all(m is not None for m in majority) else " | - |"))
        lines += ["", f"Paired difference from `{baseline}` (points; mean ± std over seeds, 95 % t interval, n seeds; "
                  "avg: per seed, the mean over every task; only seeds with all tasks):", "",
                  "| condition | " + " | ".join(TASK_LABELS.get(t, t) for t in tasks) + " | avg |",
                  "|---|" + "---|" * (len(tasks) + 1)]
        for condition in conditions:
            if condition == baseline:
                continue
            entry = block["paired"].get(condition, {})
            lines.append(f"| {condition} | " + " | ".join(_points(entry[t]) if t in entry else "-"
                                                          for t in tasks + ["average"]) + " |")
        lines += ["", "Cost (mean over the cell's runs): seconds per epoch / peak RSS MiB", "",
                  "| condition | " + " | ".join(TASK_LABELS.get(t, t) for t in tasks) + " |",
                  "|---|" + "---|" * len(tasks)]
        for condition in conditions:
            row = []
            for task in tasks:
                cell = cells.get(f"{task}|{condition}")
                if cell is None or cell["seconds_per_epoch"] is None:
                    row.append("-")
                else:
                    row.append(f"{cell['seconds_per_epoch']:.2f} s / {cell['peak_rss_mb']:.0f}")
            lines.append(f"| {condition} | " + " | ".join(row) + " |")
        lines.append("")
    return "\n".join(lines)


def write(records_dir: Path, out: Path, baseline: str) -> dict:
    records, unfinished = load_runs(records_dir)
    if not records:
        raise InfoPromptError(f"{records_dir}: no finished run")
    summary = summarise(records, baseline)
    summary["runs"], summary["unfinished"] = len(records), len(unfinished)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "summary.json", (json.dumps(summary, indent=1, sort_keys=True) + "\n").encode())
    atomic_write_bytes(out / "report.md", (markdown(summary) + "\n").encode())
    return summary


def selection_score(record: RunRecord) -> float:
    """The run's selection-split score at its kept checkpoint (tuning data: never the reported split)."""
    closing = [entry for entry in record.log if entry.get("type") == "selection"]
    if not closing:
        raise InfoPromptError(f"{record.run_dir}: its metrics log has no selection record (an unfinished run?)")
    return float(closing[-1]["selected"][record.primary_metric])


def choose(records_dir: Path, candidates: list[str], setting: str) -> dict:
    """Rank `candidates` by their mean selection-split score over every (task, draw) in `setting`."""
    records, _ = load_runs(records_dir)
    runs = [r for r in records if setting_of(r) == setting]
    keys = [k for k in varying_keys(runs) if k not in CELL_KEYS and k not in SETTING_KEYS]
    ranking = {}
    for condition in candidates:
        chosen = [r for r in runs if variant(r, keys) == condition]
        if not chosen:
            raise InfoPromptError(f"{records_dir}: no finished run of '{condition}' in setting '{setting}'")
        ranking[condition] = {"mean_selection_score": statistics.fmean(selection_score(r) for r in chosen),
                              "runs": len(chosen), "tasks": sorted({r.task for r in chosen})}
    best = max(ranking, key=lambda c: (ranking[c]["mean_selection_score"], c))
    return {"setting": setting, "chosen": best, "ranking": ranking,
            "rule": "highest mean selection-split score at the kept checkpoint over every task and draw"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("records", type=Path)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--baseline", default="prompt")
    parser.add_argument("--choose", help="comma-separated candidate conditions: pick one on the selection splits")
    parser.add_argument("--setting", default="few-shot 16/class", help="the setting --choose ranks in")
    args = parser.parse_args(argv)
    try:
        if args.choose:
            result = choose(args.records, args.choose.split(","), args.setting)
            out = args.out or args.records.parent / "chosen.json"
            atomic_write_bytes(out, (json.dumps(result, indent=1, sort_keys=True) + "\n").encode())
            print(f"chosen: {result['chosen']}", file=sys.stderr)
            return 0
        summary = write(args.records, args.out or args.records.parent / "report", args.baseline)
    except InfoPromptError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{summary['runs']} runs, {summary['unfinished']} unfinished", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
