"""A kill in a run's closing phase (after its last state was saved as finished: the selection record, the test
score, the plot, the model card) is resumed to the same log: the closing records are written once, never
missing and never twice (found with issue 25's random kills in mind: a finished run resumed wrote its test
record again)."""

from __future__ import annotations

import pytest

from infoprompt.cli import main


@pytest.fixture
def test_file(tmp_path):
    path = tmp_path / "test.csv"
    rows = [f"great fun {i},1" if i % 2 else f"boring {i},0" for i in range(10)]
    path.write_text("\n".join(["sentence,label", *rows]) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("lost", [0, 1, 2])  # closing records the kill kept from disk: none, the test score, both
def test_a_kill_in_the_closing_phase_resumes_to_the_same_log(tmp_path, train_argv, test_file, capsys, lost):
    run = tmp_path / "run"
    argv = train_argv(run, "--method", "warp", "--epochs", "1", "--test-file", str(test_file))
    assert main(argv) == 0
    log = run / "metrics.jsonl"
    full = log.read_bytes()
    lines = full.splitlines(keepends=True)
    assert [line.split(b'"type": "')[1].split(b'"')[0] for line in lines[-2:]] == [b"selection", b"test"]
    log.write_bytes(b"".join(lines[:len(lines) - lost]))  # what a kill before those writes leaves
    assert main([*argv, "--resume"]) == 0
    assert log.read_bytes() == full
    capsys.readouterr()
