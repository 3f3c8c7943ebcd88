"""Hand-made run directories with numbers chosen so means and stds are easy to check by hand."""

from __future__ import annotations

from pathlib import Path

import pytest
from runfactory import make_run

from infoprompt.sweep.rundir import prepare_run_dir
from infoprompt.sweep.spec import RunSpec


@pytest.fixture
def paper_runs(tmp_path) -> Path:
    """WARP/InfoPrompt on SST-2 and CoLA (full and 64-shot), an ablation, SemEval with test metrics."""
    runs = tmp_path / "runs"
    for seed, acc in enumerate([0.80, 0.85, 0.90]):
        make_run(runs, {"method": "warp", "task": "sst2", "n_prompts": 4, "seed": seed}, {"accuracy": acc},
                 curve=[0.5, acc * 0.96, acc])
    for seed, acc in enumerate([0.70, 0.74]):
        make_run(runs, {"method": "warp", "task": "sst2", "n_prompts": 1, "seed": seed}, {"accuracy": acc})
    make_run(runs, {"method": "infoprompt", "task": "sst2", "n_prompts": 4, "seed": 0}, {"accuracy": 0.9},
             curve=[0.88, 0.7, 0.9])
    for seed, mcc in enumerate([0.1, 0.3]):
        make_run(runs, {"method": "infoprompt", "task": "cola", "n_prompts": 4, "seed": seed},
                 {"matthews_corr": mcc, "accuracy": 0.7})
    for seed, acc in enumerate([0.6, 0.7]):
        make_run(runs, {"method": "infoprompt", "task": "sst2", "ablation": "no-head", "seed": seed},
                 {"accuracy": acc})
    for seed, acc in enumerate([0.55, 0.65]):
        make_run(runs, {"method": "infoprompt", "task": "sst2", "shots": 64, "seed": seed}, {"accuracy": acc})
    make_run(runs, {"method": "infoprompt", "task": "semeval", "n_prompts": 4, "seed": 0},
             {"semeval_macro_f1": 0.5, "accuracy": 0.6}, test={"semeval_macro_f1": 0.62, "accuracy": 0.7},
             primary="semeval_macro_f1")
    make_run(runs, {"method": "infoprompt", "task": "semeval", "n_prompts": 4, "seed": 1},
             {"semeval_macro_f1": 0.52, "accuracy": 0.6}, test={"semeval_macro_f1": 0.66, "accuracy": 0.7},
             primary="semeval_macro_f1")
    # a run that has not finished: counted, never averaged
    spec = RunSpec({"method": "warp", "task": "sst2", "seed": 9})
    prepare_run_dir(runs / spec.name, spec)
    return runs
