"""`infoprompt sweep` and `infoprompt report` through the main CLI: registration, dry run, exit codes."""

from __future__ import annotations

import os

import fakerun

from infoprompt.cli import main


def test_dry_run_lists_runs_and_writes_nothing(tmp_path, capsys):
    config = tmp_path / "s.yaml"
    config.write_text("grid:\n  method: [warp, infoprompt]\n  seed: [0, 1]\n")
    assert main(["sweep", str(config), "--runs-dir", str(tmp_path / "runs"), "--dry-run"]) == 0
    out = capsys.readouterr()
    lines = out.out.splitlines()
    assert len(lines) == 4 and all(line.startswith("pending ") for line in lines)
    assert "infoprompt train --method=warp --seed=1" in out.out and "4 runs: 4 pending" in out.err
    assert not (tmp_path / "runs").exists()


def test_sweep_then_report_through_the_cli(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(fakerun.HERE), os.environ.get("PYTHONPATH", "")]))
    config = tmp_path / "s.toml"
    runs = tmp_path / "runs"
    config.write_text(f'runs_dir = "{runs}"\n[grid]\nmethod = ["warp", "infoprompt"]\n')
    assert main(["sweep", str(config), "--runner", "fakerun:run", "--workers", "2", "--report"]) == 0
    out = capsys.readouterr()
    assert "sweep: 2/2 runs finished" in out.out and "[2/2 done, 0 left, 0 failed]" in out.err
    report = (runs / "report" / "report.md").read_text()
    assert "| WARP | 0.6700 (n=1) | 0.6700 |" in report and "| InfoPrompt | 0.7000 (n=1) | 0.7000 |" in report
    assert main(["report", str(runs), "--quiet", "--out", str(tmp_path / "rep")]) == 0
    assert (tmp_path / "rep" / "report.md").read_text() == report


def test_bad_sweep_file_and_bad_runner_exit_2_with_one_line(tmp_path, capsys):
    config = tmp_path / "s.yaml"
    config.write_text("grid:\n  method: [warp]\n  sheds: [1]\n")
    assert main(["sweep", str(config), "--runs-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"infoprompt: error: {config}:3: key 'grid.sheds': 'sheds' is not an `infoprompt train` flag"]
    config.write_text("grid:\n  method: [warp]\n")
    assert main(["sweep", str(config), "--runs-dir", str(tmp_path / "r"), "--runner", "nomodule:run"]) == 2
    assert "runner 'nomodule:run'" in capsys.readouterr().err
    assert main(["sweep", str(config)]) == 2
    assert "no runs directory" in capsys.readouterr().err
