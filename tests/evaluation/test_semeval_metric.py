"""The official SemEval-2010 Task 8 score against a hand-worked example."""

import pytest

from infoprompt.evaluation.metrics import compute_metrics
from infoprompt.evaluation.semeval import LABELS, official_macro_f1, official_scores, undirected

CE12, CE21 = "Cause-Effect(e1,e2)", "Cause-Effect(e2,e1)"
CW12, CW21 = "Component-Whole(e1,e2)", "Component-Whole(e2,e1)"
MT12, MT21 = "Message-Topic(e1,e2)", "Message-Topic(e2,e1)"
PP12 = "Product-Producer(e1,e2)"

# (gold, predicted)
PAIRS = [
    (CE12, CE12),        # 1 correct
    (CE12, CE21),        # 2 right relation, wrong direction
    (CE21, CE21),        # 3 correct
    (CW12, "Other"),     # 4 missed relation
    (CW21, CW21),        # 5 correct
    ("Other", CE12),     # 6 relation predicted for Other
    ("Other", "Other"),  # 7 correct (counts for accuracy only)
    (MT12, CW12),        # 8 wrong relation
    (MT21, MT12),        # 9 wrong direction
    ("Other", PP12),     # 10 a relation that is not in the key
]
GOLD = [g for g, _ in PAIRS]
PRED = [p for _, p in PAIRS]


def test_per_relation_counts_follow_the_official_rules():
    scores = official_scores(GOLD, PRED)
    # Only relations of the key, Other excluded: Product-Producer was predicted but is never gold.
    assert list(scores) == ["Cause-Effect", "Component-Whole", "Message-Topic"]
    ce = scores["Cause-Effect"]
    # Correct: #1, #3. Predicted as Cause-Effect in any direction: #1, #2, #3, #6. Gold: #1, #2, #3.
    assert (ce.correct, ce.predicted, ce.wrong_direction, ce.gold) == (2, 4, 1, 3)
    assert ce.precision == pytest.approx(2 / 4)  # the wrong direction #2 is a false positive ...
    assert ce.recall == pytest.approx(2 / 3)  # ... and a false negative
    assert ce.f1 == pytest.approx(4 / 7)
    cw = scores["Component-Whole"]  # correct #5; predicted #5, #8; gold #4, #5
    assert (cw.precision, cw.recall, cw.f1) == pytest.approx((1 / 2, 1 / 2, 1 / 2))
    mt = scores["Message-Topic"]  # only a wrong direction (#9): nothing correct
    assert (mt.correct, mt.predicted, mt.wrong_direction, mt.gold) == (0, 1, 1, 2)
    assert mt.f1 == 0.0


def test_macro_f1_and_accuracy_through_the_metric_registry():
    # Macro-F1 = mean over the key's 3 relations = (4/7 + 1/2 + 0) / 3 = 5/14.
    assert official_macro_f1(GOLD, PRED) == pytest.approx(5 / 14)
    ids = compute_metrics(["semeval_macro_f1", "accuracy"], [LABELS.index(g) for g in GOLD],
                          [LABELS.index(p) for p in PRED])
    assert ids["semeval_macro_f1"] == pytest.approx(5 / 14)
    assert ids["accuracy"] == pytest.approx(4 / 10)  # #1, #3, #5, #7: direction must match; Other=Other counts


def test_directions_matter_and_other_is_excluded():
    assert official_macro_f1(GOLD, GOLD) == 1.0
    assert official_macro_f1(GOLD, ["Other"] * len(GOLD)) == 0.0
    flipped = [g.replace("(e1,e2)", "(tmp)").replace("(e2,e1)", "(e1,e2)").replace("(tmp)", "(e2,e1)") for g in GOLD]
    assert official_macro_f1(GOLD, flipped) == 0.0
    # A relation predicted for gold Other costs that relation's precision: Cause-Effect P = 3/6, R = 1,
    # F1 = 2/3; the two other relations stay perfect.
    assert official_macro_f1(GOLD, [CE12 if g == "Other" else g for g in GOLD]) == pytest.approx((2 / 3 + 1 + 1) / 3)
    # ... unless the relation is not in the key at all (#10 -> Product-Producer counts nowhere).
    assert official_macro_f1(GOLD, PRED[:-1] + ["Other"]) == pytest.approx(official_macro_f1(GOLD, PRED))


def test_labels_and_undirected_names():
    assert len(LABELS) == 19 and LABELS[-1] == "Other"
    assert undirected(CE21) == "Cause-Effect" and undirected("Other") == "Other"
    with pytest.raises(ValueError):
        official_scores([CE12], [])
