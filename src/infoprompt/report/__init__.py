"""Reports over a runs directory: the paper's tables (Markdown + CSV) and mean learning curves.

    from infoprompt.report import write_report
    write_report("runs/table1")            # -> runs/table1/report/report.md, table1.csv, ...

    from infoprompt.report.curves import collect_curves, plot_mean_curves

See docs/sweeps.md.
"""

from infoprompt.report.curves import (
    Curve,
    MeanCurve,
    collect_curves,
    curve_auc,
    mean_curve,
    plot_mean_curves,
    steps_to_level,
)
from infoprompt.report.runs import RunRecord, load_runs
from infoprompt.report.writer import Report, build_report, write_report

__all__ = ["Curve", "MeanCurve", "collect_curves", "curve_auc", "steps_to_level", "mean_curve", "plot_mean_curves",
           "RunRecord",
           "load_runs", "Report", "build_report", "write_report"]
