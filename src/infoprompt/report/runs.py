"""Finished runs under a runs directory, as the report and the curve tools see them.

A run is finished when its directory holds result.json (written atomically by the sweep, so a
half-written one never appears). Its flags come from run.json (all `infoprompt train` flags,
defaults filled in); a result.json without run.json falls back to the flags its summary carries.

Score rule, one for every table: a run's **test** metrics when its summary has them (tasks with a
labelled test split, e.g. SemEval, score the dev-chosen checkpoint on test), else its **best
dev** metrics. Which metric: `--metric` if given, else the task's primary metric as recorded in
the run's checkpoint (config.json), else the task registry's, else accuracy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from infoprompt.errors import DataError

RESULT, SPEC, CHECKPOINT_CONFIG, METRICS_LOG = "result.json", "run.json", "config.json", "metrics.jsonl"
# Flags that never make two runs different conditions: where/how a run executed, not what it did.
NOT_A_CONDITION = frozenset({"seed", "data_dir", "device", "eval_batch_size", "no_cache", "save_every", "output",
                             "json", "quiet", "resume", "skip_bad_rows"})
SUMMARY_FLAGS = ("task", "method", "seed", "shots", "n_prompts", "backbone")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: corrupted JSON ({err})") from None


@dataclass
class RunRecord:
    """One finished run: its directory, its flags and its summary."""

    run_dir: Path
    args: dict[str, Any]
    summary: dict[str, Any]
    metric_override: str | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.run_dir.name

    @property
    def task(self) -> str:
        return str(self.summary.get("task") or self.args.get("task"))

    @property
    def method(self) -> str:
        return str(self.summary.get("method") or self.args.get("method"))

    @property
    def seed(self) -> int:
        return int(self.args.get("seed", self.summary.get("seed", 0)))

    @property
    def n_prompts(self) -> int:
        return int(self.args.get("n_prompts", self.summary.get("n_prompts", 4)))

    @property
    def shots(self) -> int | None:
        shots = self.args.get("shots", self.summary.get("shots"))
        return int(shots) if shots else None

    @property
    def split(self) -> str:
        """Where the run's score comes from: "test" if its summary has test metrics, else "dev"."""
        return "test" if isinstance(self.summary.get("test"), dict) and self.summary["test"] else "dev"

    @cached_property
    def primary_metric(self) -> str:
        if self.metric_override:
            return self.metric_override
        config = self.run_dir / CHECKPOINT_CONFIG
        if config.is_file():
            try:
                metric = json.loads(config.read_text(encoding="utf-8")).get("task", {}).get("primary_metric")
            except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
                metric = None
            if metric:
                return str(metric)
        try:
            from infoprompt.data.tasks import get_task

            return get_task(self.task).primary_metric
        except Exception:  # unknown or custom task: fall back to the summary's own metrics
            dev = self.summary.get("dev") or {}
            return "accuracy" if "accuracy" in dev or not dev else sorted(dev)[0]

    def score(self, metric: str | None = None) -> float:
        """The run's score under the module's rule (test if present, else best dev)."""
        metric = metric or self.primary_metric
        scores = self.summary.get(self.split) or {}
        if metric not in scores:
            raise DataError(f"{self.run_dir / RESULT}: no '{metric}' in its {self.split} metrics "
                            f"(has {sorted(scores)})")
        return float(scores[metric])

    def condition(self, exclude: frozenset[str] | set[str] = frozenset()) -> dict[str, Any]:
        """The flags that define this run's experimental condition (everything but seed and execution details)."""
        return {k: v for k, v in self.args.items() if k not in NOT_A_CONDITION and k not in exclude}


def load_runs(runs_dir: str | Path, metric: str | None = None) -> tuple[list[RunRecord], list[Path]]:
    """(finished runs sorted by directory, run directories without a result yet) under `runs_dir`, at any depth."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        raise DataError(f"{runs_dir}: runs directory not found")
    records, unfinished = [], []
    for spec_or_result in sorted({p.parent for name in (RESULT, SPEC) for p in runs_dir.rglob(name)}):
        run_dir = spec_or_result
        result_path, spec_path = run_dir / RESULT, run_dir / SPEC
        if not result_path.is_file():
            unfinished.append(run_dir)
            continue
        summary = _read_json(result_path)
        if not isinstance(summary, dict):
            raise DataError(f"{result_path}: expected a JSON object")
        if spec_path.is_file():
            spec = _read_json(spec_path)
            args = spec.get("args") if isinstance(spec, dict) else None
            if not isinstance(args, dict):
                raise DataError(f"{spec_path}: field 'args' missing")
        else:
            args = {k: summary.get(k) for k in SUMMARY_FLAGS}
        records.append(RunRecord(run_dir, dict(args), summary, metric))
    return records, unfinished


def varying_keys(records: list[RunRecord], exclude: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """Condition flags whose value differs between some of `records` (what a row label must show)."""
    values: dict[str, set[str]] = {}
    for record in records:
        for key, value in record.condition(exclude).items():
            values.setdefault(key, set()).add(json.dumps(value, sort_keys=True))
    keys = {k for k, v in values.items() if len(v) > 1}
    keys |= {k for r in records for k in values if k not in r.condition(exclude)}  # missing in some runs
    return sorted(keys)


METHOD_NAMES = {"finetune": "Finetuning", "adapter": "Adapter", "bitfit": "BitFit", "lora": "LoRA",
                "prefix": "Prefix tuning", "prompt": "Prompt tuning", "warp": "WARP", "idpg": "IDPG",
                "infoprompt": "InfoPrompt"}
METHOD_ORDER = list(METHOD_NAMES)  # the paper's row order: baselines first, InfoPrompt last
ABLATION_NAMES = {"none": "", "no-head": "γ=0", "no-rep": "β=0", "no-mi": "γ=β=0"}


def variant_label(record: RunRecord, keys: list[str]) -> str:
    """'InfoPrompt', 'InfoPrompt γ=0', 'WARP lr=0.01': the method plus the varying flags that are not its default."""
    from infoprompt.sweep.flags import train_flags

    defaults = {dest: flag.default for dest, flag in train_flags().items()}
    parts = [METHOD_NAMES.get(record.method, record.method)]
    for key in keys:
        if key == "method":
            continue
        value = record.args.get(key)
        if key == "ablation":
            parts.append(ABLATION_NAMES.get(str(value), f"ablation={value}"))
        elif value != defaults.get(key, object()):
            parts.append(f"{key}={value}")
    return " ".join(p for p in parts if p)


def variant_sort_key(record: RunRecord, label: str) -> tuple:
    """Paper order: Finetuning, Adapter, (Prompt tuning), WARP, IDPG, InfoPrompt, then γ=0, β=0, γ=β=0."""
    method = record.method
    index = METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER)
    ablation = str(record.args.get("ablation", "none"))
    ablation_index = list(ABLATION_NAMES).index(ablation) if ablation in ABLATION_NAMES else len(ABLATION_NAMES)
    return (index, method, ablation_index, label)
