"""The sweep executor with a cheap in-process run function: skip finished runs, restart crashed ones with
resume, record failures, report progress."""

from __future__ import annotations

import io
import json
from pathlib import Path

import fakerun
import pytest

from infoprompt.sweep import RunSpec, execute_run, run_sweep
from infoprompt.sweep import rundir as rd
from infoprompt.sweep.executor import prepare
from infoprompt.sweep.progress import SweepProgress
from infoprompt.sweep.runners import FAILED, Outcome


def grid(n_seeds: int = 3) -> list[RunSpec]:
    return [RunSpec({"method": m, "task": "sst2", "seed": s, "epochs": 2}) for m in ("warp", "infoprompt")
            for s in range(n_seeds)]


def starts(run_dir: Path) -> list[dict]:
    path = run_dir / "starts.log"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.is_file() else []


def run_dirs(runs: Path) -> list[Path]:
    return sorted(p for p in runs.iterdir() if (p / rd.SPEC).is_file())


def test_every_run_gets_its_own_dir_spec_and_result_and_a_rerun_skips_them(tmp_path):
    runs = tmp_path / "runs"
    result = run_sweep(grid(), runs, workers=2, run_fn=fakerun.run, progress=False)
    assert (result.total, result.skipped, len(result.outcomes), result.ok) == (6, 0, 6, True)
    dirs = run_dirs(runs)
    assert len(dirs) == 6
    for d in dirs:
        spec = json.loads((d / rd.SPEC).read_text())
        res = json.loads((d / rd.RESULT).read_text())
        assert d.name == spec["name"] and d.name.endswith("_" + spec["hash"]) and res["spec_hash"] == spec["hash"]
        assert res["dev"]["accuracy"] == fakerun.fake_score(spec["args"])
        assert starts(d) == [{"resume": False, "pid": starts(d)[0]["pid"]}]
        assert [a["event"] for a in rd.read_attempts(d)] == ["start", "finished"]
    again = run_sweep(grid(), runs, workers=2, run_fn=fakerun.run, progress=False)
    assert (again.skipped, again.outcomes) == (6, [])
    assert all(len(starts(d)) == 1 for d in dirs)


def test_a_crashed_run_is_restarted_with_resume_and_only_it(tmp_path):
    runs = tmp_path / "runs"
    specs = grid(2)
    prepared = prepare(specs, runs)
    crashed = prepared[1][1]
    rd.append_attempt(crashed, "start", attempt=1, resume=False)  # a process that died mid-run leaves only this
    assert rd.run_state(crashed, prepared[1][0].hash) == "crashed"
    assert rd.run_state(prepared[0][1], prepared[0][0].hash) == "pending"
    result = run_sweep(specs, runs, run_fn=fakerun.run, progress=False)
    assert result.ok and len(result.outcomes) == 4
    assert [s["resume"] for s in starts(crashed)] == [True]
    assert all([s["resume"] for s in starts(d)] == [False] for _, d in prepared if d != crashed)
    assert [o.resumed for o in result.outcomes if o.run_dir == str(crashed)] == [True]


def test_a_failing_run_is_reported_the_others_finish_and_a_rerun_resumes_it(tmp_path):
    runs = tmp_path / "runs"

    def flaky(spec, run_dir, resume):
        if spec.args["seed"] == 1 and spec.args["method"] == "warp":
            raise RuntimeError("CUDA out of memory\nsecond line")
        return fakerun.run(spec, run_dir, resume)

    result = run_sweep(grid(), runs, run_fn=flaky, progress=False)
    assert not result.ok and len(result.failed) == 1
    failed = result.failed[0]
    assert "warp_np4_full_seed1" in failed.name and failed.message == "RuntimeError: CUDA out of memory"
    assert rd.run_state(Path(failed.run_dir), failed.run_dir[-10:]) == "failed"
    assert not (Path(failed.run_dir) / rd.RESULT).exists()
    rerun = run_sweep(grid(), runs, run_fn=fakerun.run, progress=False)
    assert rerun.ok and rerun.skipped == 5 and [o.name for o in rerun.outcomes] == [failed.name]
    assert rerun.outcomes[0].resumed


def test_result_json_is_the_only_finished_marker(tmp_path):
    runs = tmp_path / "runs"
    (spec, run_dir), = prepare([RunSpec({"seed": 7})], runs)
    (run_dir / rd.RESULT).write_text('{"dev": {"accuracy": 0.5}, "spec_hash": "0123456789"}')  # another run's
    assert not rd.is_finished(run_dir, spec.hash)
    (run_dir / rd.RESULT).write_text('{"dev": {"accur')  # torn (cannot happen with atomic writes, but be safe)
    assert not rd.is_finished(run_dir, spec.hash)
    outcome = execute_run(run_dir, fakerun.run)
    assert outcome.status == "finished" and rd.is_finished(run_dir, spec.hash)
    assert execute_run(run_dir, fakerun.run).status == "already-done"
    assert len(starts(run_dir)) == 1


