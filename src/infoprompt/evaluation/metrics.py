"""Official task metrics, computed with scikit-learn."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

from infoprompt.errors import ConfigError

Metric = Callable[[Sequence[int], Sequence[int]], float]

METRICS: dict[str, Metric] = {
    "accuracy": lambda y, p: float(accuracy_score(y, p)),
    "f1": lambda y, p: float(f1_score(y, p, pos_label=1, average="binary", zero_division=0)),
    "macro_f1": lambda y, p: float(f1_score(y, p, average="macro", zero_division=0)),
    "matthews_corr": lambda y, p: float(matthews_corrcoef(y, p)),
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
