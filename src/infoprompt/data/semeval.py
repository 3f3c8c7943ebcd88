"""SemEval-2010 Task 8 (Hendrickx et al. 2010) from its original release files.

Files looked up under a data directory D: `D/semeval2010_task8/` (or D itself) holding
TRAIN_FILE.TXT (8,000 sentences), TEST_FILE_FULL.TXT (2,717, with directional gold labels) and,
optionally, TEST_FILE_KEY.TXT (undirected key; when present it is checked against the FULL labels).
Each record is four CRLF lines: `<id>\\t"<sentence with <e1>..</e1> and <e2>..</e2>>"`, the label
(`Relation(e1,e2)`, `Relation(e2,e1)` or `Other`), `Comment: ...`, and a blank line.

Splits: the task has no official dev set. "dev" is a fixed hold-out of 800 training sentences,
`random.Random(DEV_SEED).sample(sorted ids 1..8000, 800)` with DEV_SEED = 0, the same for every run
and every --seed; "train" is the other 7,200; "test" is the official test file.
Metric: the official (9+1)-way macro-F1 with directionality ("semeval_macro_f1", see
`infoprompt.evaluation.semeval`), plus accuracy over the 19 labels.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

from infoprompt.data.example import Example
from infoprompt.data.readers import BadRowPolicy, read_text, split_lines
from infoprompt.data.registry import register_task
from infoprompt.data.spec import TaskSpec
from infoprompt.errors import ConfigError, DataError

_DIRECTION = re.compile(r"\((e[12]),(e[12])\)$")

RELATIONS = (
    "Cause-Effect", "Component-Whole", "Content-Container", "Entity-Destination", "Entity-Origin",
    "Instrument-Agency", "Member-Collection", "Message-Topic", "Product-Producer",
)
OTHER = "Other"
# The 19 labels the scorer accepts, in the order the toolkit numbers them (also the HF dataset's order).
LABELS = tuple(f"{r}({d})" for r in RELATIONS for d in ("e1,e2", "e2,e1")) + (OTHER,)


def undirected(label: str) -> str:
    """`Cause-Effect(e2,e1)` -> `Cause-Effect`; labels without a direction are returned unchanged."""
    return _DIRECTION.sub("", label)

DEV_SEED = 0
DEV_SIZE = 800
FILES = {"train": "TRAIN_FILE.TXT", "test": "TEST_FILE_FULL.TXT"}
KEY_FILE = "TEST_FILE_KEY.TXT"

# Verbalizer: the role e1 plays towards e2 (so the two directions of a relation get different words).
VERBALIZER = {
    "Cause-Effect(e1,e2)": "cause", "Cause-Effect(e2,e1)": "effect",
    "Component-Whole(e1,e2)": "part", "Component-Whole(e2,e1)": "whole",
    "Content-Container(e1,e2)": "content", "Content-Container(e2,e1)": "container",
    "Entity-Destination(e1,e2)": "moved", "Entity-Destination(e2,e1)": "destination",
    "Entity-Origin(e1,e2)": "derived", "Entity-Origin(e2,e1)": "origin",
    "Instrument-Agency(e1,e2)": "tool", "Instrument-Agency(e2,e1)": "user",
    "Member-Collection(e1,e2)": "member", "Member-Collection(e2,e1)": "group",
    "Message-Topic(e1,e2)": "message", "Message-Topic(e2,e1)": "topic",
    "Product-Producer(e1,e2)": "product", "Product-Producer(e2,e1)": "maker",
    "Other": "unrelated",
}

SEMEVAL = TaskSpec(
    "semeval", list(LABELS), [VERBALIZER[name] for name in LABELS], ["semeval_macro_f1", "accuracy"],
    "semeval_macro_f1", has_test=True,
)

_SENTENCE = re.compile(r'^(\d+)\t"(.*)"$')
_TAG = re.compile(r"</?e[12]>")


def strip_entity_tags(sentence: str, where: str) -> tuple[str, tuple[tuple[int, int], tuple[int, int]]]:
    """Remove the `<e1>`/`<e2>` tags; return the plain text and the (e1, e2) character spans in it."""
    text, pos = "", 0
    opened: dict[str, int] = {}
    spans: dict[str, tuple[int, int]] = {}
    for match in _TAG.finditer(sentence):
        text += sentence[pos:match.start()]
        pos = match.end()
        tag = match.group()
        name = tag.strip("</>")
        if not tag.startswith("</"):
            if name in opened:
                raise DataError(f"{where}: field 'sentence': <{name}> appears twice")
            opened[name] = len(text)
        elif name not in opened or name in spans:
            raise DataError(f"{where}: field 'sentence': </{name}> without a matching <{name}>")
        else:
            spans[name] = (opened[name], len(text))
    text += sentence[pos:]
    for name in ("e1", "e2"):
        if name not in spans:
            raise DataError(f"{where}: field 'sentence': no <{name}>...</{name}> entity")
        if not text[spans[name][0]:spans[name][1]].strip():
            raise DataError(f"{where}: field 'sentence': the <{name}> entity is empty")
    return text, (spans["e1"], spans["e2"])


def read_semeval_file(
    path: Path, policy: BadRowPolicy, *, labelled: bool = True, ids: list[int] | None = None
) -> list[tuple[int, Example]]:
    """Parse one release file into (sentence id, Example) pairs; bad records name file:line: field.

    `ids`, when given, receives every sentence id read, also those of records skipped as bad, so
    that the dev hold-out does not shift when --skip-bad-rows drops a record.
    """
    lines = split_lines(read_text(path))
    out: list[tuple[int, Example]] = []
    seen: dict[int, str] = {}
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        where = f"{path}:{i + 1}"
        try:
            match = _SENTENCE.match(lines[i])
            if not match:
                raise DataError(f'{where}: field \'sentence\': expected <id><TAB>"<sentence>", got {lines[i][:60]!r}')
            sentence_id = int(match.group(1))
            if sentence_id in seen:
                raise DataError(f"{where}: field 'id': sentence id {sentence_id} already used at {seen[sentence_id]}")
            seen[sentence_id] = where
            if ids is not None:
                ids.append(sentence_id)
            text, spans = strip_entity_tags(match.group(2), where)
            label = None
            if labelled:
                raw = lines[i + 1].strip() if i + 1 < len(lines) else ""
                if raw not in LABELS:
                    raise DataError(f"{path}:{i + 2}: field 'relation': unknown label {raw!r} (expected one of the 19 "
                                    "SemEval labels, e.g. 'Cause-Effect(e1,e2)' or 'Other')")
                label = LABELS.index(raw)
            out.append((sentence_id, Example(text, label=label, source=where, spans=spans)))
        except DataError as err:
            policy.handle(str(err))
        # Skip the rest of the record (label, comment) up to the blank separator or the next sentence
        # line, so the unlabelled release format (one sentence line after another) reads too.
        i += 1
        while i < len(lines) and lines[i].strip() and not _SENTENCE.match(lines[i]):
            i += 1
    return out


def _check_key(examples: list[tuple[int, Example]], key_path: Path) -> None:
    """The undirected key must agree with the FULL file's directional labels."""
    gold = {sid: undirected(LABELS[e.label]) for sid, e in examples if e.label is not None}
    for line_no, line in enumerate(split_lines(read_text(key_path)), start=1):
        if not line.strip():
            continue
        sid, _, relation = line.partition("\t")
        if not sid.strip().isdigit():
            raise DataError(f"{key_path}:{line_no}: field 'id': expected a sentence id, got {sid!r}")
        expected = gold.get(int(sid))
        if expected is not None and expected != relation.strip():
            raise DataError(
                f"{key_path}:{line_no}: field 'relation': key says {relation.strip()!r} but "
                f"{FILES['test']} says {expected!r} for sentence {sid}"
            )


