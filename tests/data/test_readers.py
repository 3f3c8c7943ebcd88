from pathlib import Path

import pytest

from infoprompt.data.custom import make_custom_task, rows_to_examples
from infoprompt.data.readers import BadRowPolicy, read_table
from infoprompt.data.tasks import load_split
from infoprompt.errors import DataError


def write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def test_tsv_with_bom_and_crlf_reads_cleanly(tmp_path):
    path = write(tmp_path / "a.tsv", "\ufefftext\tlabel\r\ngood film\tpos\r\nbad film\tneg\r\n")
    rows = list(read_table(path))
    assert rows == [(2, {"text": "good film", "label": "pos"}), (3, {"text": "bad film", "label": "neg"})]


@pytest.mark.parametrize(
    "content, expected",
    [
        ("text\tlabel\ngood\tpos\nbad\n", r"a\.tsv:3: missing field 'label'"),
        ("text\tlabel\ngood\tpos\nbad\tneg\textra\n", r"a\.tsv:3: extra field"),
        ("text\tlabel\ngood\tpos\n \tneg\n", r"a\.tsv:3: field 'text' is empty"),
    ],
)
def test_malformed_rows_name_file_line_and_field(tmp_path, content, expected):
    path = write(tmp_path / "a.tsv", content)
    task = make_custom_task(write(tmp_path / "t.tsv", "text\tlabel\nx\tpos\ny\tneg\n"), None, ["text"], "label")
    with pytest.raises(DataError, match=expected):
        rows_to_examples(read_table(path), task, path, BadRowPolicy())


def test_undecodable_bytes_name_the_line(tmp_path):
    path = write(tmp_path / "a.tsv", b"text\tlabel\ngood\tpos\ncaf\xe9\tneg\n")
    with pytest.raises(DataError, match=r"a\.tsv:3: undecodable byte 0xe9"):
        list(read_table(path))


def test_unknown_dev_label_is_an_error_not_a_drop(tmp_path):
    train = write(tmp_path / "train.csv", "text,label\ngood,pos\nbad,neg\n")
    dev = write(tmp_path / "dev.csv", "text,label\nfine,pos\nodd,maybe\n")
    task = make_custom_task(train, dev, ["text"], "label")
    with pytest.raises(DataError, match=r"dev\.csv:3: field 'label': unknown label 'maybe'"):
        load_split(task, "dev")


def test_skip_bad_rows_counts_and_reports(tmp_path):
    train = write(tmp_path / "train.jsonl", '{"t": "good", "y": "pos"}\n{"t": "bad", "y": "neg"}\nnot json\n{"y": "neg"}\n')
    policy = BadRowPolicy(skip=True)
    task = make_custom_task(train, None, ["t"], "y", policy=policy)
    examples = load_split(task, "train", policy=policy)
    assert len(examples) == 2
    assert len(policy.skipped) == 2  # bad JSON (read twice: labels, then rows; reported once) + missing field
    assert "train.jsonl:3: invalid JSON" in policy.summary()
    assert "train.jsonl:4: missing field 't'" in policy.summary()


def test_unsupported_extension(tmp_path):
    with pytest.raises(DataError, match=r"unsupported file type '\.xlsx'"):
        read_table(write(tmp_path / "a.xlsx", "x"))


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        list(read_table(tmp_path / "nope.tsv"))


def test_custom_task_label_set_is_sorted_and_verbalized(tmp_path):
    train = write(tmp_path / "train.csv", 'text,label\n"a, quoted, text",pos\nb,neg\n')
    task = make_custom_task(train, None, ["text"], "label", {"pos": "great"})
    assert task.label_names == ["neg", "pos"]
    assert task.verbalizer == ["neg", "great"]
    examples = load_split(task, "train")
    assert examples[0].text_a == "a, quoted, text" and examples[0].label == 1
