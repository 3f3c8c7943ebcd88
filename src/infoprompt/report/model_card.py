"""README.md in the Hugging Face Hub's model-card format, for every run directory and every export.

The YAML header (written by `huggingface_hub.ModelCardData`) carries base_model, library_name, tags,
pipeline_tag and a model-index with the one reported score; the body says the method, the trainable
parameters, the data and shots, the selection protocol, and the reported score beside the majority rate
with its split (report/headline.py). `api.train` writes one into every run directory and `infoprompt export`
into every export; `infoprompt.export.model_card.push_to_hub` uploads a folder with `huggingface_hub`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from infoprompt.backbones import hub_id
from infoprompt.report.headline import headline, headline_fields, second_line
from infoprompt.rundir import MODEL_CARD as CARD  # CARD: the name export.interop imports

SUMMARY_KEYS = ("task", "method", "reported", "select_on", "honest", "patience", "stopped_early", "selection_split",
                "selected_step", "last_step", "dev", "planned_steps", "reported_rows", "headline")
PROTOCOLS = {
    "dev-split": "a seeded, stratified half of dev selected the kept checkpoint; the other half is reported",
    "test": "dev selected the kept checkpoint; the labelled test split is reported",
    "last": "no selection: the last weights are kept and reported",
    "dev": "legacy, optimistic: dev both selected and is reported",
}


def trainable_parameters(record: dict) -> int:
    """The trainable parameter count a checkpoint holds (from its recorded tensor shapes)."""
    return sum(math.prod(shape) for shape in (record.get("tensor_shapes") or {}).values())


def card_text(record: dict, summary: dict | None = None, *, library: str = "infoprompt",
              usage: str = "", notes: list[str] | tuple[str, ...] = ()) -> str:
    """The model card of a checkpoint `record`; `summary` (api.TrainResult.summary) adds the reported score."""
    from huggingface_hub import ModelCardData

    train = record.get("train_config") or {}
    task = (record.get("task") or {}).get("name", "custom")
    method = record.get("method")
    base = hub_id(record["backbone"]["name"])
    summary = summary or {}
    h = headline_fields(summary) if summary.get("reported") else None
    extra = {"pipeline_tag": "text-classification"}
    if h and h["value"] is not None:
        extra["model-index"] = [{"name": f"{task}-{method}", "results": [{
            "task": {"type": "text-classification"},
            "dataset": {"name": task, "type": task, "split": h["split"]},
            "metrics": [{"type": h["metric"], "value": round(float(h["value"]), 6), "name": f"{h['metric']} "
                         f"({h['split']}, {h['rows']} rows)"},
                        {"type": h["metric"], "value": round(float(h["majority"] or 0.0), 6),
                         "name": "majority-class baseline"}]}]}]
    if h and h["value"] is not None:  # what an export's card repeats (export/interop.write_export_card)
        extra["infoprompt_summary"] = json.loads(json.dumps({k: summary.get(k) for k in SUMMARY_KEYS}, default=str))
    data = ModelCardData(base_model=base, library_name=library,
                         tags=["infoprompt", str(method), "soft-prompt", "parameter-efficient", task], **extra)
    options = record.get("method_config") or {}
    shots = train.get("shots")
    lines = [
        f"# {task} / {method} on {base}", "",
        f"- **Base model:** `{base}` (frozen)",
        f"- **Method:** `{method}` ({', '.join(f'{k}={v}' for k, v in sorted(options.items()))})",
        f"- **Trainable parameters:** {trainable_parameters(record):,}",
        f"- **Data:** task `{task}`, {f'{shots} training shots' if shots else 'all training rows'} "
        f"(seed {train.get('seed', 'n/a')}{', stratified' if train.get('stratified') else ''})",
        f"- **Selection protocol:** `{train.get('select_on', 'dev')}`: "
        f"{PROTOCOLS.get(train.get('select_on', 'dev'), '')}",
    ]
    if h and h["value"] is not None:
        lines += [f"- **Reported score:** {headline(summary)}", f"- {second_line(summary)}"]
    elif record.get("dev_metrics"):
        shown = ", ".join(f"{k} {v:.4f}" for k, v in record["dev_metrics"].items())
        lines.append(f"- **Dev score at the kept step (full dev split):** {shown}")
    if notes:
        lines += ["", "## Reproducing these predictions", "", *[f"- {n}" for n in notes]]
    if usage:
        lines += ["", "## Usage", "", "```python", usage.strip(), "```"]
    return f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(lines) + "\n"


def write_card(folder: str | Path, record: dict, summary: dict | None = None, **kwargs) -> Path:
    """Write `folder/README.md` (atomically)."""
    from infoprompt.atomic_files import atomic_write_bytes

    path = Path(folder) / CARD
    atomic_write_bytes(path, card_text(record, summary, **kwargs).encode("utf-8"))
    return path


def read_card_header(path: str | Path) -> dict:
    """The YAML header of a model card, parsed (what the Hub reads)."""
    import yaml

    text = Path(path).read_text(encoding="utf-8")
    if not text.startswith("---\n"):
        raise ValueError(f"{path}: no YAML header")
    return yaml.safe_load(text[4:text.index("\n---", 4)]) or {}
