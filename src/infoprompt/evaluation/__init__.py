"""Metrics by name (the names a TaskSpec lists)."""

from infoprompt.evaluation.metrics import METRICS, compute_metrics

__all__ = ["METRICS", "compute_metrics"]
