"""SuperGLUE readers: each task's release format on hand-written rows, errors, real split sizes."""

import json
from pathlib import Path

import pytest

from infoprompt.data.readers import BadRowPolicy
from infoprompt.data.superglue import read_superglue_file
from infoprompt.data.tasks import get_task, load_split
from infoprompt.errors import ConfigError, DataError

ROWS = {
    "boolq": {"question": "is the sky blue", "passage": "The sky is blue.", "label": True, "idx": 0},
    "cb": {"premise": "It rained.", "hypothesis": "It was dry.", "label": "contradiction", "idx": 0},
    "copa": {"premise": "The man fell.", "choice1": "He slipped.", "choice2": "He sang.", "question": "cause",
             "label": 0, "idx": 0},
    "rte": {"premise": "A cat sat.", "hypothesis": "An animal sat.", "label": "entailment", "idx": 0},
    "wic": {"word": "bank", "sentence1": "The river bank.", "sentence2": "The bank lent money.", "label": False,
            "idx": 0, "start1": 10, "end1": 14, "start2": 4, "end2": 8, "version": 1.1},
    "wsc": {"text": "Mark told Pete he was late.", "label": True, "idx": 0,
            "target": {"span1_text": "Pete", "span1_index": 2, "span2_text": "he", "span2_index": 3}},
    "multirc": {"idx": 0, "version": 1.1, "passage": {"text": "Ann has two dogs.", "questions": [
        {"question": "How many dogs?", "idx": 0, "answers": [{"text": "Two", "idx": 0, "label": 1},
                                                             {"text": "Three", "idx": 1, "label": 0}]},
        {"question": "Who has dogs", "idx": 1, "answers": [{"text": "Ann", "idx": 2, "label": 1}]}]}},
}


