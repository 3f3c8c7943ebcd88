"""Sweep files: YAML/TOML parsing, grid expansion, run identity, one-line errors naming file, line and key."""

from __future__ import annotations

import pytest

from infoprompt.errors import ConfigError
from infoprompt.sweep import RunSpec, expand, load_sweep

YAML = """\
runs_dir: runs/x
fixed:
  epochs: 3
  data-dir: ../shared/data
grid:
  - methods: [warp, infoprompt]
    task: [sst2, rte]
    n_prompts: [1, 4]
    shots: [null, 64]
    seeds: [0, 1, 2]
  - method: [infoprompt]
    ablation: [no-head, no-mi]
    task: [sst2]
    seed: [0, 1]
"""

TOML = """\
runs_dir = "runs/x"
[fixed]
epochs = 3
data_dir = "../shared/data"
[[grid]]
method = ["warp", "infoprompt"]
task = ["sst2", "rte"]
n_prompts = [1, 4]
seed = [0, 1, 2]
[[grid]]
method = ["infoprompt"]
ablation = ["no-head", "no-mi"]
task = ["sst2"]
seed = [0, 1]
"""


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_yaml_grid_expands_to_the_product_of_each_grid(tmp_path):
    config = load_sweep(write(tmp_path, "s.yaml", YAML))
    assert config.runs_dir == "runs/x" and config.fixed == {"epochs": 3, "data_dir": "../shared/data"}
    specs = expand(config)
    assert len(specs) == 2 * 2 * 2 * 2 * 3 + 2 * 2
    assert len({s.hash for s in specs}) == len(specs) and len({s.name for s in specs}) == len(specs)
    combos = {(s.args["method"], s.args["task"], s.args["n_prompts"], s.args["shots"], s.args["seed"]) for s in specs}
    assert ("warp", "rte", 1, 64, 2) in combos and ("infoprompt", "sst2", 4, None, 0) in combos
    ablated = [s for s in specs if s.args["ablation"] != "none"]
    assert {(s.args["ablation"], s.args["seed"]) for s in ablated} == {("no-head", 0), ("no-head", 1), ("no-mi", 0),
                                                                       ("no-mi", 1)}
    assert all(s.args["epochs"] == 3 and s.args["data_dir"] == "../shared/data" for s in specs)


def test_toml_gives_the_same_runs_as_the_equivalent_yaml(tmp_path):
    from_toml = {s.hash for s in expand(load_sweep(write(tmp_path, "s.toml", TOML)))}
    yaml_without_shots = YAML.replace("    shots: [null, 64]\n", "")
    from_yaml = {s.hash for s in expand(load_sweep(write(tmp_path, "s.yaml", yaml_without_shots)))}
    assert from_toml == from_yaml and len(from_toml) == 2 * 2 * 2 * 3 + 4


def test_run_identity_ignores_defaults_and_spelling(tmp_path):
    explicit = RunSpec({"task": "sst2", "method": "infoprompt", "epochs": 30, "n_prompts": 4, "lr": 0.001, "seed": 1})
    implicit = RunSpec({"seed": 1, "lr": 1e-3})
    assert explicit.hash == implicit.hash and explicit.name == implicit.name
    assert implicit.flags == {"lr": 0.001, "seed": 1}
    assert implicit.name == f"sst2_infoprompt_np4_full_seed1_lr-0.001_{implicit.hash}"
    assert RunSpec({"seed": 2}).hash != implicit.hash
    # a YAML string "1e-3" (PyYAML reads it as text) and the float are the same run after conversion
    config = load_sweep(write(tmp_path, "s.yaml", "grid:\n  lr: [1e-3]\n  seed: [1]\n"))
    assert expand(config)[0].hash == implicit.hash


def test_argv_round_trips_through_the_train_parser():
    from infoprompt import cli

    spec = RunSpec({"task": "rte", "method": "idpg", "bottleneck": 16, "stratified": True, "shots": 64,
                    "cache_prompt_free": False, "text_fields": "a,b", "max_grad_norm": 0.5})
    argv = spec.argv() + ["--output", "x"]
    cfg = cli.train_config_from_args(cli.build_parser(argv).parse_args(argv))
    assert (cfg.task, cfg.method, cfg.stratified, cfg.shots, cfg.max_grad_norm) == ("rte", "idpg", True, 64, 0.5)
    assert cfg.method_options == {"bottleneck": 16, "cache_prompt_free": False} and cfg.text_fields == ["a", "b"]
    assert "--stratified" in spec.argv() and "--no-cache" in spec.argv() and "--bottleneck=16" in spec.argv()
    assert "--text-fields=a,b" in spec.argv()


def test_a_run_listed_by_two_grids_appears_once(tmp_path):
    text = "grid:\n  - seed: [0, 1]\n  - seed: [1, 2]\n"
    assert [s.args["seed"] for s in expand(load_sweep(write(tmp_path, "s.yaml", text)))] == [0, 1, 2]


