"""What `infoprompt predict` reads and writes: every input record accounted for, one output row per
prediction, in input order, each carrying its source (`file:line`, plus the mention or answer option
for formats with several examples per line), the input text, the label and every label's probability.

Output format by the `--output` file's extension: `.tsv`/`.txt` (tab-separated), `.csv`, `.jsonl`/`.json`
(one JSON object per line). Written atomically, so a failed write leaves no half file.

Streaming (`stream_prediction_input`, `PredictionWriter`): CSV/TSV/JSONL inputs are read, scored and
written CHUNK rows at a time, in input order, so memory is bounded whatever the input's size (formats
with spans, SemEval and SuperGLUE release files are read whole). An input whose last line has no line
break (a half-written row?), a FIFO or device, and an `--output` that resolves to the input or into a
run directory are refused before anything is scored.
"""

from __future__ import annotations

import csv
import io
import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from infoprompt.atomic_files import atomic_write_bytes, check_output_file, fsync_dir, make_temp
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


def check_output_path(output: str | Path | None, inputs: tuple = ()) -> Path | None:
    """Refuse an unusable `--output` before any work: a directory, an extension with no format, the input
    itself or a checkpoint among `inputs` (symlinks followed), or a file inside a run directory."""
    if output is None:
        return None
    path = Path(output)
    check_output_file(path, [Path(p) for p in inputs if isinstance(p, (str, Path))])
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


CHUNK = 1024  # rows read, scored and written at a time


def check_input_file(path: Path) -> None:
    """A prediction input is a regular file whose last line ends in a line break: a FIFO or device would be
    read once and cannot be checked, and a last line without a break may be a row still being written."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror or err})") from None
    if stat.S_ISDIR(info.st_mode):
        return  # the readers name it
    if not stat.S_ISREG(info.st_mode):
        raise DataError(f"{path}: is not a regular file (a FIFO, socket or device); save the rows to a file first")
    if info.st_size == 0:
        return
    try:
        with open(path, "rb") as handle:
            handle.seek(-1, os.SEEK_END)
            if handle.read(1) in (b"\n", b"\r"):
                return
            handle.seek(0)
            lines = 1 + sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror or err})") from None
    raise DataError(f"{path}:{lines}: the last line does not end in a line break (a row still being written?); "
                    "nothing was predicted: add the line break if the row is complete")


def stream_prediction_input(task: TaskSpec, path, policy: BadRowPolicy,
                            chunk: int | None = None) -> Iterator[list[Example]]:
    """The examples of `read_prediction_input`, `chunk` at a time for CSV/TSV/JSONL (bounded memory), at
    once for in-memory rows and for the formats read whole. Raises DataError if no example came out."""
    if is_rows(path):
        yield read_prediction_input(task, path, policy).examples
        return
    path = Path(path)
    check_input_file(path)
    whole = prediction_examples(task, path, policy)
    if whole is None and task.name in SUPERGLUE_FILE_TASKS:
        whole = read_superglue_file(path, SUPERGLUE_FILE_TASKS[task.name], policy, labelled=False)
    if whole is not None:
        yield _require_examples(path, whole, policy)
        return
    rows, seen, chunk = read_table(path, policy), 0, chunk or CHUNK
    while True:
        block = list(islice(rows, chunk))
        if not block:
            break
        examples = rows_to_examples(block, task, path, policy, labelled=False)
        seen += len(examples)
        if examples:
            yield examples
    if not seen:
        _require_examples(path, [], policy)


def _require_examples(path: Path, examples: list[Example], policy: BadRowPolicy) -> list[Example]:
    if not examples:
        skipped = [m for m in policy.skipped if m.startswith(f"{path}:")]
        why = f"all {len(skipped)} record(s) were skipped as bad" if skipped else "the file holds no rows"
        raise DataError(f"{path}: nothing to predict: {why}")
    return examples


class PredictionWriter:
    """Prediction rows written as they are scored, to a temporary file beside the output that is renamed
    over it at the end (`commit`): a failed or interrupted run leaves no half file and the old one intact."""

    def __init__(self, path: Path):
        self.path, self.kind = path, OUTPUT_FORMATS[path.suffix.lower()]
        fd, self.tmp = make_temp(path)
        self.handle = os.fdopen(fd, "w", encoding="utf-8", newline="")
        self.writer = None if self.kind == "jsonl" else csv.writer(self.handle, delimiter="\t" if self.kind == "tsv"
                                                                   else ",", lineterminator="\n")
        self.head: list[str] | None = None
        self.count = 0

    def write(self, rows: list[dict]) -> None:
        for row in rows:
            if self.writer is None:
                self.handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            else:
                if self.head is None:
                    self.head = [k for k in row if k != "probabilities"]
                    self.labels = list(row["probabilities"])
                    self.writer.writerow(self.head + [f"prob_{name}" for name in self.labels])
                self.writer.writerow([row.get(k, "") for k in self.head]
                                     + [row["probabilities"][name] for name in self.labels])
        self.count += len(rows)
        self.handle.flush()

    def commit(self) -> None:
        if self.writer is not None and self.head is None:
            self.writer.writerow([])
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()
        os.replace(self.tmp, self.path)
        fsync_dir(self.path.parent)

    def abort(self) -> None:
        if not self.handle.closed:
            self.handle.close()
        if os.path.exists(self.tmp):
            os.unlink(self.tmp)
