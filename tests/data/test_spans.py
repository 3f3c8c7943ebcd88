"""The JSONL span format (ACE2005 conversions, a user's own relation/typing data): reader, errors, CLI/API."""

import json
from pathlib import Path

import pytest

from infoprompt.data.readers import BadRowPolicy
from infoprompt.data.spans import make_span_task, read_span_examples
from infoprompt.data.tasks import load_split
from infoprompt.errors import ConfigError, DataError

# A small ACE-like fixture, generated here (ACE2005 itself is licensed and not shipped).
PEOPLE = [["John", "Smith"], ["Mary"], ["the", "pilot"], ["Ali"]]
PLACES = [["Boston"], ["New", "York"], ["the", "airport"], ["Paris"]]
ORGS = [["IBM"], ["the", "army"], ["Reuters"]]


def sentence(k: int) -> dict:
    """`<PER> works for <ORG> in <GPE> .` with an ORG-AFF relation and, on odd k, a PHYS one."""
    per, org, gpe = PEOPLE[k % 4], ORGS[k % 3], PLACES[k % 4]
    tokens = [*per, "works", "for", *org, "in", *gpe, "."]
    p0, o0 = 0, len(per) + 2
    g0 = o0 + len(org) + 1
    ent = [{"start": p0, "end": len(per), "type": "PER"}, {"start": o0, "end": o0 + len(org), "type": "ORG"},
           {"start": g0, "end": g0 + len(gpe), "type": "GPE"}]
    rel = [{"type": "ORG-AFF", "head": {"start": p0, "end": len(per)}, "tail": {"start": o0, "end": o0 + len(org)}}]
    if k % 2:
        rel.append({"type": "PHYS", "head": {"start": p0, "end": len(per)}, "tail": {"start": g0, "end": g0 + len(gpe)}})
    return {"tokens": tokens, "entities": ent, "relations": rel}


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


@pytest.fixture
def files(tmp_path):
    return {split: write_jsonl(tmp_path / f"{split}.jsonl", [sentence(k + offset) for k in range(n)])
            for split, n, offset in (("train", 8, 0), ("dev", 4, 8), ("test", 4, 12))}


def test_typing_examples_are_entity_mentions_with_char_spans(files):
    task = make_span_task("typing", files["train"], files["dev"], files["test"])
    assert task.name == "custom-typing" and task.label_names == ["GPE", "ORG", "PER"] and task.has_test
    examples = load_split(task, "train", None, BadRowPolicy())
    assert len(examples) == 8 * 3
    first = examples[0]
    assert first.text_a == "John Smith works for IBM in Boston ."
    assert first.text_a[slice(*first.spans[0])] == "John Smith" and task.label_names[first.label] == "PER"
    assert first.source == f"{files['train']}:1: entities[0]"
    assert len(load_split(task, "test", None, BadRowPolicy())) == 12


def test_relation_examples_put_head_first_as_e1(files):
    task = make_span_task("relation", files["train"], files["dev"], verbalizer={"PHYS": "located"})
    assert task.label_names == ["ORG-AFF", "PHYS"] and task.verbalizer == ["ORG-AFF", "located"] and not task.has_test
    examples = load_split(task, "train", None, BadRowPolicy())
    assert len(examples) == 8 + 4
    phys = next(e for e in examples if task.label_names[e.label] == "PHYS")
    assert [phys.text_a[a:b] for a, b in phys.spans] == ["Mary", "New York"]
    with pytest.raises(ConfigError, match="has no 'test' file"):
        load_split(task, "test", None, BadRowPolicy())


GOOD = {"tokens": ["a", "b", "c"], "entities": [{"start": 0, "end": 1, "type": "X"}],
        "relations": [{"type": "R", "head": {"start": 0, "end": 1}, "tail": {"start": 2, "end": 3}}]}


def bad(**change):
    row = json.loads(json.dumps(GOOD))
    for key, value in change.items():
        if key == "entity":
            row["entities"][0].update(value)
        elif key == "relation":
            row["relations"][0].update(value)
        else:
            row[key] = value
    return row


