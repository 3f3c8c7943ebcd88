"""Issue 25's acceptance: 20 SIGKILLs of a running `infoprompt train`, at random moments, each leave a run
directory that verifies, and `--resume` after the last one ends bit-identical to an uninterrupted run.

The kills are chained, as a user sees them: one run killed and resumed 20 times in a row, each kill at a
random moment inside a random step (its update, an evaluation or a save). The processes are forked from a
server that imported the package once (`launcher="fork"`), so the test costs start-ups, not imports."""

from __future__ import annotations

import pytest

from infoprompt.training.fault_injection import kill_and_resume


def _args(train_argv, tmp_path, *extra: str) -> list[str]:
    argv = train_argv(tmp_path / "unused", "--method", "infoprompt", "--batch-size", "4", "--save-every", "1",
                      "--eval-every", "3", *extra)
    args = [a for a in argv[1:] if a not in ("--quiet", "--json")]
    out = args.index("--output")
    del args[out: out + 2]
    return args


@pytest.mark.parametrize("kills, epochs, seed", [(20, 4, 0)])
def test_random_sigkills_then_resume_match_an_uninterrupted_run(tmp_path, train_argv, kills, epochs, seed):
    report = kill_and_resume(_args(train_argv, tmp_path, "--epochs", str(epochs)), tmp_path, kills=kills,
                             seed=seed, timeout=120, launcher="fork")
    assert len(report.kill_steps) == kills, report.to_dict()
    assert report.checkpoints_seen > 0, report.to_dict()
    assert report.identical, report.to_dict()
