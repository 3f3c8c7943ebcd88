import math

import pytest

from infoprompt.evaluation.metrics import compute_metrics

Y = [1, 1, 1, 0, 0, 0, 1, 0]
P = [1, 1, 0, 0, 0, 1, 1, 0]  # TP=3, FN=1, FP=1, TN=3


def test_accuracy_f1_mcc_against_hand_computed():
    out = compute_metrics(["accuracy", "f1", "matthews_corr", "macro_f1"], Y, P)
    assert out["accuracy"] == pytest.approx(6 / 8)
    precision = recall = 3 / 4
    assert out["f1"] == pytest.approx(2 * precision * recall / (precision + recall))
    mcc = (3 * 3 - 1 * 1) / math.sqrt((3 + 1) * (3 + 1) * (3 + 1) * (3 + 1))
    assert out["matthews_corr"] == pytest.approx(mcc)  # 0.5
    assert out["macro_f1"] == pytest.approx(0.75)


def test_constant_prediction_has_zero_mcc():
    assert compute_metrics(["matthews_corr"], Y, [1] * 8)["matthews_corr"] == 0.0


def test_length_mismatch():
    with pytest.raises(ValueError):
        compute_metrics(["accuracy"], [1, 0], [1])


def test_majority_baseline_scores_a_constant_predictor_by_every_metric():
    from infoprompt.evaluation.metrics import majority_baseline

    labels = [1] * 7 + [0] * 3
    baseline = majority_baseline(["accuracy", "matthews_corr", "f1"], labels)
    assert baseline["class"] == 1 and baseline["rate"] == 0.7
    assert baseline["metrics"]["accuracy"] == 0.7 and baseline["metrics"]["matthews_corr"] == 0.0
    assert round(baseline["metrics"]["f1"], 4) == round(2 * 0.7 / 1.7, 4)  # "always positive" F1 is high


def test_prediction_share_flags_a_collapse_at_95_percent():
    from infoprompt.evaluation.metrics import prediction_share

    assert prediction_share([1] * 95 + [0] * 5) == {"class": 1, "share": 0.95, "collapsed": True}
    assert prediction_share([1] * 94 + [0] * 6)["collapsed"] is False
    assert prediction_share([])["collapsed"] is False
