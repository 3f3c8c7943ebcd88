"""Curve API used by the report and by `infoprompt analyze curves`: collect, convergence step, mean ± std, plot."""

from __future__ import annotations

import numpy as np
import pytest
from runfactory import make_run

from infoprompt.errors import ConfigError, DataError
from infoprompt.report.curves import (
    Curve,
    collect_curves,
    curve_auc,
    draw_mean_curves,
    mean_curve,
    plot_mean_curves,
    steps_to_level,
)


def curve(steps, values, label="x", majority=None, collapsed=None):
    return Curve(run_dir=None, task="sst2", metric="accuracy", steps=np.array(steps), values=np.array(values),
                 label=label, majority=majority, collapsed=collapsed)


@pytest.mark.parametrize("values, level, expected", [
    ([0.5, 0.86, 0.9, 0.8], 0.7, 20),
    ([0.9, 0.1, 0.2, 0.3], 0.7, 10),
    ([0.51, 0.51, 0.51, 0.51], 0.7, None),  # stuck at the majority rate: never converges (the old rule said step 10)
    ([-0.3, -0.2, 0.1, 0.12], 0.1, 30),     # an MCC level: reached exactly
])
def test_steps_to_a_fixed_level(values, level, expected):
    assert steps_to_level([10, 20, 30, 40], values, level) == expected


def test_area_under_the_curve_is_the_mean_level_over_the_span():
    assert curve_auc([10, 20, 40], [0.5, 0.7, 0.7]) == pytest.approx((0.6 * 10 + 0.7 * 20) / 30)
    assert curve_auc([10], [0.8]) == 0.8  # one evaluation: its value
    # reaching the same best sooner scores higher
    assert curve_auc([1, 2, 3], [0.5, 0.9, 0.9]) > curve_auc([1, 2, 3], [0.5, 0.5, 0.9])


def test_mean_curve_on_shared_steps_is_mean_and_sample_std():
    m = mean_curve([curve([1, 2], [0.2, 0.4]), curve([1, 2], [0.4, 0.8]), curve([1, 2], [0.6, 0.6])])
    assert m.steps.tolist() == [1, 2] and m.n.tolist() == [3, 3]
    assert m.mean == pytest.approx([0.4, 0.6]) and m.std == pytest.approx([0.2, 0.2])


def test_mean_curve_interpolates_different_steps_without_extrapolating():
    m = mean_curve([curve([0, 10], [0.0, 1.0]), curve([0, 5], [0.5, 0.5])])
    assert m.steps.tolist() == [0, 5, 10]
    assert m.n.tolist() == [2, 2, 1]
    assert m.mean[:2] == pytest.approx([0.25, 0.5]) and m.mean[2] == pytest.approx(1.0)
    assert np.isnan(m.std[2])  # one curve: no spread


def test_collect_curves_filters_and_labels(tmp_path):
    runs = tmp_path / "runs"
    for seed in (0, 1):
        make_run(runs, {"method": "warp", "seed": seed}, {"accuracy": 0.8}, curve=[0.5, 0.8])
        make_run(runs, {"method": "infoprompt", "seed": seed}, {"accuracy": 0.9}, curve=[0.7, 0.9])
        make_run(runs, {"method": "infoprompt", "ablation": "no-mi", "seed": seed}, {"accuracy": 0.9}, curve=[0.6, 0.9])
        make_run(runs, {"method": "warp", "task": "rte", "seed": seed}, {"accuracy": 0.6}, curve=[0.5, 0.6])
    sst2 = collect_curves(runs, task="sst2")
    assert sorted({c.label for c in sst2}) == ["InfoPrompt", "InfoPrompt γ=β=0", "WARP"] and len(sst2) == 6
    chosen = collect_curves(runs, task="sst2", method=["warp"], seed=1)
    assert [(c.label, c.seed, c.values.tolist()) for c in chosen] == [("WARP", 1, [0.5, 0.8])]
    assert all(c.metric == "accuracy" and c.steps.tolist() == [10, 20] for c in sst2)
    assert {c.label for c in collect_curves(runs, method="warp")} == {"WARP", "WARP task=rte"}
    with pytest.raises(ConfigError, match="unknown filter"):
        collect_curves(runs, colour="red")
    with pytest.raises(DataError, match="field 'metrics.f1' missing"):
        collect_curves(runs, metric="f1", task="rte")


def test_plot_mean_curves_writes_a_png(tmp_path):
    curves = [curve([10, 20, 30], [0.5, 0.7, 0.8], "WARP"), curve([10, 20, 30], [0.6, 0.7, 0.9], "WARP"),
              curve([10, 20, 30], [0.7, 0.85, 0.9], "InfoPrompt")]
    path = plot_mean_curves(curves, tmp_path / "fig" / "curves.png", title="SST-2")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    with pytest.raises(ConfigError, match="no curves"):
        plot_mean_curves([], tmp_path / "empty.png")


def test_single_evaluations_show_as_points_with_the_majority_line_and_labelled_markers():
    from matplotlib.figure import Figure

    curves = [curve([30], [0.8], "WARP", majority=0.509), curve([30], [0.7], "InfoPrompt γ=0", 0.509, collapsed=True)]
    ax = draw_mean_curves(Figure().subplots(), curves)
    drawn = [line for line in ax.lines if len(line.get_xdata()) == 1 and line.get_marker() == "o"]
    assert len(drawn) == 2  # one evaluation per run is still a visible point
    labels = ax.get_legend_handles_labels()[1]
    assert "majority class: 0.509" in labels and "convergence level: 0.7" in labels
    assert r"InfoPrompt $\gamma=0$ (n=1, 1 collapsed)" in labels  # mathtext, and the collapse is said
    mcc = Curve(None, "cola", "matthews_corr", np.array([1, 2]), np.array([0.0, 0.1]), label="x", majority=0.0)
    assert "chance (majority class, MCC 0): 0.000" in draw_mean_curves(Figure().subplots(), [mcc]).get_legend_handles_labels()[1]


def test_the_stretch_after_the_first_early_stop_is_drawn_dotted():
    """Past the first run's stop the mean covers only the runs still going, so it is drawn apart (dotted)."""
    from matplotlib.figure import Figure

    runs = [curve([10, 20, 30], [0.6, 0.7, 0.8]), curve([10, 20], [0.6, 0.6])]
    ax = draw_mean_curves(Figure().subplots(), runs)
    solid = [line for line in ax.get_lines() if line.get_linestyle() == "-" and line.get_label().startswith("x (n=2")]
    dotted = [line for line in ax.get_lines() if line.get_linestyle() == ":" and line.get_color() == solid[0].get_color()]
    assert list(solid[0].get_xdata()) == [10, 20] and list(dotted[0].get_xdata()) == [20, 30]
    assert "dotted: fewer runs (the others stopped early)" in [t.get_text() for t in ax.get_legend().get_texts()]
    ax = draw_mean_curves(Figure().subplots(), [curve([10, 20], [0.6, 0.7]), curve([10, 20], [0.5, 0.7])])
    assert not [line for line in ax.get_lines() if line.get_linestyle() == ":" and line.get_marker() == "o"]
