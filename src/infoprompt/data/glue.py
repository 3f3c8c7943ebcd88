"""GLUE SST-2, CoLA, RTE and MRPC from the original GLUE files, or from the Hugging Face hub.

File layout looked up under a data directory D: `D/glue/<task>/...` or `D/<task>/...`.
MRPC is built the way GLUE builds it: train = msr_paraphrase_train.txt minus the ids in
dev_ids.tsv; dev = the rows of msr_paraphrase_train.txt whose ids are in dev_ids.tsv.
"""

from __future__ import annotations

import csv
from pathlib import Path

from infoprompt.data.example import Example
from infoprompt.data.readers import BadRowPolicy, read_delimited, require_field
from infoprompt.data.registry import register_task
from infoprompt.data.spec import TaskSpec
from infoprompt.errors import ConfigError, DataError

HUB_DATASET = "nyu-mll/glue"


def _task_dir(data_dir: Path, name: str) -> Path:
    for candidate in (data_dir / "glue" / name, data_dir / name, data_dir):
        if candidate.is_dir() and any(candidate.iterdir()) and candidate.name == name:
            return candidate
    raise ConfigError(f"no '{name}' folder under {data_dir} (looked for glue/{name} and {name})")


def _label(value: str, names: list[str], where: str) -> int:
    value = value.strip()
    if value in names:
        return names.index(value)
    if value.isdigit() and int(value) < len(names):
        return int(value)
    raise DataError(f"{where}: field 'label': unknown label '{value}' (expected one of {names})")


def _nonempty(row: dict, name: str, where: str) -> str:
    return require_field(row, name, where).strip()


def _rows(path: Path, policy: BadRowPolicy, **kwargs):
    for line, row in read_delimited(path, "\t", quoting=csv.QUOTE_NONE, policy=policy, **kwargs):
        yield f"{path}:{line}", row


def _convert(rows, convert, policy: BadRowPolicy) -> list[Example]:
    out = []
    for where, row in rows:
        try:
            out.append(convert(where, row))
        except DataError as err:
            policy.handle(str(err))
    return out


def _hub(name: str, split: str, convert) -> list[Example]:
    """Users with internet: the same examples from the hub's GLUE copy."""
    import datasets

    hub_split = "validation" if split == "dev" else split
    try:
        data = datasets.load_dataset(HUB_DATASET, name, split=hub_split)
    except (OSError, ConnectionError, ValueError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ConfigError(
            f"no data directory given and the hub copy of {HUB_DATASET}/{name} cannot be loaded ({first}); "
            "give --data-dir or set INFOPROMPT_DATA"
        ) from None
    return [convert(f"hub:{HUB_DATASET}/{name}/{hub_split}:{i}", row) for i, row in enumerate(data)]


SST2 = TaskSpec("sst2", ["negative", "positive"], ["terrible", "great"], ["accuracy"], "accuracy")
COLA = TaskSpec(
    "cola", ["unacceptable", "acceptable"], ["wrong", "correct"], ["matthews_corr", "accuracy"],
    "matthews_corr",
)
RTE = TaskSpec(
    "rte", ["entailment", "not_entailment"], ["yes", "no"], ["accuracy"], "accuracy", pair=True,
    text_fields=["sentence1", "sentence2"],
)
MRPC = TaskSpec(
    "mrpc", ["not_equivalent", "equivalent"], ["no", "yes"], ["accuracy", "f1"], "accuracy",
    pair=True, text_fields=["sentence1", "sentence2"],
)


def _load_sst2(split: str, data_dir: Path | None, policy: BadRowPolicy) -> list[Example]:
    def convert(where, row):
        text = _nonempty(row, "sentence", where)
        return Example(text, label=_label(str(row.get("label", "")), SST2.label_names, where), source=where)

    if data_dir is None:
        return _hub("sst2", split, convert)
    path = _task_dir(data_dir, "sst2") / f"{split}.tsv"
    return _convert(_rows(path, policy), convert, policy)


def _load_cola(split: str, data_dir: Path | None, policy: BadRowPolicy) -> list[Example]:
    def convert(where, row):
        text = _nonempty(row, "sentence", where)
        return Example(text, label=_label(str(row.get("label", "")), COLA.label_names, where), source=where)

    if data_dir is None:
        return _hub("cola", split, convert)
    path = _task_dir(data_dir, "cola") / f"{split}.tsv"
    columns = ["source", "label", "original_label", "sentence"]
    return _convert(_rows(path, policy, header=False, columns=columns), convert, policy)


def _load_rte(split: str, data_dir: Path | None, policy: BadRowPolicy) -> list[Example]:
    def convert(where, row):
        return Example(
            _nonempty(row, "sentence1", where), _nonempty(row, "sentence2", where),
            label=_label(str(row.get("label", "")), RTE.label_names, where), source=where,
        )

    if data_dir is None:
        return _hub("rte", split, convert)
    path = _task_dir(data_dir, "rte") / f"{split}.tsv"
    return _convert(_rows(path, policy), convert, policy)


def _load_mrpc(split: str, data_dir: Path | None, policy: BadRowPolicy) -> list[Example]:
    def convert(where, row):
        return Example(
            _nonempty(row, "#1 String", where), _nonempty(row, "#2 String", where),
            label=_label(row.get("Quality", ""), MRPC.label_names, where), source=where,
        )

    if data_dir is None:
        def hub_convert(where, row):
            return Example(row["sentence1"], row["sentence2"], label=int(row["label"]), source=where)

        return _hub("mrpc", split, hub_convert)
    folder = _task_dir(data_dir, "mrpc")
    ids_path = folder / "dev_ids.tsv"
    dev_ids = {
        (row["a"].strip(), row["b"].strip())
        for _, row in read_delimited(ids_path, "\t", header=False, columns=["a", "b"], quoting=csv.QUOTE_NONE)
    }
    if split not in ("train", "dev"):
        raise ConfigError(f"mrpc: unknown split '{split}'")
    want_dev = split == "dev"
    rows = (
        (where, row)
        for where, row in _rows(folder / "msr_paraphrase_train.txt", policy)
        if ((row["#1 ID"].strip(), row["#2 ID"].strip()) in dev_ids) == want_dev
    )
    return _convert(rows, convert, policy)


for _spec, _loader in ((SST2, _load_sst2), (COLA, _load_cola), (RTE, _load_rte), (MRPC, _load_mrpc)):
    register_task(_spec, _loader)
