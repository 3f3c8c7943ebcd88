"""The configuration schema: one definition gives the CLI options, the sweep keys and the API checks."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import fields

import pytest

from infoprompt.config import (
    TrainConfig,
    method_settings,
    setting_of,
    train_config_from_settings,
    train_settings,
)
from infoprompt.devices import resolve_device
from infoprompt.errors import ConfigError
from infoprompt.training.config import TrainerConfig


def test_api_train_config_is_the_schema_class():
    from infoprompt import TrainConfig as exported
    from infoprompt.api import TrainConfig as from_api

    assert exported is from_api is TrainConfig


def test_trainer_config_is_derived_field_by_field():
    cfg = TrainConfig(epochs=3, warmup_ratio=0.1, max_grad_norm=None, eval_subsample=5, seed=7)
    loop = TrainerConfig.of(cfg, lr=0.01, device="cpu")
    assert type(loop) is TrainerConfig and loop.lr == 0.01 and loop.device == "cpu"
    assert {f.name for f in fields(TrainerConfig)} < {f.name for f in fields(TrainConfig)}
    assert (loop.epochs, loop.warmup_ratio, loop.max_grad_norm, loop.eval_subsample, loop.seed) == (3, 0.1, None, 5, 7)


def test_every_option_has_help_and_a_default_shown():
    settings = train_settings()
    assert {"warmup_ratio", "max_grad_norm", "eval_subsample", "device", "beta", "lora_r"} <= set(settings)
    for name, spec in settings.items():
        assert spec.help and spec.help.split(" [")[0] != name.replace("_", " "), f"{name} has no help text"
        assert "(default: " in spec.help_text()


@pytest.mark.parametrize("kwargs, message", [
    ({"n_prompts": 1e12}, "--n-prompts must be <= 4096"),
    ({"n_prompts": 2.5}, "--n-prompts must be an integer"),
    ({"lr": float("nan")}, "--lr must be a finite number"),
    ({"lr": float("inf")}, "--lr must be a finite number"),
    ({"lr": -1.0}, "--lr must be > 0"),
    ({"seed": -1}, "--seed must be >= 0"),
    ({"seed": 2**32}, "--seed must be <= 4294967295"),
    ({"epochs": 0}, "--epochs must be >= 1"),
    ({"warmup_ratio": 1.0}, "--warmup-ratio must be < 1"),
    ({"max_grad_norm": 0.0}, "--max-grad-norm must be > 0"),
    ({"eval_subsample": 0}, "--eval-subsample must be >= 2"),
    ({"stratified": "yes"}, "--stratified is a switch"),
    ({"schedule": "cosine"}, "--schedule: 'cosine' is not one of"),
    ({"task": "nope"}, "unknown task 'nope' (choose from: "),
    ({"method": "nope"}, "unknown method 'nope' (choose from: "),
    ({"device": "bogus"}, "--device must be auto, cpu, cuda, cuda:N or mps"),
    ({"max_length": 2048}, "beyond the backbone 'minilm''s limit of 512"),
    ({"n_prompts": 200, "max_length": 128}, "leaves no room for text"),
    ({"resume": True}, "--resume needs --output"),
    ({"method_options": {"beta": float("nan")}}, "--beta must be a finite number"),
    ({"method_options": {"gamma": float("inf")}}, "--gamma must be a finite number"),
    ({"method_options": {"beta": 1e30}}, "--beta must be <= 1000"),
    ({"method_options": {"nce_clamp": float("nan")}}, "--nce-clamp must be a finite number"),
    ({"method_options": {"negatives": 1e12}}, "--negatives must be <="),
    ({"method": "warp", "method_options": {"beta": 0.1}}, "--beta do(es) not apply to method 'warp'"),
    ({"method_options": {"n_prompts": 3}}, "n_prompts are TrainConfig fields"),
    ({"ablation": "no-head", "method_options": {"gamma": 0.3}}, "--ablation no-head sets gamma to 0; it conflicts"),
    ({"method": "warp", "ablation": "no-rep"}, "--ablation no-rep applies to infoprompt"),
])
def test_bad_settings_are_refused_on_construction(kwargs, message):
    with pytest.raises(ConfigError) as err:
        TrainConfig(**kwargs)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_values_are_converted_once_and_the_ablation_reaches_the_method_config():
    cfg = TrainConfig(n_prompts=8.0, lr="1e-3", text_fields="a,b", ablation="no-mi",
                      method_options={"negatives": "16", "gamma": 0})
    assert cfg.n_prompts == 8 and cfg.lr == 1e-3 and cfg.text_fields == ["a", "b"]
    method_config = cfg.method_config()
    assert (method_config.beta, method_config.gamma, method_config.negatives, method_config.n_prompts) == (0, 0, 16, 8)
    assert TrainConfig(max_grad_norm="none").max_grad_norm is None
    assert TrainConfig(verbalizer={"0": "bad"}).verbalizer == {"0": "bad"}


def test_changing_a_field_in_place_is_caught_by_validate():
    cfg = TrainConfig()
    cfg.batch_size = 0
    with pytest.raises(ConfigError, match="--batch-size must be >= 1"):
        cfg.validate()


def test_a_field_added_to_a_method_config_becomes_a_flag_and_a_sweep_key():
    beta = method_settings()["beta"]
    assert beta.option == "--beta" and beta.kind is float and beta.default_text == "0.1"
    assert "infoprompt, late, prompt, residual, warp]" in beta.help  # InfoPrompt's, and the --mi-losses switch's
    assert method_settings()["cache_prompt_free"].option == "--no-cache"
    from infoprompt.sweep.flags import train_flags

    assert set(train_flags()) == set(train_settings()) - {"output", "resume"}


def test_settings_from_a_flat_mapping():
    cfg = train_config_from_settings({"method": "idpg", "bottleneck": "16", "epochs": "2"})
    assert cfg.method_options == {"bottleneck": 16} and cfg.epochs == 2
    with pytest.raises(ConfigError, match="unknown setting"):
        train_config_from_settings({"bogus": 1})


def test_devices_that_do_not_exist_are_one_line_errors(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="CUDA is not available"):
        resolve_device("cuda")
    with pytest.raises(ConfigError, match="--device must be"):
        resolve_device("bogus")
    assert resolve_device("cpu") == "cpu" and resolve_device("auto") in ("cpu", "mps")


def test_non_cli_fields_have_no_setting():
    by_name = {f.name: f for f in fields(TrainConfig)}
    assert setting_of(by_name["method_options"]) is None and setting_of(by_name["progress"]) is None


def test_json_text_writes_valid_json_only():
    from infoprompt.atomic_files import json_text

    text = json_text({"a": math.nan, "b": [math.inf, 1.5], "c": {"d": -math.inf}})
    assert json.loads(text) == {"a": None, "b": [None, 1.5], "c": {"d": None}}


def test_top_level_help_imports_no_torch():
    code = ("import sys\nfrom infoprompt.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert "train" in out.stdout and "sweep" in out.stdout and "Soft prompts" in out.stdout


def test_every_train_option_shows_help_and_default():
    from infoprompt.cli import build_parser

    parser = build_parser(["train"])
    train = parser._subparsers._group_actions[0].choices["train"]  # noqa: SLF001 (reading, in a test)
    for action in train._actions:
        if action.option_strings and action.dest != "help":
            assert action.help, f"{action.option_strings} has no help"
            if action.dest not in ("json", "quiet"):
                assert "(default: " in action.help, f"{action.option_strings} shows no default"
