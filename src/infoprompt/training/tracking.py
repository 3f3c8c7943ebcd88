"""Experiment tracking (`--report-to tensorboard,wandb,mlflow`) through those projects' own clients.

The training loop writes one record per step and per evaluation to its log (`metrics.jsonl`); a
`Trackers` object attached to that log (`Trackers.attach`) forwards the same records to every
backend chosen, so the loop never knows which backends run. Each backend logs every named loss term
(`loss/<term>`), the weighted total (`loss/total`), the learning rate (`lr`) and every dev metric
(`dev/<metric>`; `dev_selection/<metric>` and `dev_report/<metric>` for the halves `--select-on dev-split`
scores; `dev/top_class_share`, the share of the most predicted class) at the record's step.

No backend is imported when this module is: each is imported when its run opens, which happens on
the first record (so ranks other than 0 of a multi-process run, which write no records, open nothing).
Where the data goes is each project's own convention: TensorBoard event files in `RUN/tensorboard/`;
W&B under `RUN/wandb/` (`WANDB_MODE=offline` keeps it local, `WANDB_PROJECT` names the project,
default "infoprompt"); MLflow at `$MLFLOW_TRACKING_URI`, else a local file store `RUN/mlruns/`
(experiment `$MLFLOW_EXPERIMENT_NAME`, default "infoprompt"; MLflow 3 keeps file stores behind
`MLFLOW_ALLOW_FILE_STORE`, which is then set to true unless the environment already sets it).
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import sys
import time
from pathlib import Path

from infoprompt.errors import ConfigError


def record_scalars(record: dict) -> dict[str, float]:
    """The scalars of one log record (train: loss terms, total, lr; eval: dev metrics), by tracking name."""
    if record.get("type") == "train":
        out = {f"loss/{name}": value for name, value in record.get("losses", {}).items()}
        out["loss/total"], out["lr"] = record["total"], record["lr"]
    elif record.get("type") == "eval":
        # --eval-subsample: `dev/` holds full-split scores only; the subsample's go to `dev_subsample/` (every
        # evaluation has them: a full-split record keeps them under "subset"), so no series mixes the two.
        if "subsample" in record and "subset" not in record:
            out = _eval_scalars(record, "dev_subsample")
        else:
            out = _eval_scalars(record, "dev")
            if "subset" in record:
                out.update(_eval_scalars(record["subset"], "dev_subsample"))
    else:
        return {}
    return {k: float(v) for k, v in out.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _eval_scalars(fields: dict, prefix: str) -> dict:
    """One evaluation's scores under `prefix` (metrics, the dev-split halves, the top class's share)."""
    out = {f"{prefix}/{name}": value for name, value in fields.get("metrics", {}).items()}
    for half in ("selection", "report"):  # --select-on dev-split scores each half of dev too
        out.update({f"{prefix}_{half}/{name}": value for name, value in (fields.get(half) or {}).items()})
    if isinstance(fields.get("predicted"), dict) and "share" in fields["predicted"]:
        out[f"{prefix}/top_class_share"] = fields["predicted"]["share"]  # near 1: predictions collapsed to one class
    return out


class Tracker:
    """One backend: opened on the first record, closed once. Subclasses say how to open, log and close."""

    package = ""  # the module the backend needs (also what `check_report_to` looks for)
    extra = ""  # the pip extra that installs it

    def __init__(self, run_dir: Path, name: str, config: dict):
        self.run_dir, self.name, self.config = Path(run_dir), name, config
        self._open = False

    def log(self, scalars: dict[str, float], step: int) -> None:
        if not self._open:
            self.open()
            self._open = True
        self.log_scalars(scalars, step)

    def close(self, failed: bool = False) -> None:
        if self._open:
            self.finish(failed)
            self._open = False

    def open(self) -> None:
        raise NotImplementedError

    def log_scalars(self, scalars: dict[str, float], step: int) -> None:
        raise NotImplementedError

    def finish(self, failed: bool) -> None:
        raise NotImplementedError


class TensorBoardTracker(Tracker):
    package, extra = "tensorboard", "tensorboard"

    def open(self) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(self.run_dir / "tensorboard"))
        self.writer.add_text("config", "```\n" + json.dumps(self.config, indent=1, sort_keys=True, default=str) + "\n```")

    def log_scalars(self, scalars: dict[str, float], step: int) -> None:
        for tag, value in scalars.items():
            self.writer.add_scalar(tag, value, step)

    def finish(self, failed: bool) -> None:
        self.writer.close()


class WandbTracker(Tracker):
    package, extra = "wandb", "wandb"

    def open(self) -> None:
        import wandb

        self.run = wandb.init(project=os.environ.get("WANDB_PROJECT", "infoprompt"), name=self.name,
                              dir=str(self.run_dir), config=self.config, reinit="create_new")

    def log_scalars(self, scalars: dict[str, float], step: int) -> None:
        self.run.log(scalars, step=step)

    def finish(self, failed: bool) -> None:
        self.run.finish(exit_code=1 if failed else 0)


class MlflowTracker(Tracker):
    package, extra = "mlflow", "mlflow"

    def open(self) -> None:
        from mlflow.tracking import MlflowClient

        uri = os.environ.get("MLFLOW_TRACKING_URI")
        if not uri:  # no server configured: a local file store in the run (MLflow 3 wants it opted into)
            uri = (self.run_dir / "mlruns").resolve().as_uri()
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        self.client = MlflowClient(tracking_uri=uri)
        name = os.environ.get("MLFLOW_EXPERIMENT_NAME", "infoprompt")
        experiment = self.client.get_experiment_by_name(name)
        experiment_id = experiment.experiment_id if experiment else self.client.create_experiment(name)
        self.run_id = self.client.create_run(experiment_id, run_name=self.name).info.run_id
        from mlflow.entities import Param

        params = [Param(k, json.dumps(v, default=str)[:500]) for k, v in sorted(self.config.items())]
        self.client.log_batch(self.run_id, params=params)

    def log_scalars(self, scalars: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(k, v, now, step) for k, v in scalars.items() if math.isfinite(v)]
        self.client.log_batch(self.run_id, metrics=metrics)

    def finish(self, failed: bool) -> None:
        self.client.set_terminated(self.run_id, status="FAILED" if failed else "FINISHED")


BACKENDS: dict[str, type[Tracker]] = {"tensorboard": TensorBoardTracker, "wandb": WandbTracker,
                                      "mlflow": MlflowTracker}


def check_report_to(value: str | list[str] | tuple[str, ...] | None) -> list[str]:
    """The backend names of `--report-to` ('none' or empty: none), each known and installed; else ConfigError."""
    names = value.split(",") if isinstance(value, str) else list(value or [])
    names = [n.strip() for n in names if n.strip() and n.strip() != "none"]
    for name in names:
        if name not in BACKENDS:
            raise ConfigError(f"--report-to: unknown backend '{name}' (choose from: {', '.join(BACKENDS)}, none)")
        backend = BACKENDS[name]
        if importlib.util.find_spec(backend.package) is None:
            raise ConfigError(f"--report-to {name} needs the '{backend.package}' package "
                              f"(pip install 'infoprompt[{backend.extra}]')")
    return list(dict.fromkeys(names))


class Trackers:
    """The backends of one run; `attach(log)` gives a log that also forwards each record to them."""

    def __init__(self, trackers: list[Tracker]):
        self.trackers = trackers

    def attach(self, log) -> _Forwarding:
        return _Forwarding(log, self)

    def write(self, record: dict) -> None:
        scalars = record_scalars(record)
        if scalars:
            for tracker in self.trackers:
                tracker.log(scalars, int(record.get("step", 0)))

    def close(self) -> None:
        failed = sys.exc_info()[0] is not None  # closed from the loop's `finally`: an exception is in flight
        for tracker in self.trackers:
            tracker.close(failed)


class _Forwarding:
    """The run's own log, with every record also sent to the trackers."""

    def __init__(self, log, trackers: Trackers):
        self.log, self.trackers = log, trackers

    def write(self, record: dict) -> None:
        self.log.write(record)
        self.trackers.write(record)

    def close(self) -> None:
        try:
            self.trackers.close()
        finally:
            self.log.close()


def make_trackers(report_to: str | list[str] | None, run_dir: Path, name: str, config: dict) -> Trackers | None:
    """The trackers `--report-to` names (None when it names none)."""
    names = check_report_to(report_to)
    return Trackers([BACKENDS[n](run_dir, name, config) for n in names]) if names else None
