"""Malformed data through the real CLI: one line naming file, line and field, exit 2; or, with
--skip-bad-rows, a finished run that says how many rows it skipped and shows some of them."""

from __future__ import annotations

import json

import pytest

from infoprompt.cli import main

GOOD = "sentence\tlabel\na great movie\t1\na terrible film\t0\n"


def _write(folder, name, data: bytes):
    path = folder / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("body, expected", [
    (b"sentence\tlabel\na great movie\t1\nno label here\n", ":3: missing field 'label'"),
    (b"sentence\tlabel\na great movie\t1\ntoo\tmany\tfields\n", ":3: extra field(s): expected 2 fields ['sentence', 'label'], got 3"),
    (b"sentence\tlabel\na great movie\t7\n", ":2: field 'label': unknown label '7'"),
    (b"sentence\tlabel\n\t1\n", ":2: field 'sentence' is empty"),
    (b"sentence\tlabel\ncaf\xe9 au lait\t1\n", ":2: undecodable byte 0xe9"),
])
def test_malformed_dev_row_exits_2_with_one_line(tmp_path, capsys, train_argv, task_files, body, expected):
    files = tmp_path / "files"
    files.mkdir()
    (files / "train.csv").write_bytes((task_files / "train.csv").read_bytes())
    bad = _write(files, "dev.tsv", body)
    code = main(train_argv(tmp_path / "run", files=files, dev="dev.tsv"))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and "Traceback" not in err[0]
    assert str(bad) in err[0] and expected in err[0], err[0]


def test_bom_and_crlf_are_read_not_rejected(tmp_path, capsys, train_argv, task_files):
    files = tmp_path / "files"
    files.mkdir()
    text = (task_files / "train.csv").read_text(encoding="utf-8")
    (files / "train.csv").write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode("utf-8"))
    (files / "dev.csv").write_bytes((task_files / "dev.csv").read_bytes())
    assert main(train_argv(tmp_path / "run", "--epochs", "1", files=files)) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["skipped_rows"] == 0


def test_skip_bad_rows_reports_count_and_examples(tmp_path, capsys, train_argv, task_files):
    files = tmp_path / "files"
    files.mkdir()
    rows = (task_files / "train.csv").read_text(encoding="utf-8").splitlines()
    rows[3] = "no label column here"
    rows[5] = ",1"
    (files / "train.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (files / "dev.csv").write_bytes((task_files / "dev.csv").read_bytes())
    assert main(train_argv(tmp_path / "run", "--epochs", "1", "--skip-bad-rows", files=files)) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert summary["skipped_rows"] == 2
    assert "skipped 2 bad row(s)" in captured.err
    assert "train.csv:4" in captured.err and "train.csv:6" in captured.err
