"""The reliability catalogue: every case of catalogue.py through the real CLI, in process.

Each case asserts its exit code; for an error, that stderr is exactly one line, `infoprompt: error: ...`,
holding the expected file, line and field, with no traceback; and its own check that nothing was lost
(rows, earlier checkpoints, partial files). The judging is `run_catalogue.run_case`, shared with
`python3 tests/reliability/run_catalogue.py`, which runs these same tests and prints the counts per
category quoted in docs/reliability.md (answered, tracebacks, silent, hangs).
"""

from __future__ import annotations

import pytest
from catalogue import CASES
from run_catalogue import run_case


def test_the_catalogue_is_large_enough():
    assert len(CASES) >= 60


@pytest.mark.parametrize("name", list(CASES))
def test_case(name, tmp_path, task_files, tiny_model_dir, trained_run, monkeypatch, capsys, request):
    outcome = run_case(name, tmp_path, task_files, tiny_model_dir, trained_run, monkeypatch, capsys)
    request.node.user_properties.append(("catalogue_outcome", outcome))
    assert outcome.verdict == "answered", f"{name}: {outcome.verdict}: {outcome.detail}"
