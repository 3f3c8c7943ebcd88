"""Learning curves (the paper's Fig. 3): a thin layer over `infoprompt.report.curves`, which owns them.

This module only chooses the output files (curves.png, curves.csv, curves.json) for
`infoprompt analyze curves`; collecting runs, averaging and plotting are the report's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from infoprompt.analysis.common import write_csv
from infoprompt.atomic_files import atomic_write_json
from infoprompt.errors import ConfigError


def _report_curves():
    try:
        from infoprompt.report import curves
    except ImportError as err:  # the report package is built separately (issue 4)
        raise ConfigError(f"learning curves need infoprompt.report.curves, which is not available ({err})") from None
    return curves


def learning_curves(runs_dir: str | Path, out_dir: str | Path, *, metric: str | None = None,
                    title: str | None = None, **filters: Any) -> dict[str, Path]:
    """Mean dev curve per condition over the finished runs under `runs_dir` that match `filters`.

    Writes curves.png (mean ± sample std per condition, the majority-class line and the task's
    convergence level), curves.csv (every run's evaluations) and curves.json (per condition: each
    run's best value, first step at the task's fixed level, area under its dev curve, collapse
    flag). Filters are `infoprompt train` flags (task, method, n_prompts, shots, ...); a list value
    matches any.
    """
    from infoprompt.data.tasks import convergence_level

    report = _report_curves()
    curves = report.collect_curves(runs_dir, metric, **filters)
    if not curves:
        shown = ", ".join(f"{k}={v}" for k, v in filters.items()) or "no filter"
        raise ConfigError(f"{runs_dir}: no finished run with a metrics log matches ({shown})")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"png": out / "curves.png", "csv": out / "curves.csv", "json": out / "curves.json"}
    report.plot_mean_curves(curves, paths["png"], title=title)
    write_csv(paths["csv"], ["label", "method", "seed", "run_dir", "metric", "step", "value"],
              [[c.label, c.method, c.seed, str(c.run_dir), c.metric, int(s), f"{float(v):.6f}"]
               for c in curves for s, v in zip(c.steps, c.values)])
    groups: dict[str, list] = {}
    for c in curves:
        groups.setdefault(c.label, []).append({
            "run_dir": str(c.run_dir), "method": c.method, "seed": c.seed, "best": c.best, "evaluations": len(c.steps),
            "steps_to_level": c.steps_to_level(convergence_level(c.task)), "auc": c.auc, "collapsed": c.collapsed,
            "majority": c.majority,
        })
    levels = {task: convergence_level(task) for task in sorted({c.task for c in curves})}
    atomic_write_json(paths["json"], {"analysis": "curves", "runs_dir": str(runs_dir), "filters": filters,
                               "metric": curves[0].metric, "convergence_levels": levels, "conditions": groups})
    return paths
