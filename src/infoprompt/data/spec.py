"""TaskSpec: everything downstream needs to know about a task (a value; below the task registry and readers)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class TaskSpec:
    """Everything downstream needs to know about a task (serialisable into a checkpoint)."""

    name: str
    label_names: list[str]
    verbalizer: list[str]
    metrics: list[str]
    primary_metric: str
    pair: bool = False
    text_fields: list[str] = field(default_factory=lambda: ["sentence"])
    label_field: str = "label"
    splits: dict[str, str] = field(default_factory=dict)  # custom tasks: split name -> file path
    # True when the loader also serves a labelled "test" split (e.g. SemEval's official test file):
    # training then scores the best checkpoint on it and reports it beside the dev metrics.
    has_test: bool = False
    # Custom tasks: False when the CSV/TSV files have no header row (`--no-header`): columns are then named
    # by position, "0", "1", ... Recorded only when False, so the records of every other task are unchanged.
    header: bool = True

    @property
    def num_labels(self) -> int:
        return len(self.label_names)

    def to_dict(self) -> dict:
        data = asdict(self)
        if data["header"]:
            del data["header"]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> TaskSpec:
        return cls(**data)
