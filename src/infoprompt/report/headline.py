"""One headline number per run, named plainly, and the figures beside it said for what they are.

The run summary holds several scores of one run: the reported split at the kept step (the headline), the
full dev split at the kept step (`dev` in the JSON line, `dev_metrics` in config.json: the same numbers),
and the last evaluation. The human summary, the model card and the JSON line's `headline` all come from
here, so they name the same number the same way.
"""

from __future__ import annotations

import re


def report_rows(summary: dict) -> int | None:
    """How many rows the reported score is over (the split's name says it under dev-split)."""
    if summary.get("reported_rows") is not None:
        return int(summary["reported_rows"])
    found = re.search(r"n=(\d+)", str((summary.get("reported") or {}).get("split") or ""))
    return int(found.group(1)) if found else None


def split_words(summary: dict) -> str:
    """The reported split in words: 'held-back dev', 'test', or 'dev' (legacy: the split also selected)."""
    select_on = summary.get("select_on")
    if select_on == "dev-split":
        return "held-back dev"
    if select_on == "test":
        return "test"
    return "dev"


def headline_fields(summary: dict, metric: str | None = None) -> dict:
    """{metric, value, split, rows, majority, step}: the one score a run reports, with its majority baseline."""
    reported = summary.get("reported") or {}
    selected = reported.get("selected") or {}
    metric = metric or next(iter(selected), None)
    majority = ((reported.get("majority") or {}).get("metrics") or {}).get(metric)
    return {"metric": metric, "value": selected.get(metric), "split": split_words(summary),
            "rows": report_rows(summary), "majority": majority, "step": summary.get("selected_step")}


def headline(summary: dict) -> str:
    """'accuracy on 436 held-back dev rows: 0.7179, majority 0.5092' (+ why the run stopped early, if it did)."""
    h = headline_fields(summary)
    rows = f"{h['rows']} " if h["rows"] is not None else ""
    text = f"{h['metric']} on {rows}{h['split']} rows: {_num(h['value'])}, majority {_num(h['majority'])}"
    if summary.get("stopped_early"):
        planned = summary.get("planned_steps")
        of = f" of {planned}" if planned else ""
        text += (f"; stopped early at step {summary.get('last_step')}{of}: {summary.get('patience')} evaluations "
                 f"without improvement on {summary.get('selection_split')}")
    if not summary.get("honest", True):
        text += " (optimistic: the reported split also selected)"
    return text


def second_line(summary: dict) -> str:
    """The other figures, each named: the full dev split at the kept step, and the last evaluation."""
    h = headline_fields(summary)
    metric = h["metric"]
    full = (summary.get("dev") or {}).get(metric)
    last = ((summary.get("reported") or {}).get("last") or {}).get(metric)
    return (f"also: full dev split at the kept step {summary.get('selected_step')} {_num(full)} (`dev` in --json, "
            f"`dev_metrics` in config.json; it includes the rows that selected); last evaluation (step "
            f"{summary.get('last_step')}) on the same {h['split']} rows {_num(last)}")


def describe_result(summary: dict) -> str:
    """Two lines: the one headline score (reported split, rows, majority baseline, and why the run stopped early
    if it did), then the other figures named for what they are (what `infoprompt train` and a sweep run print)."""
    reported = summary["reported"]
    line = f"{summary['task']} / {summary['method']}: {headline(summary)}"
    if reported["collapsed"]:
        line += f"; COLLAPSED: {reported['predicted_share']:.0%} predicted '{reported['predicted_class']}'"
    kept = "the last evaluation" if summary["select_on"] == "last" else f"selected on {summary['selection_split']}"
    return (line + f"\n  {second_line(summary)}; kept step {kept}; {summary['train_seconds']}s training, "
            f"{summary['wall_seconds']}s in all")


def _num(value) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else "n/a"
