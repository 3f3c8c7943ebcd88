"""The summary fields of a training run that come from its scores, not from its settings: the headline
(report/headline.py) with the rows it is over, and what the run cost."""

from __future__ import annotations

from infoprompt.environment import package_versions, peak_device_mb, peak_rss_mb
from infoprompt.report.headline import headline_fields, report_rows


def headline_summary(summary: dict, planned_steps: int, n_dev: int, test: dict | None) -> dict:
    """The summary fields that name the one headline number (report/headline.py): the rows it is over, the
    steps the run planned (so an early stop is visible), `dev_metrics` (config.json's name for `dev`) and
    `headline` itself."""
    out = {"planned_steps": planned_steps, "dev_metrics": summary.get("dev")}
    if test is not None:
        out["reported_rows"] = test.get("rows")
    elif report_rows(summary) is None:
        out["reported_rows"] = n_dev  # the whole dev split is reported (select-on dev or last)
    out["headline"] = headline_fields({**summary, **out})
    return out


def cost_fields(steps: int, per_epoch: int, train_seconds: float, device: str) -> dict:
    """What a run cost beside what it scored: optimizer-step seconds per epoch (averaged over the epochs it ran,
    the first included), peak memory, and the package versions that produced its numbers."""
    epochs_run = steps / per_epoch if per_epoch else 0
    return {"seconds_per_epoch": round(train_seconds / epochs_run, 3) if epochs_run else None,
            "peak_rss_mb": peak_rss_mb(), "peak_device_mb": peak_device_mb(device),
            "environment": package_versions()}
