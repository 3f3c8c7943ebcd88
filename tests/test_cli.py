"""End-to-end checks on the real MiniLM backbone with a few dozen real SST-2 rows (a custom task)."""

from __future__ import annotations

import json

import pytest

from infoprompt.cli import main


@pytest.fixture(scope="module")
def sst2_files(tmp_path_factory, shared_data):
    source = shared_data / "glue" / "sst2" / "train.tsv"
    if not source.is_file():
        pytest.skip("real data not available")
    lines = source.read_text(encoding="utf-8").splitlines()
    folder = tmp_path_factory.mktemp("sst2small")
    header, rows = lines[0], lines[1:]
    (folder / "train.tsv").write_text("\n".join([header, *rows[:48]]) + "\n", encoding="utf-8")
    (folder / "dev.tsv").write_text("\n".join([header, *rows[1000:1040]]) + "\n", encoding="utf-8")
    (folder / "input.jsonl").write_text("".join(json.dumps({"sentence": r.split("\t")[0]}) + "\n" for r in rows[2000:2005]))
    return folder


def run_json(capsys, argv: list[str]) -> dict:
    """With --json, stdout is exactly one JSON line (everything for people goes to stderr)."""
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1, lines
    return json.loads(lines[0])


def train_args(files, out, method="infoprompt", seed=0):
    return ["train", "--task", "custom", "--train-file", str(files / "train.tsv"), "--dev-file", str(files / "dev.tsv"),
            "--text-fields", "sentence", "--label-field", "label", "--verbalizer", "0=terrible,1=great",
            "--method", method, "--epochs", "2", "--seed", str(seed), "--output", str(out), "--json", "--quiet"]


@pytest.mark.parametrize("method", ["infoprompt", "warp"])
def test_train_evaluate_predict_round_trip(sst2_files, tmp_path, capsys, method):
    summary = run_json(capsys, train_args(sst2_files, tmp_path / "run", method))
    assert {"task", "method", "backbone", "seed", "shots", "n_prompts", "trainable_params", "train_seconds",
            "wall_seconds", "dev"} <= set(summary)
    assert 0 < summary["train_seconds"] < summary["wall_seconds"]  # training time only; wall time is its own key
    assert summary["seconds_per_epoch"] > 0 and summary["peak_rss_mb"] > 0  # cost beside the score (issue 23)
    assert summary["environment"]["torch"] and summary["environment"]["transformers"]
    assert summary["readout"].startswith("mean-text:") and summary["backbone"] == "minilm"
    assert (tmp_path / "run" / "model.safetensors").is_file() and (tmp_path / "run" / "learning_curve.png").is_file()
    log = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert sum(r["type"] == "train" for r in log) == 12 and sum(r["type"] == "eval" for r in log) == 2
    if method == "infoprompt":
        assert set(log[0]["losses"]) == {"pred", "rep", "head", "kl"}
    evaluated = run_json(capsys, ["evaluate", "--checkpoint", str(tmp_path / "run"), "--json"])
    assert evaluated["dev"] == summary["dev"]  # exactly, not approximately
    assert main(["predict", "--checkpoint", str(tmp_path / "run"), "--input", str(sst2_files / "input.jsonl"),
                 "--output", str(tmp_path / "pred.tsv")]) == 0
    lines = (tmp_path / "pred.tsv").read_text().splitlines()
    assert lines[0] == "source\ttext\tprediction\tprob_0\tprob_1" and len(lines) == 6
    rows = [line.split("\t") for line in lines[1:]]
    assert all(row[2] in ("0", "1") for row in rows)
    assert all(abs(float(row[3]) + float(row[4]) - 1) < 1e-4 for row in rows)
    assert [row[0] for row in rows] == [f"{sst2_files / 'input.jsonl'}:{i}" for i in range(1, 6)]  # one per input line


def test_same_seed_gives_identical_metrics(sst2_files, tmp_path, capsys):
    a = run_json(capsys, train_args(sst2_files, tmp_path / "a", "idpg", seed=5))
    b = run_json(capsys, train_args(sst2_files, tmp_path / "b", "idpg", seed=5))
    assert a["dev"] == b["dev"]
    assert (tmp_path / "a" / "model.safetensors").read_bytes() == (tmp_path / "b" / "model.safetensors").read_bytes()


def test_bad_input_exits_2_with_one_line(tmp_path, capsys, sst2_files):
    bad = tmp_path / "dev.tsv"
    bad.write_text("sentence\tlabel\ngood\t1\nbroken row without label\n")
    code = main(["train", "--task", "custom", "--train-file", str(sst2_files / "train.tsv"), "--dev-file", str(bad),
                 "--text-fields", "sentence", "--epochs", "1", "--output", str(tmp_path / "r"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert f"{bad}:3: missing field 'label'" in err[0]


@pytest.mark.parametrize("argv, message", [
    (["train", "--task", "nope"], "unknown task 'nope'"),
    (["train", "--method", "nope"], "unknown method 'nope'"),
    (["train", "--n-prompts", "0"], "--n-prompts must be >= 1"),
    (["train", "--method", "warp", "--beta", "0.1"], "--beta do(es) not apply to method 'warp'"),
    (["train", "--ablation", "no-head", "--gamma", "0.3"], "--ablation no-head sets gamma to 0; it conflicts"),
    (["train", "--warmup-ratio", "1.5"], "--warmup-ratio must be < 1"),
    (["evaluate", "--checkpoint", "/nonexistent/run"], "checkpoint directory not found"),
])
def test_config_errors_exit_2(capsys, argv, message):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_top_level_help_is_for_users(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0 and "Soft prompts" in out and "Command line: argument parsing" not in out
    for command in ("train", "evaluate", "predict", "sweep", "report", "prune", "export"):
        assert command in out
