"""--report-to: every loss term, the lr and every dev metric reach TensorBoard, W&B (offline) and MLflow."""

from __future__ import annotations

import glob
import json
import struct

import pytest

from infoprompt.api import TrainConfig, train
from infoprompt.cli import main
from infoprompt.errors import ConfigError
from infoprompt.report.learning_curve import read_log
from infoprompt.training import tracking
from infoprompt.training.tracking import check_report_to, record_scalars

GOOD = ["a great movie", "wonderful cast", "fun plot", "this is positive", "a wonderful film", "great fun"]
BAD = ["a terrible film", "boring and long", "thin plot", "this is negative", "a boring film", "terrible cast"]
TRAIN = [{"text": t, "label": "pos"} for t in GOOD[:4]] + [{"text": t, "label": "neg"} for t in BAD[:4]]
DEV = [{"text": t, "label": "pos"} for t in GOOD[4:]] + [{"text": t, "label": "neg"} for t in BAD[4:]]


def _run(tmp_path, backbone, report_to: str):
    """A tiny InfoPrompt run (several named loss terms); returns (run dir, {tag: [(step, value)]} from its log)."""
    cfg = TrainConfig(task="custom", method="infoprompt", text_fields=["text"], train_data=TRAIN, dev_data=DEV,
                      n_prompts=2, epochs=2, batch_size=4, max_length=24, output=str(tmp_path / "run"),
                      progress=False, save_every=None, report_to=report_to)
    run_dir = train(cfg, backbone=backbone).run_dir
    expected: dict[str, list] = {}
    for record in read_log(run_dir / "metrics.jsonl"):
        for tag, value in record_scalars(record).items():
            expected.setdefault(tag, []).append((record["step"], value))
    assert {"loss/total", "lr", "dev/accuracy", "dev/macro_f1"} <= set(expected)
    assert len([t for t in expected if t.startswith("loss/")]) >= 3  # the method's terms and the total
    return run_dir, expected


def test_record_scalars_names_every_term_the_lr_and_every_metric():
    train_record = {"type": "train", "step": 3, "lr": 0.1, "total": 1.5, "losses": {"pred": 1.0, "head": 0.5}}
    assert record_scalars(train_record) == {"loss/pred": 1.0, "loss/head": 0.5, "loss/total": 1.5, "lr": 0.1}
    assert record_scalars({"type": "eval", "step": 3, "metrics": {"accuracy": 0.5}}) == {"dev/accuracy": 0.5}
    halves = {"type": "eval", "step": 3, "metrics": {"accuracy": 0.5}, "selection": {"accuracy": 0.4},
              "report": {"accuracy": 0.6}, "predicted": {"class": 1, "share": 0.75, "collapsed": False}}
    assert record_scalars(halves) == {"dev/accuracy": 0.5, "dev_selection/accuracy": 0.4,
                                      "dev_report/accuracy": 0.6, "dev/top_class_share": 0.75}


def test_tensorboard_event_files_hold_every_loss_term(tmp_path, tiny_bert):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir, expected = _run(tmp_path, tiny_bert, "tensorboard")
    events = EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()
    assert set(events.Tags()["scalars"]) == set(expected)
    for tag, points in expected.items():
        got = [(e.step, e.value) for e in events.Scalars(tag)]
        assert got == [(s, pytest.approx(v, rel=1e-6)) for s, v in points], tag


def _wandb_history(run_dir) -> list[dict]:
    """History rows of an offline W&B run, read from its transaction log (LevelDB-style 32 KiB blocks of
    crc/length/type-framed protobuf Records; the wandb package ships no Python reader for it)."""
    from wandb.proto import wandb_internal_pb2 as pb

    (path,) = glob.glob(str(run_dir / "wandb" / "offline-run-*" / "*.wandb"))
    data = open(path, "rb").read()
    block, pos, buf, rows = 32 * 1024, 7, b"", []
    while pos + 7 <= len(data):
        left = block - pos % block
        crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if left < 7 or (length == 0 and kind == 0):
            pos += left
            continue
        buf += data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # a full record, or the last chunk of one
            record = pb.Record()
            record.ParseFromString(buf)
            buf = b""
            if record.WhichOneof("record_type") == "history":
                rows.append({i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in record.history.item})
    return rows


def test_wandb_offline_run_holds_every_loss_term(tmp_path, tiny_bert, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    run_dir, expected = _run(tmp_path, tiny_bert, "wandb")
    got: dict[str, list] = {}
    for row in _wandb_history(run_dir):
        for tag, value in row.items():
            if not tag.startswith("_"):
                got.setdefault(tag, []).append((row["_step"], value))
    assert set(got) == set(expected)
    for tag, points in expected.items():
        assert got[tag] == [(s, pytest.approx(v, rel=1e-6)) for s, v in points], tag


def test_mlflow_local_file_store_holds_every_metric(tmp_path, tiny_bert, monkeypatch):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    run_dir, expected = _run(tmp_path, tiny_bert, "mlflow")
    client = MlflowClient(tracking_uri=(run_dir / "mlruns").resolve().as_uri())
    (run,) = client.search_runs([client.get_experiment_by_name("infoprompt").experiment_id])
    assert run.info.status == "FINISHED" and run.info.run_name == "run"
    assert set(run.data.metrics) == set(expected)
    assert json.loads(run.data.params["method"]) == "infoprompt"
    for tag, points in expected.items():
        history = sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, tag))
        assert history == [(s, pytest.approx(v, rel=1e-6)) for s, v in points], tag


def test_a_run_that_fails_is_marked_failed(tmp_path):
    pytest.importorskip("mlflow")
    trackers = tracking.make_trackers("mlflow", tmp_path, "broken", {"seed": 0})
    trackers.write({"type": "train", "step": 1, "lr": 0.1, "total": 1.0, "losses": {"pred": 1.0}})
    try:
        raise RuntimeError("diverged")
    except RuntimeError:
        trackers.close()
    client = trackers.trackers[0].client
    assert client.get_run(trackers.trackers[0].run_id).info.status == "FAILED"


def test_unknown_or_missing_backends_are_one_line_errors(tmp_path, capsys, monkeypatch):
    assert check_report_to("none") == [] and check_report_to(None) == []
    with pytest.raises(ConfigError, match="unknown backend 'comet'"):
        check_report_to("tensorboard,comet")
    monkeypatch.setattr(tracking.TensorBoardTracker, "package", "no_such_package_xyz")
    with pytest.raises(ConfigError, match=r"needs the 'no_such_package_xyz' package \(pip install 'infoprompt\[tensorboard\]'\)"):
        check_report_to("tensorboard")
    code = main(["train", "--task", "custom", "--report-to", "comet", "--output", str(tmp_path / "r")])
    assert code == 2 and "unknown backend 'comet'" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()  # refused before any data or backbone was loaded
