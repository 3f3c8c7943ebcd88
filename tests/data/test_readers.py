from pathlib import Path

import pytest

from infoprompt.data.custom import make_custom_task, rows_to_examples
from infoprompt.data.readers import BadRowPolicy, label_text, read_table
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


def test_csv_quoted_multiline_field_keeps_line_numbers(tmp_path):
    path = write(tmp_path / "a.csv", 'text,label\n"first line\nsecond line",pos\nnext,neg\n')
    assert list(read_table(path)) == [(2, {"text": "first line\nsecond line", "label": "pos"}),
                                      (4, {"text": "next", "label": "neg"})]


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_any_line_ending_reads_the_same(tmp_path, newline):
    for suffix, sep in ((".csv", ","), (".tsv", "\t")):
        path = write(tmp_path / f"a{suffix}", newline.join(["text" + sep + "label", "good" + sep + "pos", "bad" + sep + "neg"]))
        assert list(read_table(path)) == [(2, {"text": "good", "label": "pos"}), (3, {"text": "bad", "label": "neg"})]
    path = write(tmp_path / "a.jsonl", newline.join(['{"t": "a"}', '{"t": "b"}']) + newline)
    assert list(read_table(path)) == [(1, {"t": "a"}), (2, {"t": "b"})]


@pytest.mark.parametrize("suffix, content, line", [
    (".tsv", "text\tlabel\ngood\tpos\n   \nbad\tneg\n", 3),
    (".csv", "text,label\ngood,pos\n\nbad,neg\n", 3),
    (".csv", "text,label\ngood,pos\n , \nbad,neg\n", 3),
    (".jsonl", '{"t": "a"}\n  \n{"t": "b"}\n', 2),
])
def test_blank_rows_are_bad_rows_not_silent_drops(tmp_path, suffix, content, line):
    path = write(tmp_path / f"a{suffix}", content)
    with pytest.raises(DataError, match=rf"a\{suffix}:{line}: blank"):
        list(read_table(path))
    policy = BadRowPolicy(skip=True)
    assert len(list(read_table(path, policy))) == 2 and policy.count == 1


def test_trailing_line_breaks_are_not_records(tmp_path):
    assert len(list(read_table(write(tmp_path / "a.tsv", "text\tlabel\ngood\tpos\n\n\n")))) == 1


def test_unclosed_quote_is_an_error_naming_its_lines(tmp_path):
    path = write(tmp_path / "a.csv", 'text,label\ngood,pos\n"never closed,neg\nmore,pos\n')
    with pytest.raises(DataError, match=r"a\.csv:3: unparsable record spanning lines 3-4"):
        list(read_table(path, BadRowPolicy(skip=True)))  # not skippable: the rest of the file would be lost


def test_lone_cr_undecodable_byte_names_its_line(tmp_path):
    path = write(tmp_path / "a.tsv", b"text\tlabel\rgood\tpos\rcaf\xe9\tneg\r")
    with pytest.raises(DataError, match=r"a\.tsv:3: undecodable byte 0xe9"):
        list(read_table(path))


def test_bare_nan_is_not_json(tmp_path):
    path = write(tmp_path / "a.jsonl", '{"t": "a", "y": NaN}\n')
    with pytest.raises(DataError, match=r"a\.jsonl:1: invalid JSON \(bare NaN"):
        list(read_table(path))


@pytest.mark.parametrize("value, name", [
    ('"pos"', "pos"), ('" pos "', "pos"), ("1", "1"), ("1.0", "1"), ('"1"', "1"), ("true", "true"), ('"true"', "true"),
    ("-2", "-2"),
])
def test_label_json_values_map_to_label_names(value, name):
    import json

    assert label_text({"y": json.loads(value)}, "y", "f:1") == name


@pytest.mark.parametrize("value, expected", [
    ("1.5", r"f:1: field 'y': a label must be text, an integer or a boolean, got 1\.5"),
    ('{"a": 1}', r"f:1: field 'y': a label must be text, an integer or a boolean, got an object \(\{\"a\": 1\}\)"),
    ('["a", "b"]', r"f:1: field 'y': a label must be text, an integer or a boolean, got a list"),
    ("null", r"f:1: missing field 'y'"),
    ('"  "', r"f:1: field 'y' is empty"),
])
def test_labels_must_be_scalars(value, expected):
    import json

    with pytest.raises(DataError, match=expected):
        label_text({"y": json.loads(value)}, "y", "f:1")


@pytest.mark.parametrize("value, kind", [("5", "a number"), ('["a", "b"]', "a list"), ('{"x": "y"}', "an object"),
                                         ("true", "a boolean")])