@pytest.mark.parametrize("kind, row, message", [
    ("typing", {"entities": []}, "missing field 'tokens'"),
    ("typing", bad(tokens="a b c"), "field 'tokens': expected a non-empty list"),
    ("typing", bad(tokens=["a", " ", "c"]), r"field 'tokens\[1\]': expected a non-empty string"),
    ("typing", bad(entities={"start": 0}), "field 'entities': expected a list"),
    ("typing", bad(entity={"end": 4}), r"field 'entities\[0\].end': 4 is past the end of 'tokens' \(3 tokens\)"),
    ("typing", bad(entity={"start": -1}), r"field 'entities\[0\].start': -1 is negative"),
    ("typing", bad(entity={"start": 1, "end": 1}), r"field 'entities\[0\].end': 1 must be greater than start 1"),
    ("typing", bad(entity={"start": "0"}), r"field 'entities\[0\].start': expected an integer"),
    ("typing", bad(entity={"type": ""}), r"field 'entities\[0\].type': expected a non-empty string"),
    ("typing", {"tokens": ["a"], "entities": [{"start": 0, "end": 1}]}, r"missing field 'entities\[0\].type'"),
    ("relation", bad(relation={"head": None}), r"field 'relations\[0\].head': expected an object"),
    ("relation", {"tokens": ["a", "b"], "relations": [{"type": "R", "head": {"start": 0, "end": 1}}]},
     r"missing field 'relations\[0\].tail'"),
    ("relation", bad(relation={"tail": {"start": 0}}), r"missing field 'relations\[0\].tail.end'"),
    ("relation", bad(relation={"tail": {"start": 0, "end": 1}}), r"field 'relations\[0\]': head and tail are the same"),
    ("relation", bad(relation={"head": {"start": 0, "end": 2}, "tail": {"start": 1, "end": 3}}), r"field .relations\[0\].: head \[0, 2\) and tail \[1, 3\) cross each other"),
    ("relation", "{not json", r"invalid JSON"),
    ("relation", "[1, 2]", r"expected a JSON object"),
])
def test_bad_lines_name_file_line_and_field(tmp_path, kind, row, message):
    path = write_jsonl(tmp_path / "d.jsonl", [GOOD, row])
    with pytest.raises(DataError, match=rf"^{path}:2: {message}"):
        read_span_examples(path, kind, BadRowPolicy(), ["R", "X"])
    policy = BadRowPolicy(skip=True)
    assert len(read_span_examples(path, kind, policy, ["R", "X"])) == 1 and len(policy.skipped) == 1


def test_dev_labels_must_occur_in_training_and_files_must_be_jsonl(tmp_path, files):
    dev = write_jsonl(tmp_path / "odd.jsonl", [{"tokens": ["a"], "entities": [{"start": 0, "end": 1, "type": "FAC"}]}])
    task = make_span_task("typing", files["train"], dev)
    with pytest.raises(DataError, match=rf"^{dev}:1: field 'entities\[0\].type': unknown label 'FAC'"):
        load_split(task, "dev", None, BadRowPolicy())
    one_type = write_jsonl(tmp_path / "one.jsonl", [{"tokens": ["a"], "entities": [{"start": 0, "end": 1, "type": "X"}]}])
    with pytest.raises(DataError, match="need at least 2 distinct types"):
        make_span_task("typing", one_type, dev)
    with pytest.raises(DataError, match=r"the file has no relation mentions"):
        make_span_task("relation", one_type, dev)
    with pytest.raises(DataError, match=r"reads JSON lines"):
        make_span_task("typing", tmp_path / "train.tsv", dev)
    with pytest.raises(ConfigError, match=r"--verbalizer: labels \['NOPE'\]"):
        make_span_task("typing", files["train"], dev, verbalizer={"NOPE": "x"})


def test_train_evaluate_predict_on_jsonl_typing(tmp_path, files, tiny_bert):
    from infoprompt.api import TrainConfig, evaluate, predict, train

    cfg = TrainConfig(task="custom", task_kind="typing", train_file=str(files["train"]), dev_file=str(files["dev"]),
                      test_file=str(files["test"]), method="warp", epochs=1, batch_size=8, progress=False,
                      output=str(tmp_path / "run"), max_length=32)
    result = train(cfg, backbone=tiny_bert)
    assert result.summary["task"] == "custom-typing"
    assert set(result.summary["test"]) == {"accuracy", "macro_f1"}
    scored = evaluate(tmp_path / "run", backbone=tiny_bert)
    assert scored["dev"] == pytest.approx(result.metrics)
    unlabelled = write_jsonl(tmp_path / "new.jsonl", [{"tokens": ["Mary", "flew", "to", "Paris"],
                                                        "entities": [{"start": 0, "end": 1}, {"start": 3, "end": 4}]}])
    labels = predict(tmp_path / "run", unlabelled, tmp_path / "out.jsonl", backbone=tiny_bert)
    assert len(labels) == 2 and set(labels) <= {"GPE", "ORG", "PER"}
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert rows[1]["source"] == f"{unlabelled}:1: entities[1]"


@pytest.mark.parametrize("flags, message", [
    (["--task-kind", "relation", "--text-fields", "a"], "--text-fields/--label-field are for --task-kind text"),
    (["--task", "sst2", "--task-kind", "typing"], "are for --task custom"),
    (["--task-kind", "relation"], "needs --train-file and --dev-file"),
])
def test_cli_task_kind_errors_are_one_line(capsys, flags, message, files):
    from infoprompt.cli import main

    base = ["train", "--task", "custom", "--train-file", str(files["train"]), "--dev-file", str(files["dev"])]
    if "needs" in message:
        base = ["train", "--task", "custom"]
    assert main(base + flags) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("infoprompt: error:") and message in err and "\n" not in err
