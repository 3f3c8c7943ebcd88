"""The reliability catalogue: every case of catalogue.py through the real CLI, in process.

Each case asserts its exit code; for an error, that stderr is exactly one line, `infoprompt: error: ...`,
holding the expected file, line and field, with no traceback; and its own check that nothing was lost
(rows, earlier checkpoints, partial files). `python3 -m pytest tests/reliability -q` gives the figures
quoted in docs/reliability.md (`tests/reliability/count_cases.py` counts the catalogue by category).
"""

from __future__ import annotations

import os
import shutil

import pytest
from catalogue import CASES, Ctx

from infoprompt.cli import main


def test_the_catalogue_is_large_enough():
    assert len(CASES) >= 60


@pytest.mark.parametrize("name", list(CASES))
def test_case(name, tmp_path, task_files, tiny_model_dir, trained_run, monkeypatch, capsys):
    category, build = CASES[name]
    umask = os.umask(0o022)
    os.umask(umask)
    files = tmp_path / "files"
    shutil.copytree(task_files, files)
    try:
        ctx = Ctx(tmp_path, files, tiny_model_dir, trained_run, monkeypatch)
        spec = build(ctx)
        capsys.readouterr()  # only the case's own command is judged
        code = main(spec.argv)
        out, err = capsys.readouterr()
    finally:
        os.umask(umask)
    assert code == spec.code, f"{name}: exit {code}, expected {spec.code}; stderr: {err[-2000:]}"
    assert "Traceback" not in err
    if spec.code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("infoprompt: error: "), lines
        text = lines[0]
    else:
        text = out + err
    for expected in spec.expect:
        assert expected in text, f"{name}: {expected!r} not in {text!r}"
    if spec.check is not None:
        spec.check(out, err)
