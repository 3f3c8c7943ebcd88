"""Which checkpoint a run keeps and which number it reports: the selection protocol (issue 17).

A score measured on the split that also picked the checkpoint chose itself: best-epoch selection on
the reported dev set inflated the committed few-shot averages by 1.5 to 3.7 points. So the split
that selects and the split that is reported never coincide:

- `dev-split` (the default: honest on every task, and it gives early stopping a split to watch): a
  seeded, stratified half of dev selects the checkpoint; the other half is reported.
- `test`: the full dev split selects; the task's labelled test split is reported (tasks with one).
- `few-shot` (LM-BFF, Gao, Fisch & Chen 2021): a user with k examples per class has no large labelled dev
  set, so the run's "dev" is a seeded draw of k per class from the training pool, disjoint from the training
  draw (`data.sampling.few_shot_draws`, or LM-BFF's official draws, `data.lmbff`); it selects, and the full
  test split (the full dev split where the task has no test split) is scored once at the end and reported.
- `last`: nothing is selected; the last evaluation is kept and reported (no early stopping).
- `dev`: legacy and optimistic: the full dev split selects and is reported. Kept only so results
  committed before issue 17 regenerate; summaries say `"honest": false` and reports label it.

Every evaluation record keeps its full-dev `metrics` (the learning curve) and, under `dev-split`,
the metrics of each half (`selection`, `report`), plus the predicted-class share of the reported
split (`predicted`), so the selected and last scores and a collapse can be read back from the log.
Early stopping: after `patience` evaluations without a strict improvement on the selection split
the run stops (0: never).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from infoprompt.errors import ConfigError
from infoprompt.evaluation.metrics import compute_metrics, majority_baseline, prediction_share

SELECT_ON = ("dev-split", "test", "few-shot", "last", "dev")
DEFAULT_SELECT_ON = "dev-split"
DEFAULT_PATIENCE = 5  # evaluations; the README's 30-epoch command peaks within a few epochs (issue 17)
HONEST = {"dev-split": True, "test": True, "few-shot": True, "last": True, "dev": False}


def resolve_patience(select_on: str, patience: int | None) -> int:
    """The patience a run uses: the given one, else DEFAULT_PATIENCE where something is selected, else 0."""
    if select_on not in SELECT_ON:
        raise ConfigError(f"--select-on must be one of {', '.join(SELECT_ON)}, got '{select_on}'")
    if patience is None:
        return 0 if select_on == "last" else DEFAULT_PATIENCE
    if patience < 0:
        raise ConfigError(f"--patience must be >= 0, got {patience}")
    if patience and select_on == "last":
        raise ConfigError("--patience needs a selection split; --select-on last selects nothing")
    return patience


@dataclass(frozen=True)
class DevSplit:
    """Row indices of dev's two halves: `selection` picks the checkpoint, `report` is reported."""

    selection: list[int]
    report: list[int]


def split_dev(labels: Sequence[int], seed: int, groups: Sequence[str | None] | None = None) -> DevSplit:
    """A seeded half of dev for selection, the rest for the report; stratified by label where every class
    has two examples, and by group (e.g. MultiRC's question) where examples carry one, so a group's
    answers are never split between the halves (its exact match needs them all)."""
    from sklearn.model_selection import train_test_split

    n = len(labels)
    if n < 2:
        raise ConfigError(f"--select-on dev-split needs at least 2 dev examples, got {n}")
    if groups is not None and any(g is not None for g in groups):
        names = sorted({str(g) for g in groups})
        if len(names) < 2:
            raise ConfigError("--select-on dev-split needs at least 2 dev groups")
        chosen, _ = train_test_split(names, test_size=0.5, random_state=seed)
        chosen = set(chosen)
        selection = [i for i in range(n) if str(groups[i]) in chosen]
    else:
        counts = {c: list(labels).count(c) for c in set(labels)}
        stratify = list(labels) if min(counts.values()) >= 2 else None
        selection, _ = train_test_split(list(range(n)), test_size=0.5, random_state=seed, stratify=stratify)
        selection = sorted(selection)
    chosen = set(selection)
    return DevSplit(selection, [i for i in range(n) if i not in chosen])


