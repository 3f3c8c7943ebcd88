"""Metrics by name (the names a TaskSpec lists)."""

from infoprompt.evaluation import semeval  # noqa: F401  (registers "semeval_macro_f1")
from infoprompt.evaluation.metrics import METRICS, compute_metrics

__all__ = ["METRICS", "compute_metrics"]