def test_text_fields_must_be_strings(tmp_path, value, kind):
    train = write(tmp_path / "train.jsonl", f'{{"t": "ok", "y": 0}}\n{{"t": {value}, "y": 1}}\n')
    task = make_custom_task(write(tmp_path / "l.jsonl", '{"t": "a", "y": 0}\n{"t": "b", "y": 1}\n'), None, ["t"], "y")
    with pytest.raises(DataError, match=rf"train\.jsonl:2: field 't': expected a string, got {kind}"):
        rows_to_examples(read_table(train), task, train, BadRowPolicy())


def test_one_and_one_point_zero_are_one_class(tmp_path):
    train = write(tmp_path / "train.jsonl", '{"t": "a", "y": 1}\n{"t": "b", "y": 1.0}\n{"t": "c", "y": "1"}\n'
                                            '{"t": "d", "y": 0}\n')
    task = make_custom_task(train, None, ["t"], "y")
    assert task.label_names == ["0", "1"]
    assert [e.label for e in load_split(task, "train")] == [1, 1, 1, 0]


def test_a_row_bad_twice_is_skipped_once(tmp_path):
    """Read for labels, then for rows: a row with a bad label and a bad text counts as one skip."""
    train = write(tmp_path / "train.jsonl", '{"t": "a", "y": 0}\n{"t": "b", "y": 1}\n{"t": 5, "y": [1]}\n')
    policy = BadRowPolicy(skip=True)
    task = make_custom_task(train, None, ["t"], "y", policy=policy)
    assert len(load_split(task, "train", policy=policy)) == 2 and policy.count == 1


def test_header_only_split_names_the_file(tmp_path):
    train = write(tmp_path / "train.csv", "text,label\ngood,pos\nbad,neg\n")
    dev = write(tmp_path / "dev.csv", "text,label\n")
    task = make_custom_task(train, dev, ["text"], "label")
    with pytest.raises(DataError, match=rf"{dev}: no examples: it has no data rows"):
        load_split(task, "dev")


def test_directory_as_data_file(tmp_path):
    with pytest.raises(DataError, match="is a directory, expected a data file"):
        read_table(tmp_path)


def test_custom_task_stores_resolved_paths(tmp_path, monkeypatch):
    write(tmp_path / "train.csv", "text,label\ngood,pos\nbad,neg\n")
    monkeypatch.chdir(tmp_path)
    task = make_custom_task("train.csv", "train.csv", ["text"], "label")
    assert task.splits["train"] == str(tmp_path.resolve() / "train.csv")


def test_headerless_csv_and_tsv_name_columns_by_position(tmp_path):
    csv_path = write(tmp_path / "a.csv", '1,"good, really"\n0,bad\n')
    assert list(read_table(csv_path, header=False)) == [(1, {"0": "1", "1": "good, really"}), (2, {"0": "0", "1": "bad"})]
    tsv_path = write(tmp_path / "a.tsv", "\n0\tbad\tx\n")  # a leading blank row does not fix the column count
    with pytest.raises(DataError, match=r"a\.tsv:1: blank row"):
        list(read_table(tsv_path, header=False))
    policy = BadRowPolicy(skip=True)
    assert list(read_table(tsv_path, policy, header=False)) == [(2, {"0": "0", "1": "bad", "2": "x"})]


def test_headerless_custom_task_trains_on_index_fields_and_names_bad_rows(tmp_path):
    train = write(tmp_path / "train.csv", "1,a fine film\n0,a dull film\n")
    task = make_custom_task(train, None, ["1"], "0", header=False)
    assert task.label_names == ["0", "1"] and task.to_dict()["header"] is False
    assert [(e.text_a, e.label) for e in load_split(task, "train")] == [("a fine film", 1), ("a dull film", 0)]
    assert "header" not in make_custom_task(write(tmp_path / "h.csv", "t,y\na,0\nb,1\n"), None, ["t"], "y").to_dict()
    bad = write(tmp_path / "bad.csv", "1,a fine film\n0\n1,  \n")
    with pytest.raises(DataError, match=r"bad\.csv:2: missing field '1': expected 2 fields \['0', '1'\], got 1"):
        rows_to_examples(read_table(bad, header=False), task, bad, BadRowPolicy())
    policy = BadRowPolicy(skip=True)
    assert len(rows_to_examples(read_table(bad, policy, header=False), task, bad, policy)) == 1
    assert [m.split(": ")[0:2] for m in policy.skipped] == [[f"{bad}:2", "missing field '1'"], [f"{bad}:3", "field '1' is empty"]]


def test_headerless_refusals_are_one_line(tmp_path):
    with pytest.raises(DataError, match=r"e\.csv:1: empty file"):
        list(read_table(write(tmp_path / "e.csv", "\n\n"), header=False))
    with pytest.raises(DataError, match="--no-header is for CSV/TSV"):
        read_table(write(tmp_path / "a.jsonl", '{"t": "x"}\n'), header=False)
