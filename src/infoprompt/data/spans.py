"""The JSONL span format: tokenised sentences with entity mentions and relation mentions.

One JSON object per line (the format ACE2005 is converted into, and the one for a user's own data):

    {"tokens": ["John", "Smith", "lives", "in", "Boston", "."],
     "entities": [{"start": 0, "end": 2, "type": "PER"}, {"start": 4, "end": 5, "type": "GPE"}],
     "relations": [{"type": "PHYS", "head": {"start": 0, "end": 2}, "tail": {"start": 4, "end": 5}}]}

Spans are token offsets, `start` inclusive and `end` exclusive (Python slicing). Two task kinds read it:

- `typing` (entity typing with gold spans, the paper's "NER"): one example per entity mention,
  labelled with its `type`; the template puts the mask right before the span.
- `relation`: one example per relation mention, labelled with its `type`; `head` is e1 and `tail`
  is e2 (direction matters). Pairs with no relation are listed like any other relation mention
  under a label of your choice (e.g. "NONE"); nothing is generated implicitly.

The sentence text is the tokens joined by single spaces. Every problem is reported as
`file:line: field 'relations[2].head.end': ...` (or counted and skipped with --skip-bad-rows).
"""

from __future__ import annotations

from pathlib import Path

from infoprompt.data.example import Example
from infoprompt.data.readers import BadRowPolicy, read_jsonl
from infoprompt.data.registry import register_file_task
from infoprompt.data.spec import TaskSpec
from infoprompt.errors import ConfigError, DataError

KINDS = {"relation": "relations", "typing": "entities"}  # task kind -> the list each example comes from
TASK_NAMES = {kind: f"custom-{kind}" for kind in KINDS}


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _tokens(row: dict, where: str) -> list[str]:
    tokens = row.get("tokens")
    if tokens is None:
        raise DataError(f"{where}: missing field 'tokens'")
    if not isinstance(tokens, list) or not tokens:
        raise DataError(f"{where}: field 'tokens': expected a non-empty list of strings")
    for k, token in enumerate(tokens):
        if not isinstance(token, str) or not token.strip():
            raise DataError(f"{where}: field 'tokens[{k}]': expected a non-empty string, got {token!r}")
    return tokens


def _span(obj, field: str, n_tokens: int, where: str) -> tuple[int, int]:
    if not isinstance(obj, dict):
        raise DataError(f"{where}: field '{field}': expected an object with 'start' and 'end'")
    for key in ("start", "end"):
        if key not in obj:
            raise DataError(f"{where}: missing field '{field}.{key}'")
        if not _is_int(obj[key]):
            raise DataError(f"{where}: field '{field}.{key}': expected an integer token index, got {obj[key]!r}")
    start, end = obj["start"], obj["end"]
    if start < 0:
        raise DataError(f"{where}: field '{field}.start': {start} is negative")
    if end > n_tokens:
        raise DataError(f"{where}: field '{field}.end': {end} is past the end of 'tokens' ({n_tokens} tokens)")
    if end <= start:
        raise DataError(f"{where}: field '{field}.end': {end} must be greater than start {start} (end is exclusive)")
    return start, end


def _type(obj: dict, field: str, where: str, labelled: bool) -> str | None:
    if "type" not in obj or obj["type"] is None:
        if labelled:
            raise DataError(f"{where}: missing field '{field}.type'")
        return None
    value = obj["type"]
    if not isinstance(value, str) or not value.strip():
        raise DataError(f"{where}: field '{field}.type': expected a non-empty string, got {value!r}")
    return value.strip()


def _char_spans(tokens: list[str]) -> list[tuple[int, int]]:
    """Character [start, end) of each token in " ".join(tokens)."""
    out, pos = [], 0
    for token in tokens:
        out.append((pos, pos + len(token)))
        pos += len(token) + 1
    return out


def _mentions(row: dict, kind: str, where: str) -> list:
    key = KINDS[kind]
    mentions = row.get(key, [])
    if mentions is None:
        mentions = []
    if not isinstance(mentions, list):
        raise DataError(f"{where}: field '{key}': expected a list")
    return mentions


def row_mentions(
    row: dict, kind: str, where: str, *, labelled: bool = True
) -> list[tuple[str, tuple[tuple[int, int], ...], str | None]]:
    """Validate one line and return (text, character spans, type) per mention of the kind."""
    tokens = _tokens(row, where)
    chars = _char_spans(tokens)
    text = " ".join(tokens)
    key = KINDS[kind]
    out = []
    for k, mention in enumerate(_mentions(row, kind, where)):
        field = f"{key}[{k}]"
        if not isinstance(mention, dict):
            raise DataError(f"{where}: field '{field}': expected an object")
        if kind == "typing":
            token_spans = [_span(mention, field, len(tokens), where)]
        else:
            for arg in ("head", "tail"):
                if arg not in mention:
                    raise DataError(f"{where}: missing field '{field}.{arg}'")
            token_spans = [_span(mention[arg], f"{field}.{arg}", len(tokens), where) for arg in ("head", "tail")]
            (s1, e1), (s2, e2) = token_spans
            if (s1, e1) == (s2, e2):
                raise DataError(f"{where}: field '{field}': head and tail are the same span [{s1}, {e1})")
            if s1 < e2 and s2 < e1 and not ((s1 <= s2 and e2 <= e1) or (s2 <= s1 and e1 <= e2)):
                raise DataError(f"{where}: field '{field}': head [{s1}, {e1}) and tail [{s2}, {e2}) cross each other")
        spans = tuple((chars[s][0], chars[e - 1][1]) for s, e in token_spans)
        out.append((text, spans, _type(mention, field, where, labelled)))
    return out


