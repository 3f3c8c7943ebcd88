"""The selection protocol: the reported score never chose its own checkpoint; early stopping on the selection split."""

from __future__ import annotations

import json

import pytest

from infoprompt.cli import main
from infoprompt.errors import ConfigError
from infoprompt.training.config import TrainerConfig
from infoprompt.training.selection import Protocol, resolve_patience, split_dev

LABELS = [0] * 30 + [1] * 10


def test_dev_split_halves_are_disjoint_stratified_and_seeded():
    split = split_dev(LABELS, seed=3)
    assert sorted(split.selection + split.report) == list(range(40))
    assert not set(split.selection) & set(split.report)
    assert sum(LABELS[i] for i in split.selection) == 5 == sum(LABELS[i] for i in split.report)  # 10 ones, halved
    assert split == split_dev(LABELS, seed=3) and split != split_dev(LABELS, seed=4)


def test_dev_split_keeps_each_group_whole():
    groups = [f"q{i // 4}" for i in range(40)]  # 10 questions of 4 answer options (MultiRC-style)
    split = split_dev(LABELS, seed=0, groups=groups)
    assert {groups[i] for i in split.selection}.isdisjoint({groups[i] for i in split.report})
    with pytest.raises(ConfigError, match="at least 2"):
        split_dev([1], seed=0)


def test_patience_defaults_and_refusals():
    assert resolve_patience("dev-split", None) == 5 and resolve_patience("last", None) == 0
    assert resolve_patience("test", 2) == 2
    with pytest.raises(ConfigError, match="selects nothing"):
        resolve_patience("last", 3)
    with pytest.raises(ConfigError, match="--select-on"):
        TrainerConfig(select_on="best").validate()
    with pytest.raises(ConfigError, match="--patience must be >= 0"):
        TrainerConfig(patience=-1).validate()


def _record(step: int, selection: float, report: float) -> dict:
    return {"type": "eval", "step": step, "metrics": {"accuracy": (selection + report) / 2},
            "selection": {"accuracy": selection}, "report": {"accuracy": report}}


def test_selection_reads_only_the_selection_half_and_stops_after_patience():
    protocol = Protocol("dev-split", 2, LABELS, ["accuracy"], "accuracy", seed=0)
    first, worse_report_better = _record(1, 0.7, 0.5), _record(2, 0.6, 0.9)
    assert not protocol.is_better(worse_report_better, first)  # a better report half never selects
    history = [first, worse_report_better]
    assert not protocol.should_stop(history)
    history.append(_record(3, 0.7, 0.9))  # a tie is no improvement
    assert protocol.should_stop(history)
    assert not protocol.should_stop([first, _record(2, 0.8, 0.1), _record(3, 0.1, 0.1)])


def test_score_reports_halves_and_a_collapse():
    protocol = Protocol("dev-split", None, LABELS, ["accuracy"], "accuracy", seed=0)
    fields = protocol.score([0] * 40)  # always the majority class
    assert fields["metrics"]["accuracy"] == 0.75 == fields["report"]["accuracy"] == fields["selection"]["accuracy"]
    assert fields["predicted"] == {"class": 0, "share": 1.0, "collapsed": True}
    assert protocol.reference()["rate"] == 0.75
    last = Protocol("last", None, LABELS, ["accuracy"], "accuracy", seed=0)
    assert "selection" not in last.score([1] * 40) and last.is_better(_record(2, 0.0, 0.0), _record(1, 1.0, 1.0))


@pytest.fixture
def files(tmp_path):
    rows = {"train.csv": (16, 0), "dev.csv": (16, 100)}  # dev's rows differ from train's (else honest: false)
    for name, (n, offset) in rows.items():
        text = ["sentence,label"] + [f"{'great fun' if i % 2 else 'boring film'} {i + offset},{i % 2}"
                                     for i in range(n)]
        (tmp_path / name).write_text("\n".join(text) + "\n", encoding="utf-8")
    return tmp_path


