"""`infoprompt analyze cmi|landscape` from the command line: files, output, one-line errors."""

from __future__ import annotations

import json

import pytest

from infoprompt.cli import main


@pytest.fixture
def small_sst2(tmp_path, shared_data):
    """A 24-row SST-2 (train and dev) in the GLUE layout, cut from the real files."""
    source = shared_data / "glue" / "sst2" / "train.tsv"
    if not source.is_file():
        pytest.skip("real SST-2 not available")
    lines = source.read_text(encoding="utf-8").splitlines()
    folder = tmp_path / "data" / "glue" / "sst2"
    folder.mkdir(parents=True)
    for split, rows in (("train", lines[1:25]), ("dev", lines[100:124])):
        (folder / f"{split}.tsv").write_text("\n".join([lines[0], *rows]) + "\n", encoding="utf-8")
    return tmp_path / "data"


@pytest.fixture
def use_backbone(monkeypatch):
    """Route the analyses' backbone loading to an already-built backbone (no reload per test)."""

    def use(backbone):
        monkeypatch.setattr("infoprompt.analysis.common.load_backbone", lambda name: backbone)

    return use


def test_cmi_on_minilm_end_to_end(minilm, use_backbone, small_sst2, tmp_path, capsys):
    use_backbone(minilm)
    argv = ["analyze", "cmi", "--task", "sst2", "--data-dir", str(small_sst2), "--handcrafted", "this is positive",
            "--inputs", "2", "--samples", "3", "--replicas", "1", "--directions", "2", "--out", str(tmp_path / "cmi"),
            "--json", "--quiet", "--threads", "1"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    out = captured.out.splitlines()
    assert len(out) == 1  # --json: exactly one JSON line on stdout; the human lines go to stderr
    summary = json.loads(out[0])
    assert set(summary) == {"random", "'this is positive'"}
    assert "estimator check" in captured.err
    saved = json.loads((tmp_path / "cmi" / "cmi.json").read_text())
    assert saved["readout"] == "mean-text" and saved["backbone"] == "minilm" and saved["n_prompts"] == 4
    assert (tmp_path / "cmi" / "cmi.png").stat().st_size > 0


def test_landscape_cli_writes_its_files(tiny_bert, use_backbone, small_sst2, tmp_path, capsys):
    use_backbone(tiny_bert)
    argv = ["analyze", "landscape", "--data-dir", str(small_sst2), "--steps", "2", "--grid", "2", "--examples", "3",
            "--shots", "0", "--gammas", "0.05", "--out", str(tmp_path / "land"), "--quiet"]
    assert main(argv) == 0
    assert "landscape 2x2" in capsys.readouterr().out
    assert {p.name for p in (tmp_path / "land").iterdir()} == {"landscape.png", "landscape.json", "landscape.csv"}


def test_mi_check_prints_the_validation_table(capsys):
    assert main(["analyze", "mi-check", "--seeds", "2", "--groups", "16", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [(r["rho"], r["dim"]) for r in rows] == [(0.5, 2), (0.8, 2), (0.9, 2), (0.8, 4)]
    assert all(r["max_relative_error"] < 0.25 and r["seeds"] == 2 for r in rows)


@pytest.mark.parametrize("argv", [
    ["analyze", "cmi", "--out", "x", "--no-random", "--handcrafted", "hi"],  # no task, no checkpoint
    ["analyze", "cmi", "--task", "sst2", "--checkpoint", "no/such/run", "--out", "x"],
    ["analyze", "landscape", "--beta", "0", "--out", "x"],
    ["analyze", "cmi", "--task", "sst2", "--threads", "0", "--out", "x"],
])
def test_user_errors_are_one_line_exit_2(argv, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("infoprompt: error:")
