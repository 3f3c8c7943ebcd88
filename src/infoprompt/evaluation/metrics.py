"""Official task metrics, computed with scikit-learn."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

from infoprompt.errors import ConfigError

Metric = Callable[[Sequence[int], Sequence[int]], float]


def _sklearn():
    """scikit-learn's metrics, imported on first use: the import takes seconds that checking a run's
    settings (task names register their metrics) and `--help` should not pay."""
    import sklearn.metrics

    return sklearn.metrics


METRICS: dict[str, Metric] = {
    "accuracy": lambda y, p: float(_sklearn().accuracy_score(y, p)),
    "f1": lambda y, p: float(_sklearn().f1_score(y, p, pos_label=1, average="binary", zero_division=0)),
    "macro_f1": lambda y, p: float(_sklearn().f1_score(y, p, average="macro", zero_division=0)),
    "matthews_corr": lambda y, p: float(_sklearn().matthews_corrcoef(y, p)),
}


# SuperGLUE MultiRC: F1a is the binary F1 over all answer options (label 1 = a correct option).
METRICS["f1a"] = METRICS["f1"]

GroupMetric = Callable[[Sequence[int], Sequence[int], Sequence[str]], float]


def exact_match(labels: Sequence[int], predictions: Sequence[int], groups: Sequence[str]) -> float:
    """SuperGLUE MultiRC EM: the share of groups (questions) whose every answer option is predicted right.

    Hand-written: scikit-learn has no grouped exact-match score.
    """
    right: dict[str, bool] = {}
    for y, p, g in zip(labels, predictions, groups):
        right[g] = right.get(g, True) and y == p
    return sum(right.values()) / len(right) if right else 0.0


# Metrics that also need each example's group (Example.group, carried on the Feature).
GROUP_METRICS: dict[str, GroupMetric] = {"exact_match": exact_match}


def register_metric(name: str, fn: Metric) -> None:
    """Tasks with their own official scorer (e.g. SemEval) add it here by name."""
    METRICS[name] = fn


def compute_metrics(names: Sequence[str], labels: Sequence[int], predictions: Sequence[int],
                    groups: Sequence[str | None] | None = None) -> dict[str, float]:
    if len(labels) != len(predictions):
        raise ValueError(f"{len(labels)} labels but {len(predictions)} predictions")
    unknown = [n for n in names if n not in METRICS and n not in GROUP_METRICS]
    if unknown:
        raise ConfigError(f"unknown metric(s) {unknown}")
    grouped = [n for n in names if n in GROUP_METRICS]
    if grouped and (groups is None or len(groups) != len(labels) or any(g is None for g in groups)):
        raise ConfigError(f"metric(s) {grouped} need a group id on every example (e.g. MultiRC's question)")
    return {name: GROUP_METRICS[name](list(labels), list(predictions), list(groups)) if name in GROUP_METRICS
            else METRICS[name](list(labels), list(predictions)) for name in names}


# A run that predicts one class for at least this share of the examples is flagged as collapsed: its
# score is (close to) the majority-class rate whatever the metric, so it must not read as a result.
COLLAPSE_SHARE = 0.95


def majority_class(labels: Sequence[int]) -> tuple[int, float]:
    """(most frequent label, its share of `labels`); ties go to the smaller label index."""
    if not labels:
        raise ValueError("majority_class: no labels")
    counts = Counter(labels)
    label = min(counts, key=lambda c: (-counts[c], c))
    return int(label), counts[label] / len(labels)


def majority_baseline(names: Sequence[str], labels: Sequence[int],
                      groups: Sequence[str | None] | None = None) -> dict:
    """What always predicting the split's most frequent class scores: the reference every table and plot shows.

    Its accuracy is the majority-class rate; its Matthews correlation is 0 (chance), its binary F1 can be
    high (MRPC's "always equivalent" scores F1 0.81), which is why the baseline is scored by every metric.
    """
    label, rate = majority_class(labels)
    return {"class": label, "rate": rate,
            "metrics": compute_metrics(names, labels, [label] * len(labels), groups)}


def prediction_share(predictions: Sequence[int]) -> dict:
    """The most predicted class, its share of the predictions, and whether that share marks a collapse."""
    if not predictions:
        return {"class": None, "share": 0.0, "collapsed": False}
    label, share = majority_class(predictions)
    return {"class": label, "share": share, "collapsed": share >= COLLAPSE_SHARE}
