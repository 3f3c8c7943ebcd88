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


@pytest.mark.parametrize("kind", ["garbage-header", "length-beyond-file", "truncated-header"])
def test_api_load_of_a_malformed_tensor_file_is_one_checkpoint_error(kind, tmp_path, trained_run):
    """`infoprompt.load` (the API, which the catalogue's CLI cases do not reach) names the file in one line."""
    import shutil

    from catalogue import plant_tensors

    from infoprompt import load
    from infoprompt.errors import CheckpointError

    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    path = plant_tensors(run, kind)
    with pytest.raises(CheckpointError) as err:
        load(run)
    assert str(err.value).startswith(f"{path}: cannot read safetensors (") and "\n" not in str(err.value)