def write(path: Path, rows: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def read_one(tmp_path, name: str, row: dict):
    return read_superglue_file(write(tmp_path / f"{name}.jsonl", [row]), name)


def test_boolq_nli_copa_wic_formats(tmp_path):
    (boolq,) = read_one(tmp_path, "boolq", ROWS["boolq"])
    assert (boolq.text_a, boolq.text_b, boolq.label) == ("Is the sky blue?", "The sky is blue.", 1)
    (cb,) = read_one(tmp_path, "cb", ROWS["cb"])
    assert (cb.text_a, cb.text_b) == ("It was dry?", "It rained.")
    assert get_task("superglue-cb").label_names[cb.label] == "contradiction"
    (rte,) = read_one(tmp_path, "rte", ROWS["rte"])
    assert rte.text_a == "An animal sat?" and rte.label == 0
    (copa,) = read_one(tmp_path, "copa", ROWS["copa"])
    assert copa.text_b is None and copa.label == 0
    assert copa.text_a == "The man fell. What was the cause? Option 1: He slipped. Option 2: He sang."
    effect = read_one(tmp_path, "copa", {**ROWS["copa"], "question": "effect", "label": 1})[0]
    assert "What happened as a result?" in effect.text_a and effect.label == 1
    (wic,) = read_one(tmp_path, "wic", ROWS["wic"])
    assert '"bank"' in wic.text_a and wic.text_b == "The river bank. The bank lent money." and wic.label == 0


def test_wsc_marks_the_pronoun_and_tolerates_an_off_by_one_index(tmp_path):
    (wsc,) = read_one(tmp_path, "wsc", ROWS["wsc"])
    assert wsc.text_a == 'Does "*he*" refer to "Pete"?'
    assert wsc.text_b == "Mark told Pete *he* was late." and wsc.label == 1
    shifted = {**ROWS["wsc"], "target": {**ROWS["wsc"]["target"], "span2_index": 4}}  # as val.jsonl:43 has
    assert read_one(tmp_path, "wsc", shifted)[0].text_b == "Mark told Pete *he* was late."
    absent = {**ROWS["wsc"], "target": {**ROWS["wsc"]["target"], "span2_text": "she"}}
    with pytest.raises(DataError, match=r"wsc.jsonl:1: field 'target.span2_text'"):
        read_one(tmp_path, "wsc", absent)


def test_multirc_one_example_per_answer_grouped_by_question(tmp_path):
    examples = read_one(tmp_path, "multirc", ROWS["multirc"])
    assert [e.label for e in examples] == [1, 0, 1]
    assert examples[0].text_a == "How many dogs? Answer: Two. Correct?" and examples[0].text_b == "Ann has two dogs."
    assert examples[0].group == examples[1].group != examples[2].group
    assert examples[2].text_a.startswith("Who has dogs?")
    assert examples[1].source.endswith("multirc.jsonl:1:passage.questions[0].answers[1]")


@pytest.mark.parametrize("name, row, match", [
    ("cb", {**ROWS["cb"], "label": "maybe"}, r"cb.jsonl:2: field 'label': unknown label 'maybe'"),
    ("boolq", {k: v for k, v in ROWS["boolq"].items() if k != "passage"}, r"boolq.jsonl:2: missing field 'passage'"),
    ("rte", {**ROWS["rte"], "premise": "  "}, r"rte.jsonl:2: field 'premise' is empty"),
    ("copa", {**ROWS["copa"], "question": "why"}, r"copa.jsonl:2: field 'question': expected 'cause' or 'effect'"),
    ("wic", {**ROWS["wic"], "label": 3}, r"wic.jsonl:2: field 'label': unknown label 3"),
    ("multirc", {"passage": {"text": "t", "questions": [{"question": "q", "answers": [{"text": "a", "label": 7}]}]}},
     r"multirc.jsonl:2: field 'passage.questions\[0\].answers\[0\].label': unknown label 7"),
    ("wsc", {**ROWS["wsc"], "target": {"span1_text": "Pete", "span2_text": "he"}},
     r"wsc.jsonl:2: missing field 'target.span2_index'"),
])
def test_bad_rows_name_file_line_and_field(tmp_path, name, row, match):
    path = write(tmp_path / f"{name}.jsonl", [ROWS[name], row])
    with pytest.raises(DataError, match=match):
        read_superglue_file(path, name)
    policy = BadRowPolicy(skip=True)
    assert len(read_superglue_file(path, name, policy)) == (3 if name == "multirc" else 1)
    assert len(policy.skipped) == 1


def test_invalid_json_is_reported_with_its_line(tmp_path):
    path = write(tmp_path / "rte.jsonl", [ROWS["rte"], "{not json"])
    with pytest.raises(DataError, match=r"rte.jsonl:2: invalid JSON"):
        read_superglue_file(path, "rte")


def test_data_dir_layout_splits_and_missing_dir(tmp_path):
    write(tmp_path / "superglue" / "rte" / "train.jsonl", [ROWS["rte"]] * 3)
    write(tmp_path / "superglue" / "rte" / "val.jsonl", [ROWS["rte"]])
    task = get_task("superglue-rte")
    assert len(load_split(task, "train", tmp_path)) == 3
    dev = load_split(task, "dev", tmp_path)
    assert len(dev) == 1 and dev[0].source.endswith("rte/val.jsonl:1")
    with pytest.raises(ConfigError, match="no labelled 'test' split"):
        load_split(task, "test", tmp_path)
    with pytest.raises(ConfigError, match="no 'cb' folder"):
        load_split(get_task("superglue-cb"), "train", tmp_path)
    with pytest.raises(ConfigError, match="--data-dir"):
        load_split(task, "train", None)


def test_tasks_carry_their_metrics():
    assert get_task("superglue-cb").metrics == ["accuracy", "macro_f1"]
    multirc = get_task("superglue-multirc")
    assert multirc.primary_metric == "f1a" and "exact_match" in multirc.metrics
    assert get_task("superglue-copa").verbalizer == ["1", "2"]


@pytest.mark.parametrize("name, train, dev", [
    ("boolq", 9427, 3270), ("cb", 250, 56), ("copa", 400, 100), ("multirc", 27243, 4848), ("rte", 2490, 277),
    ("wic", 5428, 638), ("wsc", 554, 104),
])
def test_real_files_have_the_official_sizes(shared_data, name, train, dev):
    if not (shared_data / "superglue" / name).is_dir():
        pytest.skip("no SuperGLUE files")
    task = get_task(f"superglue-{name}")
    train_rows, dev_rows = load_split(task, "train", shared_data), load_split(task, "dev", shared_data)
    assert (len(train_rows), len(dev_rows)) == (train, dev)
    assert {e.label for e in dev_rows} == set(range(task.num_labels))
    if name == "multirc":
        assert len({e.group for e in dev_rows}) == 953  # questions


def test_multirc_trains_and_scores_exact_match_per_question(tmp_path, tiny_bert):
    """Groups travel Example -> Feature -> the loop's metrics: F1a and EM on the dev split."""
    from infoprompt.api import TrainConfig, predict, train

    folder = tmp_path / "superglue" / "multirc"
    write(folder / "train.jsonl", [ROWS["multirc"]] * 2)
    write(folder / "val.jsonl", [ROWS["multirc"]])
    cfg = TrainConfig(task="superglue-multirc", method="prompt", data_dir=str(tmp_path), epochs=1, batch_size=4,
                      output=str(tmp_path / "run"), progress=False, max_length=48)
    result = train(cfg, backbone=tiny_bert)
    assert set(result.metrics) == {"f1a", "exact_match", "accuracy"}
    assert result.metrics["exact_match"] in (0.0, 0.5, 1.0)  # two questions in val.jsonl
    labels = predict(tmp_path / "run", folder / "val.jsonl", backbone=tiny_bert)  # release format, labels ignored
    assert len(labels) == 3 and set(labels) <= {"False", "True"}