class Protocol:
    """Scores one evaluation's predictions on the protocol's splits and decides selection and stopping."""

    def __init__(self, select_on: str, patience: int | None, labels: Sequence[int], metrics: list[str],
                 primary_metric: str, seed: int, groups: Sequence[str | None] | None = None):
        self.select_on = select_on
        self.patience = resolve_patience(select_on, patience)
        self.labels, self.metrics, self.primary = list(labels), list(metrics), primary_metric
        self.groups = list(groups) if groups is not None and any(g is not None for g in groups) else None
        self.split = split_dev(self.labels, seed, self.groups) if select_on == "dev-split" else None

    def _subset(self, rows: list[int], predictions: Sequence[int]) -> tuple[list, list, list | None]:
        groups = [self.groups[i] for i in rows] if self.groups else None
        return [self.labels[i] for i in rows], [predictions[i] for i in rows], groups

    def score(self, predictions: Sequence[int]) -> dict:
        """Record fields for one evaluation: full-dev `metrics`, and per half under dev-split."""
        fields = {"metrics": compute_metrics(self.metrics, self.labels, predictions, self.groups)}
        reported = list(predictions)
        if self.split is not None:
            for name, rows in (("selection", self.split.selection), ("report", self.split.report)):
                fields[name] = compute_metrics(self.metrics, *self._subset(rows, predictions))
            reported = [predictions[i] for i in self.split.report]
        fields["predicted"] = prediction_share(reported)
        return fields

    def selection_value(self, record: dict) -> float | None:
        """The number selection compares (None under `last`, which selects nothing)."""
        if self.select_on == "last":
            return None
        return float(record.get("selection", record["metrics"])[self.primary])

    def is_better(self, record: dict, best: dict | None) -> bool:
        """Strictly better on the selection split than the kept record (always true under `last`)."""
        if best is None or self.select_on == "last":
            return True
        value, kept = self.selection_value(record), self.selection_value(best)
        return not math.isnan(value) and (math.isnan(kept) or value > kept)

    def should_stop(self, history: list[dict]) -> bool:
        """True after `patience` evaluations without a strict improvement on the selection split."""
        evals = [r for r in history if r.get("type") == "eval"]
        if not self.patience or not evals:
            return False
        best_index = 0
        for i in range(1, len(evals)):
            if self.is_better(evals[i], evals[best_index]):
                best_index = i
        return len(evals) - 1 - best_index >= self.patience

    def reference(self) -> dict:
        """The majority-class baseline of the reported dev split (every metric, the class and its rate)."""
        rows = self.split.report if self.split is not None else list(range(len(self.labels)))
        labels, _, groups = self._subset(rows, [0] * len(self.labels))
        return majority_baseline(self.metrics, labels, groups)

    def dev_reference(self) -> dict:
        """The majority-class baseline of the full dev split (the learning curve's split)."""
        return majority_baseline(self.metrics, self.labels, self.groups)

    def split_names(self) -> tuple[str | None, str]:
        """(selection split, reported dev split) as words for the summary."""
        if self.split is not None:
            return (f"dev (seeded stratified half, n={len(self.split.selection)})",
                    f"dev (the other half, n={len(self.split.report)})")
        n = len(self.labels)
        return {"last": (None, f"dev (n={n})"), "dev": (f"dev (n={n})", f"dev (n={n})"),
                "test": (f"dev (n={n})", "test"),
                "few-shot": (f"dev draw (n={n})", "test, else the full dev split (scored at the end)")}[self.select_on]


def report_metrics(record: dict) -> dict:
    """The reported dev split's metrics of an evaluation record (the report half under dev-split)."""
    return record.get("report", record["metrics"])


def selection_record(protocol: Protocol, history: list[dict], best_step: int, total_steps: int) -> dict:
    """The metrics-log record that closes a run: protocol, selected and last scores side by side."""
    evals = [r for r in history if r.get("type") == "eval"]
    if not evals:
        return {"type": "selection", "select_on": protocol.select_on, "honest": HONEST[protocol.select_on]}
    last = evals[-1]
    selected = next((r for r in evals if r["step"] == best_step), last)
    selection_split, report_split = protocol.split_names()
    return {
        "type": "selection", "step": last["step"], "select_on": protocol.select_on,
        "honest": HONEST[protocol.select_on], "patience": protocol.patience,
        "stopped_early": last["step"] < total_steps, "selection_split": selection_split,
        "report_split": report_split, "selected_step": selected["step"], "last_step": last["step"],
        "selected": report_metrics(selected), "last": report_metrics(last),
        "selected_predicted": selected.get("predicted"), "last_predicted": last.get("predicted"),
        "majority": protocol.reference(), "dev_majority": protocol.dev_reference()["metrics"],
    }


def scored(names: list[str], labels: Sequence[int], predictions: Sequence[int],
           groups: Sequence[str | None] | None = None) -> dict:
    """Metrics and the predicted-class share of one scoring pass (e.g. the test split at the end)."""
    groups = groups if groups is not None and any(g is not None for g in groups) else None
    return {"metrics": compute_metrics(names, labels, predictions, groups), "predicted": prediction_share(predictions)}


def summary_fields(closing: dict, label_names: list[str], test: dict | None = None) -> dict:
    """The run summary's protocol fields: what selected, what is reported, the selected and last scores side
    by side, the majority-class baseline of the reported split, and whether the reported predictions collapsed.

    `test` ({"selected": scored(...), "last": scored(...), "majority": majority_baseline(...)}) replaces the
    reported dev numbers on tasks with a labelled test split (and under the few-shot protocol, where its
    optional "split" names the reported split and its size): dev then only selects.
    """
    def name(predicted: dict | None) -> str | None:
        label = (predicted or {}).get("class")
        return label_names[label] if isinstance(label, int) and 0 <= label < len(label_names) else None

    if test is not None:
        split, selected, last = test.get("split", "test"), test["selected"]["metrics"], test["last"]["metrics"]
        sel_pred, last_pred, reference = test["selected"]["predicted"], test["last"]["predicted"], test["majority"]
    else:
        split, selected, last = closing.get("report_split"), closing.get("selected"), closing.get("last")
        sel_pred, last_pred = closing.get("selected_predicted"), closing.get("last_predicted")
        reference = closing.get("majority") or {"class": None, "rate": None, "metrics": {}}
    fields = {k: closing.get(k) for k in ("select_on", "honest", "patience", "stopped_early", "selection_split",
                                         "selected_step", "last_step", "dev_majority")}
    fields["reported"] = {
        "split": split, "selected": selected, "last": last,
        "majority": {"class": name(reference), "rate": reference["rate"], "metrics": reference["metrics"]},
        "collapsed": bool((sel_pred or {}).get("collapsed")), "predicted_class": name(sel_pred),
        "predicted_share": (sel_pred or {}).get("share"),
        "last_collapsed": bool((last_pred or {}).get("collapsed")), "last_predicted_share": (last_pred or {}).get("share"),
    }
    return fields
