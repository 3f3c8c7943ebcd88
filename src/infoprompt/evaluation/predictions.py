"""What `infoprompt predict` reads and writes: every input record accounted for, one output row per
prediction, in input order, each carrying its source (`file:line`, plus the mention or answer option
for formats with several examples per line), the input text, the label and every label's probability.

Output format by the `--output` file's extension: `.tsv`/`.txt` (tab-separated), `.csv`, `.jsonl`/`.json`
(one JSON object per line). Written atomically, so a failed write leaves no half file.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from infoprompt.atomic_files import atomic_write_bytes
from infoprompt.data.custom import rows_to_examples
from infoprompt.data.example import Example
from infoprompt.data.frames import frame_examples, is_rows, text_rows_task
from infoprompt.data.readers import BadRowPolicy, read_table
from infoprompt.data.spans import prediction_examples
from infoprompt.data.superglue import SUPERGLUE_FILE_TASKS, read_superglue_file
from infoprompt.data.tasks import TaskSpec
from infoprompt.errors import ConfigError, DataError

OUTPUT_FORMATS = {".tsv": "tsv", ".txt": "tsv", ".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl"}


@dataclass
class PredictionInput:
    """The examples to predict and the bookkeeping that proves no record went missing."""

    path: Path | str  # a file, or "rows" for in-memory data (DataFrame, Dataset, list of dicts)
    examples: list[Example]
    skipped: list[str] = field(default_factory=list)  # one message per bad record skipped (--skip-bad-rows)

    def summary(self) -> dict:
        return {"input": str(self.path), "predictions": len(self.examples), "skipped_rows": len(self.skipped)}


def check_output_path(output: str | Path | None) -> Path | None:
    """Refuse an unusable `--output` before any work: a directory, or an extension with no format."""
    if output is None:
        return None
    path = Path(output)
    if path.is_dir():
        raise ConfigError(f"--output {path}: is a directory; give a file name ending in "
                          f"{', '.join(sorted(OUTPUT_FORMATS))}")
    if path.suffix.lower() not in OUTPUT_FORMATS:
        raise ConfigError(f"--output {path}: unknown format '{path.suffix}' (use {', '.join(sorted(OUTPUT_FORMATS))})")
    return path


def read_prediction_input(task: TaskSpec, path: str | Path, policy: BadRowPolicy) -> PredictionInput:
    """Unlabelled examples from a file in the task's own format (or in-memory rows: a DataFrame, a
    Dataset or a list of dicts); an input with no example is an error."""
    if is_rows(path):
        examples = frame_examples(path, "rows", text_rows_task(task), policy, labelled=False)
        return PredictionInput("rows", examples, list(policy.skipped))
    path = Path(path)
    examples = prediction_examples(task, path, policy)  # tasks whose examples carry entity spans
    if examples is None and task.name in SUPERGLUE_FILE_TASKS:  # SuperGLUE's release JSONL, labels ignored
        examples = read_superglue_file(path, SUPERGLUE_FILE_TASKS[task.name], policy, labelled=False)
    if examples is None:
        examples = rows_to_examples(read_table(path, policy, header=task.header), task, path, policy, labelled=False)
    skipped = [m for m in policy.skipped if m.startswith(f"{path}:")]
    if not examples:
        why = f"all {len(skipped)} record(s) were skipped as bad" if skipped else "the file holds no rows"
        raise DataError(f"{path}: nothing to predict: {why}")
    return PredictionInput(path, examples, skipped)


def prediction_rows(examples: list[Example], label_names: list[str], probabilities) -> list[dict]:
    """One dict per example, in input order: source, text(s), predicted label, each label's probability."""
    pair = any(e.text_b is not None for e in examples)
    rows = []
    for example, probs in zip(examples, probabilities.tolist()):
        row = {"source": example.source, "text": example.text_a}
        if pair:
            row["text_b"] = example.text_b or ""
        row["prediction"] = label_names[max(range(len(probs)), key=probs.__getitem__)]
        row["probabilities"] = {name: round(p, 6) for name, p in zip(label_names, probs)}
        rows.append(row)
    return rows


def write_predictions(path: Path, rows: list[dict]) -> None:
    """Write prediction rows in the format the extension names (see OUTPUT_FORMATS)."""
    kind = OUTPUT_FORMATS[path.suffix.lower()]
    if kind == "jsonl":
        text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    else:
        labels = list(rows[0]["probabilities"]) if rows else []
        head = [k for k in (rows[0] if rows else {}) if k != "probabilities"]
        buf = io.StringIO()
        writer = csv.writer(buf, delimiter="\t" if kind == "tsv" else ",", lineterminator="\n")
        writer.writerow(head + [f"prob_{name}" for name in labels])
        for row in rows:
            writer.writerow([row[k] for k in head] + [row["probabilities"][name] for name in labels])
        text = buf.getvalue()
    atomic_write_bytes(path, text.encode("utf-8"))