def semeval_dir(data_dir: Path) -> Path:
    for candidate in (data_dir / "semeval2010_task8", data_dir):
        if (candidate / FILES["train"]).is_file():
            return candidate
    raise ConfigError(f"no SemEval-2010 Task 8 files under {data_dir} (looked for semeval2010_task8/{FILES['train']})")


def dev_ids(train_ids: list[int]) -> set[int]:
    """The fixed dev hold-out: DEV_SIZE ids drawn with DEV_SEED from the sorted training ids."""
    return set(random.Random(DEV_SEED).sample(sorted(train_ids), min(DEV_SIZE, len(train_ids))))


def load_semeval(split: str, data_dir: Path | None, policy: BadRowPolicy) -> list[Example]:
    if data_dir is None:
        raise ConfigError(
            "semeval reads the original release files: give --data-dir (or set INFOPROMPT_DATA) to a folder "
            f"holding semeval2010_task8/{FILES['train']} and {FILES['test']}"
        )
    if split not in ("train", "dev", "test"):
        raise ConfigError(f"semeval: unknown split '{split}' (train, dev or test)")
    folder = semeval_dir(data_dir)
    if split == "test":
        examples = read_semeval_file(folder / FILES["test"], policy)
        if (folder / KEY_FILE).is_file():
            _check_key(examples, folder / KEY_FILE)
        return [e for _, e in examples]
    all_ids: list[int] = []
    examples = read_semeval_file(folder / FILES["train"], policy, ids=all_ids)
    held_out = dev_ids(all_ids)
    return [e for sid, e in examples if (sid in held_out) == (split == "dev")]


register_task(SEMEVAL, load_semeval)
