"""Evaluation feedback: progress while dev is scored, plain lines without a terminal, --eval-subsample."""

from __future__ import annotations

import io
import json

import pytest

from infoprompt.training.evaluator import eval_subset
from infoprompt.training.progress import LineProgress, progress_bar


def test_eval_subset_is_a_seeded_fixed_draw_in_file_order():
    a, b = eval_subset(100, 10, seed=3), eval_subset(100, 10, seed=3)
    assert a == b and a == sorted(a) and len(set(a)) == 10 and all(0 <= i < 100 for i in a)
    assert eval_subset(100, 10, seed=4) != a
    assert eval_subset(10, 10, seed=0) is None and eval_subset(10, None, seed=0) is None


def test_line_progress_prints_whole_lines():
    stream = io.StringIO()
    bar = LineProgress(total=4, desc="dev", unit="ex", interval=0.0, stream=stream)
    bar.update(2)
    bar.set_postfix({"acc": "0.5"})
    bar.update(2)
    bar.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and "\r" not in stream.getvalue()
    assert lines[0].startswith("dev:  50% 2/4") and lines[1].startswith("dev: 100% 4/4") and "acc=0.5" in lines[1]


def test_no_terminal_gives_lines_and_quiet_gives_nothing(monkeypatch):
    import sys

    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert isinstance(progress_bar(10, "train", "step", enabled=True), LineProgress)
    assert not isinstance(progress_bar(10, "train", "step", enabled=False), LineProgress)


def _files(tmp_path, n_train=16, n_dev=40):
    words = ["good fun", "bad film", "great cast", "terrible plot"]
    for name, n in (("train.csv", n_train), ("dev.csv", n_dev)):
        rows = ["sentence,label"] + [f"{words[i % 4]} {i},{i % 2 if i % 4 < 2 else 1 - i % 2}" for i in range(n)]
        (tmp_path / name).write_text("\n".join(rows) + "\n")
    return tmp_path


@pytest.mark.parametrize("subsample", [None, 8])
def test_eval_subsample_selects_on_the_subset_and_reports_full_split_scores(tmp_path, tiny_bert, subsample):
    from infoprompt.api import TrainConfig, train

    files = _files(tmp_path)
    cfg = TrainConfig(task="custom", method="warp", train_file=str(files / "train.csv"),
                      dev_file=str(files / "dev.csv"), text_fields=["sentence"], epochs=2, batch_size=4,
                      eval_every=2, eval_subsample=subsample, lr=0.05, output=str(tmp_path / "run"),
                      progress=False, device="cpu", max_length=32, patience=0)
    result = train(cfg, backbone=tiny_bert)
    log = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in log if r["type"] == "eval"]
    assert len(evals) == 4
    kept = next(r for r in evals if r["step"] == result.summary["selected_step"])
    closing = next(r for r in log if r["type"] == "selection")
    if subsample is None:
        assert all("subsample" not in r and "subset" not in r for r in evals)
        assert closing["selected"] == kept["report"]
        return
    assert all(r["subsample"] == 8 for r in evals)
    full = [r for r in evals if "subset" in r]  # scored on the whole dev split, the subsample's fields under "subset"
    assert evals[-1] in full and kept in full  # the last evaluation and the kept checkpoint: full split
    assert all(round(r["metrics"]["accuracy"] * 8, 6).is_integer() for r in evals if r not in full)  # n = 8
    assert all(round(r["metrics"]["accuracy"] * 40, 6).is_integer() for r in full)  # n = 40
    assert closing["selected"] == kept["report"] and closing["last"] == evals[-1]["report"]
    assert result.metrics == kept["metrics"]
    record = json.loads((tmp_path / "run" / "config.json").read_text())
    assert record["dev_metrics"] == kept["metrics"]


def test_evaluate_and_predict_of_a_checkpoint_show_progress_when_asked(tmp_path, tiny_bert, monkeypatch, capsys):
    """`infoprompt evaluate`/`predict` pass progress on a terminal; without one (here) the scoring prints whole
    progress lines (every 30 s; here every update), each naming what is scored, and the scores are the same."""
    import sys

    from infoprompt.api import TrainConfig, evaluate, predict_file, train

    files = _files(tmp_path, n_dev=12)
    cfg = TrainConfig(task="custom", method="prompt", train_file=str(files / "train.csv"),
                      dev_file=str(files / "dev.csv"), text_fields=["sentence"], epochs=1, batch_size=8,
                      output=str(tmp_path / "run"), progress=False, device="cpu", max_length=32, patience=0,
                      select_on="last")
    train(cfg, backbone=tiny_bert)
    from infoprompt.training import inference

    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    monkeypatch.setattr(inference, "progress_bar", lambda *a, **k: progress_bar(*a, **k, interval=0.0))  # no 30 s wait
    capsys.readouterr()
    quiet = evaluate(tmp_path / "run", backbone=tiny_bert)
    assert capsys.readouterr().err == ""
    shown = evaluate(tmp_path / "run", backbone=tiny_bert, progress=True)
    err = capsys.readouterr().err.splitlines()
    assert shown["dev"] == quiet["dev"] and err and err[-1].startswith("dev: 100% 12/12")
    report = predict_file(tmp_path / "run", files / "dev.csv", backbone=tiny_bert, progress=True)
    err = capsys.readouterr().err.splitlines()
    assert len(report.rows) == 12 and err and err[-1].startswith("predict: 100% 12/12")