def test_a_run_whose_lock_is_held_elsewhere_is_busy(tmp_path):
    (spec, run_dir), = prepare([RunSpec({"seed": 3})], tmp_path)
    with rd.run_lock(run_dir, wait=False):
        assert execute_run(run_dir, fakerun.run).status == "busy"
        assert rd.run_state(run_dir, spec.hash) == "running"
    assert starts(run_dir) == [] and execute_run(run_dir, fakerun.run).status == "finished"


def test_existing_run_dirs_are_found_by_hash_and_a_foreign_run_json_is_refused(tmp_path):
    runs = tmp_path / "runs"
    spec = RunSpec({"seed": 4})
    (_, first), = prepare([spec], runs)
    renamed = runs / f"older-naming-scheme_{spec.hash}"
    first.rename(renamed)
    (_, found), = prepare([spec], runs)
    assert found == renamed.resolve()
    other = RunSpec({"seed": 5})
    (runs / other.name).mkdir()
    (runs / other.name / rd.SPEC).write_text(json.dumps(spec.to_json()))
    with pytest.raises(Exception, match="holds run"):
        rd.prepare_run_dir(runs / other.name, other)


def test_a_run_function_must_return_a_summary(tmp_path):
    (_, run_dir), = prepare([RunSpec({"seed": 1})], tmp_path)
    outcome = execute_run(run_dir, lambda spec, d, resume: None)
    assert outcome.status == FAILED and "not a summary dict" in outcome.message


def test_progress_lines_count_done_left_and_estimate_time(tmp_path):
    stream = io.StringIO()
    meter = SweepProgress(total=4, done_before=1, stream=stream, bar=False)
    meter.update(Outcome(str(tmp_path / "a_0123456789"), "finished", seconds=2.0))
    meter.update(Outcome(str(tmp_path / "b_0123456789"), FAILED, message="boom"))
    meter.update(Outcome(str(tmp_path / "c_0123456789"), "finished", seconds=1.0, resumed=True))
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("[2/4 done, 2 left, 0 failed, ~") and "a_0123456789: finished in 2.0s" in lines[0]
    assert lines[1].startswith("[2/4 done, 1 left, 1 failed") and "FAILED: boom" in lines[1]
    assert lines[2].startswith("[3/4 done, 0 left, 1 failed]") and "(resumed)" in lines[2]
    assert meter.eta_seconds() == 0.0


def test_train_cli_turns_a_train_error_into_a_failed_run_with_its_one_line_message(tmp_path):
    from infoprompt.sweep import train_cli

    (_, run_dir), = prepare([RunSpec({"method": "warp", "beta": 0.1})], tmp_path)
    outcome = execute_run(run_dir, train_cli)
    assert outcome.status == FAILED
    assert outcome.message == "infoprompt: error: --beta do(es) not apply to method 'warp' without --mi-losses"
    assert rd.read_attempts(run_dir)[-1]["error"] == outcome.message


def test_train_cli_calls_the_api_with_the_runs_settings_not_the_command_line(tmp_path, monkeypatch, capsys):
    """A sweep run trains through `api.train` with the schema's values (no argv parsed, no printed line read
    back); train.log still gets the equivalent command, the run's two lines and its JSON summary."""
    import infoprompt.api
    import infoprompt.cli
    import infoprompt.report.headline
    from infoprompt.sweep import train_cli

    seen = []

    def fake_train(cfg):
        seen.append(cfg)
        return infoprompt.api.TrainResult(Path(cfg.output), {"accuracy": 0.5}, {"task": cfg.task, "score": float("nan")},
                                          method=None)

    monkeypatch.setattr(infoprompt.api, "train", fake_train)
    monkeypatch.setattr(infoprompt.cli, "main", lambda argv=None: pytest.fail("a sweep run must not go through the CLI"))
    monkeypatch.setattr(infoprompt.report.headline, "describe_result", lambda summary: "described")
    (_, run_dir), = prepare([RunSpec({"method": "warp", "lr": 0.01, "task": "rte"})], tmp_path)
    assert execute_run(run_dir, train_cli).status == "finished"
    (cfg,) = seen
    assert (cfg.method, cfg.lr, cfg.task, cfg.output, cfg.resume, cfg.progress) == ("warp", 0.01, "rte", str(run_dir),
                                                                                     False, False)
    assert json.loads((run_dir / rd.RESULT).read_text())["score"] is None  # non-finite numbers: JSON null
    out, err = capsys.readouterr()
    assert err.splitlines()[0].startswith("$ infoprompt train ") and f"described -> {run_dir}" in err
    assert json.loads(out.splitlines()[-1]) == {"task": "rte", "score": None}
