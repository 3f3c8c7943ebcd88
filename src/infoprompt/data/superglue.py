"""SuperGLUE (Wang et al. 2019): BoolQ, CB, COPA, MultiRC, RTE, WiC, WSC from the release JSONL files.

Files looked up under a data directory D: `D/superglue/<task>/{train,val}.jsonl` (or `D/<task>/...`),
the layout of the official zips. "dev" is `val.jsonl`; the test files carry no labels, so there is
no labelled test split. There is no hub fallback: the hub's SuperGLUE copy is a loading script
that current `datasets` no longer runs, so a data directory is required.

Each row becomes one Example (MultiRC: one per answer option) in a question-first layout:
`text_a` is the short question the mask answers, `text_b` the context (passage, premise,
sentences). With the WARP/prefix templates this reads `<s> [P] question? [P] <mask> [P] </s></s>
context [P] </s>`, and truncation (longest segment first) shortens the context, never the
question. Generative backbones use the same two texts, context first (see infoprompt.generative).

Formats (text_a | text_b -> verbalizer):
- boolq: `question?` | passage -> no / yes
- cb, rte: `hypothesis?` | premise -> yes / no / maybe (rte: yes / no)
- copa: `premise What was the cause (the effect)? Option 1: c1 Option 2: c2` (single text) -> 1 / 2
- multirc: `question Answer: option. Correct?` | paragraph -> no / yes; `group` = the question
- wic: `Is "word" used in the same sense in both sentences?` | sentence1 sentence2 -> no / yes
- wsc: `Does "*pronoun*" refer to "noun"?` | text with the pronoun marked `*pronoun*` -> no / yes
Every bad row is a DataError naming `file:line` and the (nested) field, or a counted skip.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from infoprompt.data.example import Example
from infoprompt.data.readers import BadRowPolicy, read_jsonl
from infoprompt.data.registry import register_task
from infoprompt.data.spec import TaskSpec
from infoprompt.errors import ConfigError, DataError

SPLIT_FILES = {"train": "train.jsonl", "dev": "val.jsonl"}
BOOL_LABELS = ["False", "True"]
YES_NO = ["no", "yes"]

Converter = Callable[[dict, str, bool], list[Example]]


def _field(obj: dict, key: str, where: str, path: str | None = None, *, kind: type = str, allow_empty: bool = False):
    """`obj[key]` of the given JSON type, or a DataError naming `where` and the dotted field path."""
    path = path or key
    if not isinstance(obj, dict) or key not in obj or obj[key] is None:
        raise DataError(f"{where}: missing field '{path}'")
    value = obj[key]
    if kind is str:
        if not isinstance(value, str):
            raise DataError(f"{where}: field '{path}': expected text, got {type(value).__name__}")
        if not value.strip() and not allow_empty:
            raise DataError(f"{where}: field '{path}' is empty")
        return value.strip()
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise DataError(f"{where}: field '{path}': expected an integer, got {value!r}")
    if kind in (list, dict) and not isinstance(value, kind):
        expected = "a list" if kind is list else "an object"
        raise DataError(f"{where}: field '{path}': expected {expected}, got {type(value).__name__}")
    return value


def _label(obj: dict, names: list[str], where: str, path: str = "label") -> int:
    """A label given as its name, a JSON bool (False/True tasks) or a class index (0, 1, ...)."""
    if not isinstance(obj, dict) or "label" not in obj or obj["label"] is None:
        raise DataError(f"{where}: missing field '{path}'")
    value = obj["label"]
    if isinstance(value, float) and value.is_integer():  # 1.0 is the index 1, as in data/readers.label_text
        value = int(value)
    if isinstance(value, bool):
        if names == BOOL_LABELS:
            return int(value)
    elif isinstance(value, int):
        if 0 <= value < len(names):
            return value
    elif isinstance(value, str):
        text = value.strip()
        for i, name in enumerate(names):
            if text.lower() == name.lower():
                return i
        if text.isdigit() and int(text) < len(names):
            return int(text)
    raise DataError(f"{where}: field '{path}': unknown label {value!r} (expected one of {names})")


def _question(text: str) -> str:
    """`text` as a question: ends in exactly one '?' (a final '.' or '!' is replaced)."""
    return text.rstrip(" .!?") + "?"


def _boolq(row: dict, where: str, labelled: bool) -> list[Example]:
    label = _label(row, BOOL_LABELS, where) if labelled else None
    question = _field(row, "question", where)
    return [Example(_question(question[0].upper() + question[1:]), _field(row, "passage", where), label, where)]


def _nli(names: list[str]) -> Converter:
    def convert(row: dict, where: str, labelled: bool) -> list[Example]:
        label = _label(row, names, where) if labelled else None
        return [Example(_question(_field(row, "hypothesis", where)), _field(row, "premise", where), label, where)]

    return convert


def _copa(row: dict, where: str, labelled: bool) -> list[Example]:
    label = _label(row, COPA.label_names, where) if labelled else None
    kind = _field(row, "question", where)
    if kind not in ("cause", "effect"):
        raise DataError(f"{where}: field 'question': expected 'cause' or 'effect', got {kind!r}")
    premise, first, second = (_field(row, k, where) for k in ("premise", "choice1", "choice2"))
    asked = "What was the cause?" if kind == "cause" else "What happened as a result?"
    return [Example(f"{premise} {asked} Option 1: {first} Option 2: {second}", None, label, where)]


def _multirc(row: dict, where: str, labelled: bool) -> list[Example]:
    """One Example per answer option; `group` names its question (exact match scores per question)."""
    passage = _field(row, "passage", where, kind=dict)
    paragraph = _field(passage, "text", where, "passage.text")
    out = []
    questions = _field(passage, "questions", where, "passage.questions", kind=list)
    for qi, question in enumerate(questions):
        qpath = f"passage.questions[{qi}]"
        text = _field(question, "question", where, f"{qpath}.question")
        answers = _field(question, "answers", where, f"{qpath}.answers", kind=list)
        if not answers:
            raise DataError(f"{where}: field '{qpath}.answers' is empty")
        for ai, answer in enumerate(answers):
            apath = f"{qpath}.answers[{ai}]"
            # The official train file has empty options (train.jsonl:38, question 13): kept, as scored.
            option = _field(answer, "text", where, f"{apath}.text", allow_empty=True)
            label = _label(answer, BOOL_LABELS, where, f"{apath}.label") if labelled else None
            out.append(Example(f"{_question(text)} Answer: {option}. Correct?", paragraph, label,
                               f"{where}:{apath}", group=f"{where}:q{qi}"))
    return out


def _wic(row: dict, where: str, labelled: bool) -> list[Example]:
    label = _label(row, BOOL_LABELS, where) if labelled else None
    word = _field(row, "word", where)
    sentences = f"{_field(row, 'sentence1', where)} {_field(row, 'sentence2', where)}"
    return [Example(f'Is "{word}" used in the same sense in both sentences?', sentences, label, where)]


def _wsc(row: dict, where: str, labelled: bool) -> list[Example]:
    """The pronoun (span2) is marked `*...*` at its word index, so repeated pronouns stay unambiguous."""
    label = _label(row, BOOL_LABELS, where) if labelled else None
    text = _field(row, "text", where)
    target = _field(row, "target", where, kind=dict)
    noun = _field(target, "span1_text", where, "target.span1_text")
    pronoun = _field(target, "span2_text", where, "target.span2_text")
    index = _field(target, "span2_index", where, "target.span2_index", kind=int)
    words = text.split()
    size = len(pronoun.split())
    if not 0 <= index < len(words):
        raise DataError(f"{where}: field 'target.span2_index': {index} is outside the text's {len(words)} words")
    # The release has an off-by-one index (val.jsonl line 43: word 30 is "use", span2_text "it"):
    # mark the occurrence of span2_text nearest to the index; no occurrence at all is an error.
    found = [i for i in range(len(words) - size + 1)
             if " ".join(words[i:i + size]).lower().strip(".,!?;:'\"") == pronoun.lower()]
    if not found:
        raise DataError(f"{where}: field 'target.span2_text': '{pronoun}' does not occur in the text")
    index = min(found, key=lambda i: (abs(i - index), i))
    marked = " ".join([*words[:index], f"*{' '.join(words[index:index + size])}*", *words[index + size:]])
    return [Example(f'Does "*{pronoun}*" refer to "{noun}"?', marked, label, where)]


def _spec(name: str, labels: list[str], words: list[str], metrics: list[str], primary: str, fields: list[str],
          pair: bool = True) -> TaskSpec:
    return TaskSpec(f"superglue-{name}", labels, words, metrics, primary, pair=pair, text_fields=fields)


BOOLQ = _spec("boolq", BOOL_LABELS, YES_NO, ["accuracy"], "accuracy", ["question", "passage"])
CB = _spec("cb", ["entailment", "contradiction", "neutral"], ["yes", "no", "maybe"], ["accuracy", "macro_f1"],
           "accuracy", ["hypothesis", "premise"])
COPA = _spec("copa", ["choice1", "choice2"], ["1", "2"], ["accuracy"], "accuracy",
             ["premise", "choice1", "choice2", "question"], pair=False)
MULTIRC = _spec("multirc", BOOL_LABELS, YES_NO, ["f1a", "exact_match", "accuracy"], "f1a",
                ["question", "answer", "paragraph"])
RTE = _spec("rte", ["entailment", "not_entailment"], ["yes", "no"], ["accuracy"], "accuracy",
            ["hypothesis", "premise"])
WIC = _spec("wic", BOOL_LABELS, YES_NO, ["accuracy"], "accuracy", ["word", "sentence1", "sentence2"])
WSC = _spec("wsc", BOOL_LABELS, YES_NO, ["accuracy"], "accuracy", ["text", "span1_text", "span2_text"])

CONVERTERS: dict[str, tuple[TaskSpec, Converter]] = {
    "boolq": (BOOLQ, _boolq), "cb": (CB, _nli(CB.label_names)), "copa": (COPA, _copa),
    "multirc": (MULTIRC, _multirc), "rte": (RTE, _nli(RTE.label_names)), "wic": (WIC, _wic), "wsc": (WSC, _wsc),
}

# Registered task name -> reader name (`infoprompt predict` reads a release-format file with these).
SUPERGLUE_FILE_TASKS = {spec.name: name for name, (spec, _) in CONVERTERS.items()}


def task_dir(data_dir: Path, name: str) -> Path:
    for candidate in (data_dir / "superglue" / name, data_dir / name):
        if candidate.is_dir():
            return candidate
    raise ConfigError(f"no '{name}' folder under {data_dir} (looked for superglue/{name} and {name})")


def read_superglue_file(path: str | Path, name: str, policy: BadRowPolicy | None = None,
                        labelled: bool = True) -> list[Example]:
    """Examples of SuperGLUE task `name` (e.g. "cb") from one release-format JSONL file."""
    policy = policy or BadRowPolicy()
    path = Path(path)
    convert = CONVERTERS[name][1]
    out: list[Example] = []
    for line, row in read_jsonl(path, policy):
        try:
            out.extend(convert(row, f"{path}:{line}", labelled))
        except DataError as err:
            policy.handle(str(err))
    return out


def _loader(name: str):
    def load(split: str, data_dir: Path | None, policy: BadRowPolicy) -> list[Example]:
        if split not in SPLIT_FILES:
            raise ConfigError(f"superglue-{name} has no labelled '{split}' split (train and dev = val.jsonl only)")
        if data_dir is None:
            raise ConfigError(f"superglue-{name} reads the release files: give --data-dir or set INFOPROMPT_DATA "
                              f"(layout <dir>/superglue/{name}/train.jsonl, val.jsonl)")
        return read_superglue_file(task_dir(data_dir, name) / SPLIT_FILES[split], name, policy)

    return load


for _name, (_spec_, _) in CONVERTERS.items():
    register_task(_spec_, _loader(_name))
