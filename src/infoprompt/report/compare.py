"""Paired comparison of two methods over seeds: is A's average better than B's, and by how much?

A condition is a method, its ablation and every other flag that varies between the compared runs
(`infoprompt+generator_mode=residual` is not `infoprompt`), so two variants of one method never mix.
Runs with the same seed see the same few-shot draw, so the difference is paired by seed: for each
seed, average A - B over every (task, shots, n_prompts) cell that both methods have; report the mean,
the sample std (ddof=1) and the 95 % Student-t interval of those per-seed differences, plus each cell's
mean difference with its own interval over that cell's seeds (the mean of n paired differences
± t(0.975, n-1) · std/√n; none for n = 1). A
difference against a run that collapsed onto one class measures the majority-class rate, not a
method, so every cell says how many runs of either side collapsed (and how many did not record it).
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Sequence

from scipy import stats

from infoprompt.config import setting_defaults
from infoprompt.errors import ConfigError
from infoprompt.report.runs import DEFAULT_SCORE_RULE, RunRecord, varying_keys

# Flags that name the cell a run belongs to, or its method and ablation (already in the name).
CELL_KEYS = frozenset({"task", "shots", "n_prompts", "method", "ablation"})


def variant(record: RunRecord, keys: Sequence[str] = ()) -> str:
    """A condition's name: the method, its ablation when it has one, and each flag of `keys` the run sets away
    from its default (e.g. `infoprompt:no-head`, `infoprompt+generator_mode=residual`)."""
    ablation = record.args.get("ablation")
    name = f"{record.method}:{ablation}" if ablation and ablation != "none" else record.method
    defaults = setting_defaults()
    return name + "".join(f"+{key}={record.args[key]}" for key in keys
                          if record.args.get(key) is not None and record.args.get(key) != defaults.get(key))


def t_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float] | None:
    """The Student-t interval of the mean of `values` (paired differences); None for fewer than two."""
    if len(values) < 2:
        return None
    mean, sem = statistics.mean(values), statistics.stdev(values) / math.sqrt(len(values))
    half = float(stats.t.ppf(0.5 + level / 2, len(values) - 1)) * sem
    return mean - half, mean + half


def paired_difference(records: list[RunRecord], a: str, b: str, rule: str = DEFAULT_SCORE_RULE) -> dict:
    scores: dict[tuple, dict[int, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    collapse: dict[tuple, dict[int, dict[str, bool | None]]] = defaultdict(lambda: defaultdict(dict))
    keys = [key for key in varying_keys(records) if key not in CELL_KEYS]  # e.g. the flags of a tuned variant
    for record in records:
        name = variant(record, keys)
        if name in (a, b):
            cell = (record.task, record.shots, record.n_prompts)
            if name in scores[cell][record.seed]:
                raise ConfigError(f"two runs of '{name}' for {record.task} shots={record.shots} seed={record.seed} "
                                  f"(e.g. {record.run_dir.name}): their flags do not tell them apart")
            scores[cell][record.seed][name] = record.score(rule=rule)
            collapse[cell][record.seed][name] = record.collapsed
    per_seed: dict[int, list[float]] = defaultdict(list)
    cell_stats = {}
    collapsed = {}
    for cell, by_seed in sorted(scores.items(), key=lambda kv: str(kv[0])):
        diffs = {seed: s[a] - s[b] for seed, s in by_seed.items() if a in s and b in s}
        if not diffs:
            continue
        values = list(diffs.values())
        cell_stats[cell] = {"mean": statistics.mean(values), "n": len(values), "ci95": t_interval(values),
                            "std": statistics.stdev(values) if len(values) > 1 else float("nan")}
        flags = [collapse[cell][seed] for seed in diffs]
        collapsed[cell] = {side: (sum(bool(f[side]) for f in flags), sum(f[side] is None for f in flags), len(flags))
                           for side in (a, b)}
        for seed, d in diffs.items():
            per_seed[seed].append(d)
    if not per_seed:
        raise ConfigError(f"no (task, shots, seed) where both '{a}' and '{b}' finished")
    n_cells = max(len(v) for v in per_seed.values())
    seed_means = [statistics.mean(v) for v in per_seed.values() if len(v) == n_cells]
    return {
        "a": a, "b": b, "cells": len(cell_stats), "seeds": len(seed_means),
        "mean": statistics.mean(seed_means),
        "std": statistics.stdev(seed_means) if len(seed_means) > 1 else float("nan"),
        "ci95": t_interval(seed_means),
        "per_cell": {f"{t} shots={s} np={n}": v["mean"] for (t, s, n), v in cell_stats.items()},
        # per cell: mean, sample std, n seeds and the 95 % t interval of that cell's paired differences
        "per_cell_stats": {f"{t} shots={s} np={n}": v for (t, s, n), v in cell_stats.items()},
        # per cell and side: (runs collapsed, runs that did not record it, runs compared)
        "collapsed": {f"{t} shots={s} np={n}": c for (t, s, n), c in collapsed.items()},
        "rule": rule,
    }


def _collapse_note(counts: dict[str, tuple[int, int, int]]) -> str:
    parts = []
    for side, (hit, unknown, total) in counts.items():
        if hit:
            parts.append(f"{side} collapsed in {hit}/{total}")
        if unknown:
            parts.append(f"{side}: collapse not recorded in {unknown}/{total}")
    return f"  [{'; '.join(parts)}]" if parts else ""


def _interval(ci: tuple[float, float] | None) -> str:
    return f"95 % CI [{100 * ci[0]:+.2f}, {100 * ci[1]:+.2f}]" if ci else "no interval (n = 1)"


def format_difference(result: dict) -> str:
    lines = [f"{result['a']} - {result['b']}: {100 * result['mean']:+.2f} ± {100 * result['std']:.2f} points, "
             f"{_interval(result.get('ci95'))} "
             f"(mean ± sample std over {result['seeds']} seeds of the per-seed average over {result['cells']} cells; "
             f"score: {result.get('rule', DEFAULT_SCORE_RULE)})"]
    counts = result.get("collapsed", {})
    cell_stats = result.get("per_cell_stats", {})
    for cell, d in result["per_cell"].items():
        detail = ""
        if cell in cell_stats:
            s = cell_stats[cell]
            std = f"{100 * s['std']:.2f}" if s["n"] > 1 else "-"
            detail = f" ± {std}, {_interval(s['ci95'])}, n={s['n']}"
        lines.append(f"  {cell}: {100 * d:+.2f}{detail}{_collapse_note(counts.get(cell, {}))}")
    if any(hit for cell in counts.values() for hit, _, _ in cell.values()):
        lines.append("  A collapsed run (>= 95 % of predictions in one class) scores the majority-class rate: "
                     "a difference in its cell compares a method with a constant predictor.")
    return "\n".join(lines)