def _read(path: str | Path, kind: str, policy: BadRowPolicy, labelled: bool):
    """Yield (where, field, text, spans, type) per mention; bad lines go through `policy`."""
    if kind not in KINDS:
        raise ConfigError(f"--task-kind: unknown kind '{kind}' (choose from text, {', '.join(KINDS)})")
    path = Path(path)
    if path.suffix.lower() not in (".jsonl", ".json"):
        raise DataError(f"{path}: --task-kind {kind} reads JSON lines (.jsonl), got '{path.suffix}'")
    for line, row in read_jsonl(path, policy):
        where = f"{path}:{line}"
        try:
            mentions = row_mentions(row, kind, where, labelled=labelled)
        except DataError as err:
            policy.handle(str(err))
            continue
        for k, (text, spans, label) in enumerate(mentions):
            yield where, f"{KINDS[kind]}[{k}]", text, spans, label


def read_span_examples(
    path: str | Path, kind: str, policy: BadRowPolicy, label_names: list[str], *, labelled: bool = True
) -> list[Example]:
    """Examples of one kind from a JSONL span file; a type not in `label_names` is a bad row."""
    out = []
    for where, field, text, spans, label in _read(path, kind, policy, labelled):
        label_id = None
        if label is not None and labelled:
            if label not in label_names:
                policy.handle(f"{where}: field '{field}.type': unknown label '{label}' "
                              f"(labels seen in training: {label_names})")
                continue
            label_id = label_names.index(label)
        out.append(Example(text, label=label_id, source=f"{where}: {field}", spans=spans))
    return out


def make_span_task(
    kind: str,
    train_file: str | Path,
    dev_file: str | Path,
    test_file: str | Path | None = None,
    verbalizer: dict[str, str] | None = None,
    policy: BadRowPolicy | None = None,
) -> TaskSpec:
    """Scan the training file for the label set (sorted) and build a TaskSpec that knows its files."""
    policy = policy or BadRowPolicy()
    # Stored resolved: a checkpoint evaluated from another working directory still finds its files.
    train_file, dev_file = (Path(f).expanduser().resolve() for f in (train_file, dev_file))
    test_file = Path(test_file).expanduser().resolve() if test_file else None
    types = [label for *_, label in _read(train_file, kind, policy, labelled=True)]
    labels = set(types)
    if not types:
        what = "relation" if kind == "relation" else "entity"
        raise DataError(f"{train_file}: field '{KINDS[kind]}': the file has no {what} mentions")
    if len(labels) < 2:
        raise DataError(f"{train_file}: field '{KINDS[kind]}[].type': need at least 2 distinct types, found {sorted(labels)}")
    label_names = sorted(labels)
    verbalizer = verbalizer or {}
    unknown = set(verbalizer) - labels
    if unknown:
        raise ConfigError(f"--verbalizer: labels {sorted(unknown)} do not occur in {train_file}")
    splits = {"train": str(train_file), "dev": str(dev_file)}
    if test_file:
        splits["test"] = str(test_file)
    return TaskSpec(
        name=TASK_NAMES[kind],
        label_names=label_names,
        verbalizer=[verbalizer.get(label, label) for label in label_names],
        metrics=["accuracy", "macro_f1"],
        primary_metric="accuracy",
        text_fields=["tokens"],
        label_field="type",
        splits=splits,
        has_test=bool(test_file),
    )


def kind_of(task: TaskSpec) -> str | None:
    """The span kind of a task built by `make_span_task`, else None."""
    return next((kind for kind, name in TASK_NAMES.items() if task.name == name and task.splits), None)


def prediction_examples(task: TaskSpec, path: str | Path, policy: BadRowPolicy) -> list[Example] | None:
    """Unlabelled examples for `infoprompt predict` on a task whose examples carry spans, else None.

    Span kinds read their JSONL format (types, if present, are ignored); SemEval reads its release
    format, labelled or not (`<id><TAB>"<sentence with <e1>/<e2> tags>"` lines).
    """
    kind = kind_of(task)
    if kind is not None:
        return read_span_examples(path, kind, policy, task.label_names, labelled=False)
    if task.name == "semeval" and not task.splits:
        from infoprompt.data.semeval import read_semeval_file

        return [example for _, example in read_semeval_file(Path(path), policy, labelled=False)]
    return None


def load_span_split(task: TaskSpec, split: str, policy: BadRowPolicy) -> list[Example]:
    if split not in task.splits:
        raise ConfigError(f"{task.name} has no '{split}' file (give --{split}-file)")
    from infoprompt.data.custom import require_rows

    path = Path(task.splits[split])
    return require_rows(read_span_examples(path, kind_of(task), policy, task.label_names), path, policy)


for _name in TASK_NAMES.values():
    register_file_task(_name, load_span_split)
