"""Finished runs under a runs directory, as the report and the curve tools see them.

A run is finished when its directory holds result.json (written atomically by the sweep, so a
half-written one never appears). Its flags come from run.json (all `infoprompt train` flags,
defaults filled in); a result.json without run.json falls back to the flags its summary carries.

Score rules, one for every table (`infoprompt report --score`):

- `selected` (default, honest): the reported split's score at the checkpoint the selection split kept
  (`reported.selected` of a summary written since issue 17: the other dev half under `--select-on
  dev-split`, the test split under `test`, the last evaluation under `last`). Older summaries: their
  **test** metrics when they have them (dev chose, test reports), else their **last** dev evaluation
  read from metrics.jsonl; only when neither exists, their best dev score, counted as optimistic.
- `last`: the reported split's score at the last evaluation (older summaries: the log's last evaluation).
- `best-dev`: the old rule, each run's best dev evaluation: optimistic, since that number chose itself.

A score is optimistic when the split that reports it also selected it (`best-dev`, `--select-on dev`,
an older record without a log); tables mark such cells. Which metric: `--metric` if given, else the
task's primary metric as recorded in the run's checkpoint (config.json), else the task registry's,
else accuracy.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from infoprompt.config import method_registry, setting_defaults
from infoprompt.errors import DataError
from infoprompt.registry import Derived
from infoprompt.rundir import CONFIG, RESULT, SPEC, read_metrics

SCORE_RULES = ("selected", "last", "best-dev")
DEFAULT_SCORE_RULE = "selected"
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
        config = self.run_dir / CONFIG
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

    @property
    def reported(self) -> dict | None:
        """The summary's `reported` block (selected and last scores, majority baseline, collapse), if it has one."""
        block = self.summary.get("reported")
        return block if isinstance(block, dict) else None

    @cached_property
    def log(self) -> list[dict]:
        """Every record of the run's metrics log, in order; [] without a log (the one reader, `rundir.read_metrics`:
        a torn last line is skipped, a damaged line elsewhere is a DataError naming it)."""
        return read_metrics(self.run_dir)

    @cached_property
    def evaluations(self) -> list[dict]:
        """The metrics log's eval records, one per step (a replayed step keeps its last record); [] without a log."""
        by_step = {int(entry["step"]): entry for entry in self.log if entry.get("type") == "eval"}
        return [by_step[s] for s in sorted(by_step)]

    def scored(self, metric: str | None = None, rule: str = DEFAULT_SCORE_RULE) -> tuple[float, str, bool]:
        """(score, where it comes from, optimistic?) under `rule` (see the module docstring)."""
        metric = metric or self.primary_metric
        reported = self.reported
        if rule not in SCORE_RULES:
            raise DataError(f"unknown score rule '{rule}' (choose from {', '.join(SCORE_RULES)})")
        if rule == "best-dev":
            return self._pick(self.summary.get("dev") or {}, metric, "dev"), "best dev", True
        if reported is not None:
            optimistic = self.summary.get("honest") is False
            key = "selected" if rule == "selected" else "last"
            return self._pick(reported.get(key) or {}, metric, f"reported.{key}"), _split_name(reported), optimistic
        if rule == "selected" and self.split == "test":
            return self._pick(self.summary["test"], metric, "test"), "test", False
        if self.evaluations:
            return self._pick(self.evaluations[-1].get("metrics") or {}, metric, "last eval"), "dev (last)", False
        return self._pick(self.summary.get("dev") or {}, metric, "dev"), "best dev", True

    def _pick(self, scores: dict, metric: str, where: str) -> float:
        if metric not in scores:
            raise DataError(f"{self.run_dir / RESULT}: no '{metric}' in its {where} metrics (has {sorted(scores)})")
        return float(scores[metric])

    def score(self, metric: str | None = None, rule: str = DEFAULT_SCORE_RULE) -> float:
        """The run's score under `rule` (default: the honest one; see the module docstring)."""
        return self.scored(metric, rule)[0]

    @property
    def collapsed(self) -> bool | None:
        """True when the reported predictions put >= 95 % of examples in one class; None when the run did not record it."""
        reported = self.reported
        return bool(reported["collapsed"]) if reported is not None and "collapsed" in reported else None

    @property
    def predicted_share(self) -> float | None:
        reported = self.reported
        return reported.get("predicted_share") if reported is not None else None

    def majority(self, metric: str | None = None) -> float | None:
        """What always predicting the majority class scores on the run's reported split (None: not recorded and
        the task's data cannot be read here)."""
        metric = metric or self.primary_metric
        reported = self.reported
        if reported is not None:
            value = ((reported.get("majority") or {}).get("metrics") or {}).get(metric)
            return None if value is None else float(value)
        return data_majority(self.task, "test" if self.split == "test" else "dev", self.args.get("data_dir"), metric)

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


# From the method entries (infoprompt.methods.registry: display, row, ablations), read when a label is made.
METHOD_NAMES: Mapping[str, str] = Derived(lambda: method_registry().report_names())  # method -> its row label
METHOD_ORDER: Mapping[str, int] = Derived(  # the paper's row order: baselines first, InfoPrompt last
    lambda: {m: i for i, m in enumerate(method_registry().report_rows())})
ABLATION_NAMES: Mapping[str, str] = Derived(
    lambda: {name: a.label if a else "" for name, (_, a) in method_registry().ablations().items()})


def variant_label(record: RunRecord, keys: list[str]) -> str:
    """'InfoPrompt', 'InfoPrompt γ=0', 'WARP lr=0.01': the method plus the varying flags that are not its default."""
    defaults = setting_defaults()
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
    index = METHOD_ORDER[method] if method in METHOD_ORDER else len(METHOD_ORDER)
    ablation = str(record.args.get("ablation", "none"))
    ablation_index = list(ABLATION_NAMES).index(ablation) if ablation in ABLATION_NAMES else len(ABLATION_NAMES)
    return (index, method, ablation_index, label)


def _split_name(reported: dict) -> str:
    split = str(reported.get("split") or "dev")
    return "test" if split.partition(" ")[0] == "test" else ("dev half" if "half" in split else "dev")


_MAJORITY_CACHE: dict[tuple, float | None] = {}


def data_majority(task: str, split: str, data_dir: str | None, metric: str) -> float | None:
    """The majority-class score of a task's split read from its data (for records made before summaries held it);
    None when the task or its files are not available here."""
    key = (task, split, data_dir, metric)
    if key not in _MAJORITY_CACHE:
        try:
            from infoprompt.data.tasks import get_task, load_split, resolve_data_dir
            from infoprompt.evaluation.metrics import majority_baseline

            spec = get_task(task)
            folder = resolve_data_dir(data_dir if data_dir and Path(str(data_dir)).is_dir() else None)
            if folder is None:
                raise FileNotFoundError("no data folder")
            examples = load_split(spec, split, folder)
            groups = [getattr(e, "group", None) for e in examples]
            baseline = majority_baseline([metric], [e.label for e in examples], groups if any(groups) else None)
            _MAJORITY_CACHE[key] = float(baseline["metrics"][metric])
        except Exception:  # unknown task, no files here, a metric the task lacks: the reference stays blank
            _MAJORITY_CACHE[key] = None
    return _MAJORITY_CACHE[key]
