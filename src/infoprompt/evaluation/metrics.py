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


def register_metric(name: str, fn: Metric) -> None:
    """Tasks with their own official scorer (e.g. SemEval) add it here by name."""
    METRICS[name] = fn


def compute_metrics(names: Sequence[str], labels: Sequence[int], predictions: Sequence[int]) -> dict[str, float]:
    if len(labels) != len(predictions):
        raise ValueError(f"{len(labels)} labels but {len(predictions)} predictions")
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise ConfigError(f"unknown metric(s) {unknown}")
    return {name: METRICS[name](list(labels), list(predictions)) for name in names}