def _train(files, tiny_model_dir, out, capsys, *extra) -> dict:
    argv = ["train", "--task", "custom", "--train-file", str(files / "train.csv"), "--dev-file",
            str(files / "dev.csv"), "--text-fields", "sentence", "--verbalizer", "0=bad,1=good", "--backbone",
            str(tiny_model_dir), "--method", "prompt", "--batch-size", "8", "--output", str(out), "--quiet",
            "--json", *extra]
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def _evals(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_train_reports_selected_and_last_side_by_side_and_stops_early(files, tiny_model_dir, tmp_path, capsys):
    # lr 0: the dev metrics never change, so the first evaluation stays selected and patience 1 stops at the second
    summary = _train(files, tiny_model_dir, tmp_path / "run", capsys, "--epochs", "6", "--lr", "1e-12",
                     "--patience", "1")
    assert summary["select_on"] == "dev-split" and summary["honest"] is True
    assert summary["stopped_early"] is True and summary["steps"] == 4 and summary["selected_step"] == 2
    reported = summary["reported"]
    assert set(reported) >= {"selected", "last", "majority", "collapsed", "predicted_share"}
    assert reported["majority"]["rate"] == 0.5 and reported["split"].startswith("dev (the other half, n=8)")
    records = _evals(tmp_path / "run")
    closing = records[-1]
    assert closing["type"] == "selection" and closing["selected_step"] == 2 and closing["last_step"] == 4
    assert closing["last"] == next(r for r in records if r.get("step") == 4 and r["type"] == "eval")["report"]


def test_last_keeps_the_last_evaluation(files, tiny_model_dir, tmp_path, capsys):
    summary = _train(files, tiny_model_dir, tmp_path / "run", capsys, "--epochs", "3", "--select-on", "last")
    assert summary["selected_step"] == summary["last_step"] == summary["steps"] == 6
    assert summary["reported"]["selected"] == summary["reported"]["last"] == summary["dev"]
    assert summary["patience"] == 0 and summary["stopped_early"] is False


def test_test_protocol_needs_a_test_split_and_reports_it(files, tiny_model_dir, tmp_path, capsys):
    argv = ["train", "--task", "custom", "--train-file", str(files / "train.csv"), "--dev-file", str(files / "dev.csv"),
            "--text-fields", "sentence", "--backbone", str(tiny_model_dir), "--method", "prompt", "--select-on", "test",
            "--output", str(tmp_path / "x"), "--quiet"]
    assert main(argv) == 2
    assert "no labelled test split" in capsys.readouterr().err
    summary = _train(files, tiny_model_dir, tmp_path / "run", capsys, "--epochs", "2", "--select-on", "test",
                     "--test-file", str(files / "dev.csv"))
    assert summary["reported"]["split"] == "test" and summary["test"] == summary["reported"]["selected"]
    assert summary["selection_split"] == "dev (n=16)"
    assert _evals(tmp_path / "run")[-1]["type"] == "test"


def test_an_early_stopped_run_resumes_as_finished(files, tiny_model_dir, tmp_path, capsys):
    first = _train(files, tiny_model_dir, tmp_path / "run", capsys, "--epochs", "6", "--lr", "1e-12", "--patience", "1")
    again = _train(files, tiny_model_dir, tmp_path / "run", capsys, "--epochs", "6", "--lr", "1e-12", "--patience", "1",
                   "--resume")
    assert again["steps"] == first["steps"] == 4 and again["reported"] == first["reported"]


def test_learning_curve_shows_a_single_evaluation_the_kept_step_and_the_majority_line():
    from infoprompt.report.learning_curve import learning_curve_figure

    records = [{"type": "train", "step": 1, "total": 0.7, "losses": {}, "lr": 1e-3},
               {"type": "eval", "step": 1, "metrics": {"accuracy": 0.6}},
               {"type": "selection", "select_on": "dev-split", "selected_step": 1}]
    fig = learning_curve_figure(records, "accuracy", "t", majority=0.509, level=0.7)
    ax = fig.axes[0]
    assert any(len(line.get_xdata()) == 1 and line.get_marker() == "o" for line in ax.lines)
    labels = [text.get_text() for text in fig.legends[0].get_texts()]
    assert labels == ["dev accuracy (full split)", "kept checkpoint (chosen on the selection half)",
                      "majority class: 0.509", "convergence level: 0.7", "train loss"]


def test_few_shot_protocol_is_honest_and_its_settings_are_checked():
    from infoprompt.config import TrainConfig
    from infoprompt.training.selection import HONEST, SELECT_ON

    assert "few-shot" in SELECT_ON and HONEST["few-shot"] and resolve_patience("few-shot", None) == 5
    protocol = Protocol("few-shot", None, [0, 1, 0, 1], ["accuracy"], "accuracy", seed=0)
    assert protocol.split is None and protocol.split_names()[0] == "dev draw (n=4)"  # the whole draw selects
    cases = [
        (dict(select_on="few-shot"), "--select-on few-shot needs --shots-per-class K"),
        (dict(shots=32, shots_per_class=16), "not both"),
        (dict(shots_per_class=16, stratified=True), "balanced already"),
        (dict(task="sst5", official_draw=True), "use it with --select-on few-shot"),
        (dict(task="sst2", select_on="few-shot", official_draw=True), "task 'sst2' has no official LM-BFF draws"),
        (dict(task="cr", select_on="few-shot", official_draw=True, seed=0), r"--seed 0 is not one of LM-BFF's draws"),
        (dict(task="cr", select_on="few-shot", official_draw=True, seed=13, shots_per_class=8), "ships 16"),
    ]
    for settings, message in cases:
        with pytest.raises(ConfigError, match=message):
            TrainConfig(**settings)
    assert TrainConfig(task="mpqa", select_on="few-shot", official_draw=True, seed=100).shots_per_class is None
