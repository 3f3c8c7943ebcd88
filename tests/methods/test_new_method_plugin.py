"""The proof that a new method is one file and one registry line.

A temporary package (on sys.path) holds ONE module that subclasses an existing method and registers it;
with no other edit the name is then found in the CLI (`train --help`, the parser), the sweep schema, the
reports (its display name), export's accept/refuse (its declared peft type) and the method x family matrix
(a tiny random model trains two steps, through the matrix tests' own helper). The registrations are
dropped after each test.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest
from matrix_cell import check_cell, matrix_cells

from infoprompt.config import TrainConfig, method_settings
from infoprompt.errors import ConfigError
from infoprompt.methods import METHODS, list_methods

PLUGIN = '''"""Two new methods, one registry line each."""
from infoprompt.methods import register_method
from infoprompt.methods.prompt_tuning import PromptTuning, PromptTuningConfig
from infoprompt.methods.warp import Warp, WarpConfig


@register_method("myprompt", PromptTuningConfig, display="My prompt", peft_type="PROMPT_TUNING", peft_init=True)
class MyPrompt(PromptTuning):
    """Lester prompt tuning under a new name: peft can hold it."""


@register_method("mywarp", WarpConfig, display="My WARP", no_peft="my prompts sit inside the template")
class MyWarp(Warp):
    """WARP under a new name: peft cannot."""
'''


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """Import the one-file plugin from a fresh temporary package; drop its methods (and module) after."""
    package = f"plugins_{tmp_path.name.replace('-', '_')}"
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / package / "mymethods.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    with METHODS.scratch():
        yield importlib.import_module(f"{package}.mymethods")
        for name in [m for m in sys.modules if m.startswith(package)]:
            del sys.modules[name]


def test_registered_from_one_file(plugin):
    assert {"myprompt", "mywarp"} <= set(list_methods())
    assert METHODS.get("myprompt") is plugin.MyPrompt and plugin.MyPrompt.method_name == "myprompt"
    assert "myprompt, mywarp, prompt" in method_settings()["mi_losses"].help  # the options say they apply to it


def test_cli_offers_and_parses_it(plugin, capsys, monkeypatch):
    from infoprompt.cli import build_parser, main, train_config_from_args

    monkeypatch.setenv("COLUMNS", "2000")  # one line per option: no wrapping inside a name
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    shown = capsys.readouterr().out
    assert "prompt, residual, late, warp, idpg, infoprompt, apet, myprompt, mywarp; baselines:" in shown  # --method help
    assert "one of: adapter, apet, bitfit, finetune, idpg, infoprompt, late, lora, myprompt, mywarp, peft" in shown
    args = build_parser(["train"]).parse_args(["train", "--method", "myprompt", "--n-prompts", "2"])
    config = train_config_from_args(args)
    assert config.method == "myprompt" and config.method_config().n_prompts == 2


def test_sweep_schema_accepts_it(plugin, tmp_path):
    from infoprompt.sweep.config import load_sweep

    path = tmp_path / "sweep.yaml"
    path.write_text("grid:\n  method: [myprompt, prompt]\n  seed: [0, 1]\n")
    assert load_sweep(path).grids[0]["method"] == ["myprompt", "prompt"]
    path.write_text("grid:\n  method: [nomethod]\n")
    with pytest.raises(ConfigError, match="unknown method 'nomethod'"):
        load_sweep(path)


def test_reports_use_its_display_name(plugin):
    from infoprompt.report.runs import METHOD_NAMES, RunRecord, variant_label, variant_sort_key

    record = RunRecord(Path("runs/a"), {"method": "myprompt", "task": "sst2", "seed": 0}, {})
    assert METHOD_NAMES["myprompt"] == "My prompt" and variant_label(record, ["method"]) == "My prompt"
    paper = RunRecord(Path("runs/b"), {"method": "infoprompt", "task": "sst2", "seed": 0}, {})
    assert variant_sort_key(paper, "InfoPrompt") < variant_sort_key(record, "My prompt")  # after the paper's rows


def test_export_follows_its_declared_peft_type(plugin):
    from infoprompt.export.peft import check_exportable

    check_exportable("myprompt")  # PROMPT_TUNING: accepted
    with pytest.raises(ConfigError) as caught:
        check_exportable("mywarp")
    assert str(caught.value) == ("--format peft: method 'mywarp' cannot be exported: my prompts sit inside the "
                                 "template (exportable: lora, myprompt, prefix, prompt, residual)")


def test_it_joins_the_method_by_family_matrix(plugin, tiny_bert, tmp_path):
    cells = matrix_cells()
    assert cells["myprompt"] == ("myprompt", {}) and "mywarp" in cells
    check_cell("myprompt", cells["myprompt"][1], tiny_bert, tmp_path)
    check_cell("mywarp", cells["mywarp"][1], tiny_bert, tmp_path / "warp")


def test_config_accepts_it_and_a_duplicate_name_is_refused(plugin):
    assert TrainConfig(method="mywarp", n_prompts=2).method_config().layout == "warp"
    from infoprompt.methods import register_method
    from infoprompt.methods.prompt_tuning import PromptTuningConfig

    with pytest.raises(ConfigError) as caught:
        register_method("myprompt", PromptTuningConfig)(plugin.MyWarp)
    assert str(caught.value) == f"method 'myprompt' is already registered (by {plugin.__name__}.MyPrompt)"
    assert METHODS.get("myprompt") is plugin.MyPrompt and plugin.MyWarp.method_name == "mywarp"  # nothing changed
