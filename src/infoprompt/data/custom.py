"""A task built from the user's own CSV/TSV/JSONL files.

The label set is read from the training file (sorted, so it does not depend on row order); a
label in the dev file that never occurs in training is an error, not a silent drop.
"""

from __future__ import annotations

from pathlib import Path

from infoprompt.data.example import Example
from infoprompt.data.readers import BadRowPolicy, label_text, read_table, require_field
from infoprompt.data.spec import TaskSpec
from infoprompt.errors import ConfigError, DataError


def parse_verbalizer(text: str | None) -> dict[str, str]:
    """Parse `LABEL=word,LABEL=word` into a dict."""
    if not text:
        return {}
    out: dict[str, str] = {}
    for item in text.split(","):
        if "=" not in item:
            raise ConfigError(f"--verbalizer: expected LABEL=word, got '{item}'")
        label, word = item.split("=", 1)
        if not label.strip() or not word.strip():
            raise ConfigError(f"--verbalizer: empty label or word in '{item}'")
        if label.strip() in out:
            raise ConfigError(f"--verbalizer: label '{label.strip()}' is given twice ('{out[label.strip()]}' and "
                              f"'{word.strip()}'); give each label once")
        out[label.strip()] = word.strip()
    return out


def _raw_label(row: dict, field: str, where: str) -> str:
    return label_text(row, field, where)


def make_custom_task(
    train_file: str | Path,
    dev_file: str | Path | None,
    text_fields: list[str],
    label_field: str,
    verbalizer: dict[str, str] | None = None,
    policy: BadRowPolicy | None = None,
    name: str = "custom",
    header: bool = True,
) -> TaskSpec:
    """Scan the training file for the label set and build a TaskSpec that knows its files.

    header=False: headerless CSV/TSV files whose columns are named "0", "1", ... by position."""
    if not 1 <= len(text_fields) <= 2:
        raise ConfigError("--text-fields: give one field, or two for sentence pairs (a,b)")
    policy = policy or BadRowPolicy()
    # Stored resolved: a checkpoint evaluated from another working directory still finds its files.
    train_file = Path(train_file).expanduser().resolve()
    dev_file = Path(dev_file).expanduser().resolve() if dev_file else None
    labels = scan_labels(read_table(train_file, policy, header=header), label_field, train_file, policy)
    splits = {"train": str(train_file)}
    if dev_file:
        splits["dev"] = str(dev_file)
    task = custom_spec(labels, text_fields, label_field, verbalizer, splits, train_file, name)
    task.header = header
    return task


def scan_labels(rows, label_field: str, source, policy: BadRowPolicy) -> list[str]:
    """The sorted label set of training rows ((line, row) from a file, or (where, row) from `data.frames`)."""
    labels: set[str] = set()
    first: dict[str, tuple[str, str]] = {}  # casefolded label -> (label, where it was first seen)
    count = 0
    for line, row in rows:
        count += 1
        where = _where(source, line)
        try:
            label = _raw_label(row, label_field, where)
        except DataError as err:
            policy.handle(str(err))
            continue
        seen, at = first.setdefault(label.casefold(), (label, where))
        if seen != label:  # 'Positive' beside 'positive' would silently become a third class
            raise DataError(f"{where}: field '{label_field}': label '{label}' differs from '{seen}' ({at}) only by "
                            "case; write every label one way")
        labels.add(label)
    if not count:
        raise DataError(f"{source}: no data rows (only a header, or every row skipped as bad)")
    if len(labels) < 2:
        raise DataError(f"{source}: field '{label_field}': need at least 2 distinct labels, found {sorted(labels)}")
    return sorted(labels)


def custom_spec(label_names: list[str], text_fields: list[str], label_field: str, verbalizer: dict[str, str] | None,
                splits: dict[str, str], source, name: str = "custom") -> TaskSpec:
    """The TaskSpec of a custom task whose training rows (named `source` in errors) hold `label_names`."""
    if not 1 <= len(text_fields) <= 2:
        raise ConfigError("--text-fields: give one field, or two for sentence pairs (a,b)")
    verbalizer = verbalizer or {}
    unknown = set(verbalizer) - set(label_names)
    if unknown:
        raise ConfigError(f"--verbalizer: labels {sorted(unknown)} do not occur in {source}")
    return TaskSpec(
        name=name,
        label_names=label_names,
        verbalizer=[verbalizer.get(label, label) for label in label_names],
        metrics=["accuracy", "macro_f1"],
        primary_metric="accuracy",
        pair=len(text_fields) == 2,
        text_fields=list(text_fields),
        label_field=label_field,
        splits=splits,
    )


def _where(source, line) -> str:
    """file:line for file rows; in-memory rows (`data.frames`) carry their full description as `line`."""
    return line if isinstance(line, str) else f"{source}:{line}"


def rows_to_examples(
    rows, task: TaskSpec, path: str | Path, policy: BadRowPolicy, *, labelled: bool = True,
    allow_empty: bool = False,
) -> list[Example]:
    """Convert reader rows into Examples, validating text fields and labels per row.

    allow_empty: an empty text is kept rather than an error (benchmark files that ship empty sentences)."""
    out = []
    for line, row in rows:
        where = _where(path, line)
        try:
            texts = [require_field(row, name, where, allow_empty=allow_empty) for name in task.text_fields]
            label = None
            if labelled:
                raw = _raw_label(row, task.label_field, where)
                if raw not in task.label_names:
                    raise DataError(
                        f"{where}: field '{task.label_field}': unknown label '{raw}' "
                        f"(labels seen in training: {task.label_names})"
                    )
                label = task.label_names.index(raw)
            out.append(Example(texts[0], texts[1] if task.pair else None, label, where))
        except DataError as err:
            policy.handle(str(err))
    return out


def load_custom_split(task: TaskSpec, split: str, policy: BadRowPolicy) -> list[Example]:
    if split not in task.splits:
        raise ConfigError(f"custom task has no '{split}' file (give --{split}-file)")
    path = Path(task.splits[split])
    return require_rows(rows_to_examples(read_table(path, policy, header=task.header), task, path, policy), path,
                        policy)


def require_rows(examples: list[Example], path: Path, policy: BadRowPolicy) -> list[Example]:
    """A split file that yields no example is an error naming the file (a header-only file, or one
    whose every row was skipped), not an empty split discovered later with no file named."""
    if not examples:
        skipped = [m for m in policy.skipped if m.startswith(f"{path}:")]
        why = f"all {len(skipped)} row(s) were skipped as bad" if skipped else "it has no data rows (header only?)"
        raise DataError(f"{path}: no examples: {why}")
    return examples
