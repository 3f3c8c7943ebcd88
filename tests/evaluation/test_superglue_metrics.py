"""SuperGLUE metrics: CB accuracy + macro-F1, MultiRC F1a and per-question exact match, by hand."""

import pytest

from infoprompt.errors import ConfigError
from infoprompt.evaluation.metrics import compute_metrics, exact_match


def test_cb_accuracy_and_macro_f1_over_three_classes():
    y = [0, 0, 1, 1, 2, 2]
    p = [0, 1, 1, 1, 2, 0]
    out = compute_metrics(["accuracy", "macro_f1"], y, p)
    assert out["accuracy"] == pytest.approx(4 / 6)
    # class 0: P=1/2 R=1/2 F=1/2; class 1: P=2/3 R=1 F=4/5; class 2: P=1 R=1/2 F=2/3
    assert out["macro_f1"] == pytest.approx((1 / 2 + 4 / 5 + 2 / 3) / 3)


def test_multirc_f1a_and_exact_match():
    groups = ["q1", "q1", "q1", "q2", "q2", "q3"]
    y = [1, 0, 1, 0, 1, 1]
    p = [1, 0, 1, 1, 1, 0]  # q1 all right; q2 one wrong; q3 wrong
    out = compute_metrics(["f1a", "exact_match", "accuracy"], y, p, groups)
    precision, recall = 3 / 4, 3 / 4  # TP=3 (rows 0, 2, 4), FP=1 (row 3), FN=1 (row 5)
    assert out["f1a"] == pytest.approx(2 * precision * recall / (precision + recall))
    assert out["exact_match"] == pytest.approx(1 / 3)
    assert out["accuracy"] == pytest.approx(4 / 6)


def test_exact_match_groups_need_not_be_contiguous():
    assert exact_match([1, 1, 0], [1, 0, 0], ["a", "b", "a"]) == pytest.approx(1 / 2)


def test_grouped_metric_without_groups_is_a_config_error():
    with pytest.raises(ConfigError, match="group id"):
        compute_metrics(["exact_match"], [1, 0], [1, 0])
    with pytest.raises(ConfigError, match="group id"):
        compute_metrics(["exact_match"], [1, 0], [1, 0], ["a", None])
