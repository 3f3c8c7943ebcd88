"""--eval-subsample: TensorBoard series and the PNG legend never mix or mislabel subsample and full-split scores."""

from __future__ import annotations

from infoprompt.report.learning_curve import learning_curve_figure
from infoprompt.training.tracking import record_scalars

SUB_ONLY = {"type": "eval", "step": 2, "subsample": 8, "metrics": {"accuracy": 0.5}}
FULL = {"type": "eval", "step": 4, "subsample": 8, "metrics": {"accuracy": 0.7}, "subset": {"metrics": {"accuracy": 0.6}}}


def test_tensorboard_series_keep_the_subsample_apart():
    assert record_scalars(SUB_ONLY) == {"dev_subsample/accuracy": 0.5}
    assert record_scalars(FULL) == {"dev/accuracy": 0.7, "dev_subsample/accuracy": 0.6}
    assert record_scalars({"type": "eval", "step": 1, "metrics": {"accuracy": 0.4}}) == {"dev/accuracy": 0.4}


def test_png_legend_names_the_subsample():
    records = [SUB_ONLY, FULL, {"type": "selection", "selected_step": 4, "select_on": "dev-split"}]
    fig = learning_curve_figure(records, "accuracy")
    lines = {line.get_label(): list(line.get_ydata()) for line in fig.axes[0].get_lines()}
    assert lines["dev accuracy (full split)"] == [0.7]
    assert lines["dev accuracy (subsample of 8 rows)"] == [0.5, 0.6]
