"""Per-step JSONL log of every named loss term and dev metric (its reader and the learning-curve PNG are
`infoprompt.rundir.read_metrics` and `infoprompt.report.learning_curve`)."""

from __future__ import annotations

from pathlib import Path

from infoprompt.atomic_files import json_text


class JsonlLog:
    """Append-only; each record is flushed so a killed run keeps its log up to the last step."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = path.open("a", encoding="utf-8")

    def write(self, record: dict) -> None:
        self._fh.write(json_text(record, sort_keys=True) + "\n")
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()
