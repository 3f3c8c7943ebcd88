"""`infoprompt prune`: one-line errors with exit code 2, and a run end to end through the CLI."""

from __future__ import annotations

import json

import pytest

from infoprompt.cli import main


@pytest.mark.parametrize(("flags", "message"), [
    (["--ratio", "1.5"], "--ratio must be in (0, 1)"),
    (["--ratio", "0"], "--ratio must be in (0, 1)"),
    (["--sweep", "0.1,abc"], "--sweep: 'abc' is not a number"),
    (["--ratio", "0.5", "--sweep", "0.1"], "exactly one of --ratio"),
    (["--ratio", "0.5", "--granularity", "word"], "--granularity must be one of token, piece, both"),
    (["--ratio", "0.5", "--epochs", "3"], "--epochs is for training stage 1"),
])
def test_bad_options_are_one_line_and_exit_2(tmp_path, capsys, flags, message):
    code = main(["prune", "--run", str(tmp_path), *flags])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and message in err


def test_prune_then_evaluate_through_the_cli(tmp_path, capsys, stage_one):
    run = stage_one("prompt")
    out = tmp_path / "pruned"
    code = main(["prune", "--run", str(run), "--ratio", "0.5", "--granularity", "token", "--pieces", "4",
                 "--no-compare", "--output", str(out), "--quiet", "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["selected"]["ratio"] == 0.5
    report = json.loads((out / "prune.json").read_text())
    row = report["ratios"][0]
    assert (row["tokens_kept"], row["nonzero_prompt_params"]) == (2, 2 * 32)
    assert main(["evaluate", "--checkpoint", summary["selected"]["checkpoint"], "--json"]) == 0
    scored = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert scored["dev"] == row["dev_after"]