@pytest.mark.parametrize("name, text, message", [
    ("s.yaml", "grid:\n  method: [warp]\n  n_prompts: [1, four]\n",
     "s.yaml:3: key 'grid.n_prompts[1]': --n-prompts: invalid value 'four'"),
    ("s.yaml", "grid:\n  - method: [warp]\n  - methd: [warp]\n", "s.yaml:3: key 'grid[1].methd': 'methd' is not"),
    ("s.yaml", "grid:\n  method: [warp\n", "s.yaml:3: invalid YAML"),
    ("s.yaml", "grid:\n  seed: 3\n", "s.yaml:2: key 'grid.seed': grid values must be a non-empty list"),
    ("s.yaml", "fixed:\n  seed: 1\ngrid:\n  seed: [1]\n", "key 'grid.seed': --seed is both fixed and in the grid"),
    ("s.yaml", "grid:\n  output: [a]\n", "'output' is set by the sweep itself"),
    ("s.yaml", "grid:\n  seed: [1, 1]\n", "repeated value(s) ['1']"),
    ("s.yaml", "grid:\n  stratified: [yes-please]\n", "--stratified is a switch"),
    ("s.yaml", "grid:\n  schedule: [no]\n", "takes a value, got the boolean False"),
    ("s.yaml", "fixed:\n  epochs: 2\n", "key 'grid' missing"),
    ("s.yaml", "gird:\n  seed: [1]\n", "s.yaml:1: key 'gird': unknown top-level key"),
    ("s.yaml", "- 1\n- 2\n", "must be a mapping"),
    ("s.toml", "[[grid]]\nmethod = [\"warp\"]\n[[grid]]\nschedule = [\"cosine\"]\n",
     "s.toml:4: key 'grid[1].schedule[0]': --schedule: 'cosine' is not one of"),
    ("s.toml", "grid = [\n", "s.toml: invalid TOML"),
    ("s.json", "{}", "sweep files are .yaml, .yml or .toml"),
    # a key given twice, at any level: an error naming its line, never "the last value wins"
    ("s.yaml", "fixed:\n  epochs: 2\n  epochs: 3\ngrid:\n  seed: [0]\n",
     "s.yaml:3: key 'epochs' is given twice (first on line 2)"),
    ("s.yaml", "grid:\n  - seed: [0]\n  - {seed: [1], seed: [2]}\n", "s.yaml:3: key 'seed' is given twice (first on line 3)"),
    ("s.yaml", "grid:\n  seed: [0]\ngrid:\n  seed: [1]\n", "s.yaml:3: key 'grid' is given twice (first on line 1)"),
    ("s.toml", "[fixed]\nepochs = 2\n'epochs' = 3\n[grid]\nseed = [0]\n", "s.toml:3: key 'epochs' is given twice"),
    ("s.toml", "[grid]\nseed = [0]\n[grid]\nlr = [0.1]\n", "s.toml:3: key 'grid' is given twice"),
    ("s.toml", "grid = {seed = [0], seed = [1]}\n", "s.toml:1: key 'seed' is given twice"),
])
def test_bad_sweep_files_raise_one_line_config_errors(tmp_path, name, text, message):
    with pytest.raises(ConfigError) as err:
        load_sweep(write(tmp_path, name, text))
    assert message in str(err.value) and "\n" not in str(err.value)
    assert str(tmp_path / name) in str(err.value)


def test_yaml_merge_keys_may_still_be_overridden(tmp_path):
    text = "fixed: &base\n  epochs: 2\ngrid:\n  - <<: {seed: [0, 1]}\n    seed: [2]\n"
    assert [s.args["seed"] for s in expand(load_sweep(write(tmp_path, "s.yaml", text)))] == [2]


def test_a_grid_is_counted_before_it_is_expanded(tmp_path, monkeypatch):
    from infoprompt.sweep import config as sweep_config

    monkeypatch.setattr(sweep_config, "MAX_RUNS", 6)
    assert len(expand(load_sweep(write(tmp_path, "ok.yaml", "grid:\n  seed: [0, 1, 2]\n  lr: [0.1, 0.2]\n")))) == 6
    with pytest.raises(ConfigError) as err:
        load_sweep(write(tmp_path, "big.yaml", "grid:\n  seed: [0, 1, 2]\n  lr: [0.1, 0.2]\n  n_prompts: [1, 2]\n"))
    assert str(err.value) == (f"{tmp_path / 'big.yaml'}:1: key 'grid': grid entry holds 12 runs (3 seed x 2 lr x "
                              "2 n_prompts), more than the limit of 6 runs a sweep may hold; split the sweep into "
                              "several files")


def test_the_grids_together_are_limited_by_their_distinct_runs(tmp_path, monkeypatch):
    from infoprompt.sweep import config as sweep_config
    from infoprompt.sweep import grid as sweep_grid

    monkeypatch.setattr(sweep_config, "MAX_RUNS", 4)
    monkeypatch.setattr(sweep_grid, "MAX_RUNS", 4)
    overlapping = write(tmp_path, "same.yaml", "grid:\n  - seed: [0, 1, 2, 3]\n  - seed: [3, 2, 1, 0]\n")
    assert len(expand(load_sweep(overlapping))) == 4
    with pytest.raises(ConfigError, match="the grids together hold more than 4 distinct runs"):
        expand(load_sweep(write(tmp_path, "more.yaml", "grid:\n  - seed: [0, 1, 2]\n  - seed: [3, 4]\n")))
