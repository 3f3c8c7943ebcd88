"""The issue-17 study chain at toy scale (tiny random backbone, 1 epoch, 8 shots, CPU): held-out tuning data,
the committed defaults sweep, the chooser, the committed study sweep with the chosen block, the raw records and
the report regenerated from them. The GPU run (scripts/gpu_study.sh) runs exactly these files at full scale."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from infoprompt.sweep import expand, load_sweep, run_sweep
from infoprompt.sweep.runners import train_cli
from infoprompt.sweep.spec import RunSpec

ROOT = Path(__file__).resolve().parents[2]
DEFAULTS_SWEEP = ROOT / "configs/sweeps/infoprompt_defaults_minilm.yaml"
STUDY_SWEEP = ROOT / "configs/sweeps/honest_fewshot_minilm.yaml"
GPU_SCRIPT = ROOT / "scripts/gpu_study.sh"


def script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


holdout, chooser, records = script("holdout_dev"), script("choose_infoprompt_defaults"), script("keep_records")


def toy(spec: RunSpec, **overrides) -> RunSpec:
    return RunSpec({**spec.flags, "epochs": 1, "shots": 8, "device": "cpu", "eval_batch_size": 256, **overrides})


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "data" / "glue" / "sst2"
    folder.mkdir(parents=True)
    words = ["good", "bad", "fine", "awful", "great", "dull", "lovely", "boring"]
    rows = [f"a {words[i % 8]} film number {i} \t{int(i % 2 == 0)}\n" for i in range(60)]
    (folder / "train.tsv").write_text("sentence\tlabel\n" + "".join(rows[:40]))
    (folder / "dev.tsv").write_text("sentence\tlabel\n" + "".join(rows[40:]))
    return tmp_path / "data"


def test_holdout_dev_splits_the_training_file_only(data_dir, tmp_path):
    out = tmp_path / "tune"
    assert holdout.main([str(data_dir), str(out), "--size", "12", "--seed", "1"]) == 0
    source = (data_dir / "glue/sst2/train.tsv").read_text().splitlines()
    train = (out / "glue/sst2/train.tsv").read_text().splitlines()
    dev = (out / "glue/sst2/dev.tsv").read_text().splitlines()
    assert train[0] == dev[0] == source[0] and len(dev) == 13 and len(train) == 29
    assert sorted(train[1:] + dev[1:]) == sorted(source[1:])  # every row once, none from the real dev file
    first = (out / "glue/sst2/dev.tsv").read_bytes()
    holdout.main([str(data_dir), str(out), "--size", "12", "--seed", "1"])
    assert (out / "glue/sst2/dev.tsv").read_bytes() == first  # seeded: the same rows again
    assert holdout.main([str(data_dir), str(out), "--size", "40"]) == 2


def test_committed_sweeps_expand_as_planned(tmp_path):
    defaults = expand(load_sweep(DEFAULTS_SWEEP))
    assert len(defaults) == 48
    assert all(s.args["select_on"] == "dev-split" and s.args["patience"] == 5 and s.args["device"] == "cuda"
               for s in defaults)
    assert {(s.args["generator_mode"], s.args["bottleneck"]) for s in defaults} == {
        ("generated", 64), ("generated", 16), ("residual", 64), ("residual", 16)}
    round2 = expand(load_sweep(ROOT / "configs/sweeps/infoprompt_defaults_minilm_round2.yaml"))
    assert len(round2) == 24 and {s.args["generator_dropout"] for s in round2} == {0.1}
    assert {(s.args["layout"], s.args["classifier_input"]) for s in round2} == {
        ("warp", "bottleneck"), ("warp", "z"), ("prefix", "bottleneck"), ("prefix", "z")}
    reference = expand(load_sweep(ROOT / "configs/sweeps/prompt_reference_tuning_minilm.yaml"))
    assert [(s.args["method"], s.args["shots"], s.args["seed"]) for s in reference] == [("prompt", 256, k) for k in range(3)]
    study = tmp_path / "study.yaml"
    study.write_text(STUDY_SWEEP.read_text())
    # the 5 fixed conditions and round 1's choice (with its no-MI ablation) x 2 shots x 5 seeds; the committed
    # round-2 block repeats round 1's choice, which the grid counts once
    assert len(expand(load_sweep(study))) == 70
    chooser.write_sweep(study, {"generator_mode": "residual", "bottleneck": 16})
    specs = expand(load_sweep(study))
    assert len(specs) == 90
    new = [s for s in specs if s.args["generator_mode"] == "residual"]
    assert len(new) == 20 and {s.args["ablation"] for s in new} == {"none", "no-mi"}
    assert all(s.args["bottleneck"] == 16 and s.args["epochs"] == 30 and s.args["select_on"] == "dev-split"
               for s in new)
    chooser.write_sweep(study, {})  # the current defaults won: the block adds no runs
    assert len(expand(load_sweep(study))) == 70


def test_smollm2_sweeps_keep_whole_seeds_first():
    gpu = expand(load_sweep(ROOT / "configs/sweeps/smollm2_mi_effect.yaml"))
    assert len(gpu) == 60 and [s.args["seed"] for s in gpu[:12]] == [0] * 12
    assert {s.args["task"] for s in gpu} == {"sst2", "rte"} and {s.args["backbone"] for s in gpu} == {"smollm2"}
    cpu = expand(load_sweep(ROOT / "configs/sweeps/smollm2_mi_effect_cpu.yaml"))
    assert len(cpu) == 15
    pairs = [(s.args["seed"], s.args["ablation"]) for s in cpu[:10]]
    assert pairs == [(k, a) for k in range(5) for a in ("none", "no-mi")]  # whole MI pairs before prompt tuning
    assert all(s.args["method"] == "prompt" for s in cpu[10:])


def test_gpu_script_names_files_that_exist():
    text = GPU_SCRIPT.read_text()
    assert subprocess.run(["bash", "-n", str(GPU_SCRIPT)]).returncode == 0
    assert len(text.splitlines()) <= 12
    for path in set(re.findall(r"(?:scripts|configs/sweeps)/[\w./]+\.(?:py|yaml)", text)):
        assert (ROOT / path).is_file(), path


def _selection_log_edit(run_dir: Path, field: str, value: float) -> None:
    log = run_dir / "metrics.jsonl"
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    for entry in lines:
        if entry.get("type") == "eval":
            entry[field] = {"accuracy": value}
    log.write_text("".join(json.dumps(e) + "\n" for e in lines))


def test_toy_chain_chooses_on_selection_halves_and_reports_from_records(data_dir, tmp_path, tiny_model_dir):
    from infoprompt.report import write_report

    tune = tmp_path / "tune"
    holdout.main([str(data_dir), str(tune), "--size", "12"])
    stage1 = [toy(s, backbone=str(tiny_model_dir), data_dir=str(tune)) for s in expand(load_sweep(DEFAULTS_SWEEP))
              if s.args["seed"] == 0 and s.args["generator_dropout"] == 0.0 and s.args["bottleneck"] == 16
              and s.args["generator_weight_decay"] is None]
    assert len(stage1) == 2
    result = run_sweep(stage1, tmp_path / "stage1", run_fn=train_cli, progress=False)
    assert result.ok, result.failed
    kept = tmp_path / "defaults_records"
    assert records.keep_records(tmp_path / "stage1", kept) == (2, 0)
    choice = chooser.choose(kept)
    assert choice["configurations"] == 2 and choice["split"].startswith("dev (seeded stratified half")
    # A flag the sweep fixes away from its default is part of every configuration's change.
    assert sorted(json.dumps(r["changed"], sort_keys=True) for r in choice["table"]) == [
        '{"bottleneck": 16, "generator_mode": "residual"}', '{"bottleneck": 16}']
    assert json.loads(json.dumps(choice)) == chooser.choose(tmp_path / "stage1")  # the records suffice

    # Only the selection half counts: making the other configuration's REPORTED half perfect changes nothing,
    # making its SELECTION half perfect changes the choice.
    loser = next(r for r in choice["table"] if r is not choice["chosen"])
    loser_dir = next(d for d in kept.iterdir()
                     if json.loads((d / "run.json").read_text())["args"]["generator_mode"] == loser["flags"]["generator_mode"])
    _selection_log_edit(loser_dir, "report", 1.0)
    assert chooser.choose(kept)["chosen"]["flags"] == choice["chosen"]["flags"]
    _selection_log_edit(loser_dir, "selection", 1.0)
    assert chooser.choose(kept)["chosen"]["flags"] == loser["flags"]

    study = tmp_path / "study.yaml"
    study.write_text(STUDY_SWEEP.read_text())
    chooser.write_sweep(study, {"generator_mode": "residual"})
    stage2 = [toy(s, backbone=str(tiny_model_dir), data_dir=str(data_dir)) for s in expand(load_sweep(study))
              if s.args["seed"] == 0 and s.args["shots"] == 64 and s.args["ablation"] == "none"
              and s.args["method"] in ("prompt", "infoprompt") and not s.args["generator_dropout"]]
    assert len(stage2) == 3  # prompt, InfoPrompt (paper settings), InfoPrompt (chosen); round 1's rows left out
    assert run_sweep(stage2, tmp_path / "stage2", run_fn=train_cli, progress=False).ok
    kept2 = tmp_path / "records"
    records.keep_records(tmp_path / "stage2", kept2)
    for run in kept2.iterdir():
        assert sorted(p.name for p in run.iterdir()) == ["config.json", "metrics.jsonl", "result.json", "run.json"]
        types = {json.loads(line)["type"] for line in (run / "metrics.jsonl").read_text().splitlines()}
        assert "train" not in types and "eval" in types
    # The report's paired comparisons tell the two InfoPrompt conditions apart by the chosen flag.
    from infoprompt.report.compare import paired_difference
    from infoprompt.report.runs import load_runs

    runs = load_runs(kept2)[0]
    score = {(r.method, r.args["generator_mode"]): r.score() for r in runs}
    args = chooser.compare_args({"chosen": {"changed": {"generator_mode": "residual"}}})
    assert "infoprompt+generator_mode=residual,infoprompt" in args and "infoprompt,infoprompt:no-mi" in args
    new = paired_difference(runs, "infoprompt+generator_mode=residual", "prompt")
    paper = paired_difference(runs, "infoprompt", "prompt")
    assert new["mean"] == pytest.approx(score[("infoprompt", "residual")] - score[("prompt", None)])
    assert paper["mean"] == pytest.approx(score[("infoprompt", None)] - score[("prompt", None)])
    assert args[::2] == ["--compare"] * (len(args) // 2)
    full = write_report(tmp_path / "stage2", tmp_path / "report_runs", plots=False)
    again = write_report(kept2, tmp_path / "report_records", plots=False)
    assert full.markdown == again.markdown
    for csv in sorted((tmp_path / "report_runs").glob("*.csv")):
        assert csv.read_bytes() == (tmp_path / "report_records" / csv.name).read_bytes(), csv.name


def test_the_committed_choices_regenerate_from_their_records(tmp_path: Path):
    """Both rounds' chosen_defaults JSONs are exactly what the chooser makes of the committed records, and an
    unfinished sweep (a run removed) is tabulated only with --partial and never writes the study sweep."""
    results = ROOT / "docs/results/honest_fewshot_minilm"
    for records_dir, chosen in (("defaults_records", "chosen_defaults.json"),
                                ("defaults_records_round2", "chosen_defaults_round2.json")):
        out = tmp_path / chosen
        assert chooser.main([str(results / records_dir), "--reference", str(results / "prompt_reference_records"),
                             "--out", str(out)]) == 0
        assert out.read_bytes() == (results / chosen).read_bytes(), chosen
    committed = json.loads((results / "chosen_defaults_round2.json").read_text())
    reference = committed["reference"]
    assert reference["methods"] == ["prompt"] and reference["n"] == 3
    row = committed["chosen"]
    paired = [row["seeds"][u] - reference["seeds"][u] for u in row["seeds"]]
    assert reference["difference_by_configuration"][json.dumps(row["changed"], sort_keys=True)]["mean"] == \
        pytest.approx(sum(paired) / len(paired))

    partial = tmp_path / "partial"
    shutil.copytree(results / "defaults_records", partial)
    shutil.rmtree(next(partial.iterdir()))
    with pytest.raises(Exception, match="different seeds|unfinished"):
        chooser.choose(partial)
    assert chooser.choose(partial, partial=True)["provisional"] is True
    study = tmp_path / "study.yaml"
    study.write_bytes(STUDY_SWEEP.read_bytes())
    assert chooser.main([str(partial), "--partial", "--write-sweep", str(study)]) == 2
    assert study.read_bytes() == STUDY_SWEEP.read_bytes()


def test_the_committed_study_report_regenerates_exactly(tmp_path: Path):
    """The one command in docs/results/honest_fewshot_minilm/README.md rebuilds every committed table byte for byte."""
    from infoprompt.cli import main as cli

    results = ROOT / "docs/results/honest_fewshot_minilm"
    compare = chooser.compare_args(json.loads((results / "chosen_defaults.json").read_text()))
    assert cli(["report", str(results / "records"), "--out", str(tmp_path), "--quiet", "--no-plots", *compare]) == 0
    committed = sorted(p.name for p in (results / "report").iterdir() if p.is_file() and not p.name.startswith("."))
    assert committed == sorted(p.name for p in tmp_path.iterdir() if p.is_file() and not p.name.startswith("."))
    for name in committed:
        assert (tmp_path / name).read_bytes() == (results / "report" / name).read_bytes(), name
