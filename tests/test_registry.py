"""One registration style for methods, families and tasks (infoprompt.registry), and the proof that a new
family or task is one file and one registry line (the method proof: tests/methods/test_new_method_plugin.py).

Each plugin is ONE module written into a temporary package on sys.path; importing it registers the name,
and with no other edit the toolkit finds it. Registrations are dropped after each test.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass, fields

import pytest
import torch

from infoprompt.config import TrainConfig, setting_of
from infoprompt.data.registry import TASKS
from infoprompt.data.tasks import get_task, list_tasks, load_split
from infoprompt.errors import ConfigError
from infoprompt.families import FAMILIES, family_for_model, get_family
from infoprompt.methods import METHODS
from infoprompt.registry import Entry, Registry

FAMILY_PLUGIN = '''"""GPT-2 as its own family, asked before the generic causal LMs: one class, one registry line."""
from infoprompt.families import register_family
from infoprompt.families.causal import CausalLM


@register_family("gpt2")
class GPT2Family(CausalLM):
    readouts = ("answer", "cue")  # "cue": the same answer-cue state under a second name
    readout_descriptions = {"answer": "final hidden state at the answer cue", "cue": "the answer cue's state"}

    @classmethod
    def claims(cls, config) -> bool:
        return config.model_type == "gpt2"

    @classmethod
    def claims_model(cls, model) -> bool:
        return type(model).__name__.startswith("GPT2")
'''

TASK_PLUGIN = '''"""A toy sentiment task: a spec, a loader, one registry line."""
from infoprompt.data.example import Example
from infoprompt.data.registry import register_task
from infoprompt.data.spec import TaskSpec

TOY = TaskSpec("toy-sentiment", ["negative", "positive"], ["terrible", "great"], ["accuracy"], "accuracy")
ROWS = {"train": [("a great movie", 1), ("a terrible film", 0)], "dev": [("great fun", 1), ("boring", 0)]}


def load_toy(split, data_dir, policy):
    return [Example(text, label=label, source=f"toy:{i}") for i, (text, label) in enumerate(ROWS[split])]


register_task(TOY, load_toy)
'''


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """`plugin(source)`: import a one-file module from a fresh temporary package; its registrations go after."""
    package = f"registry_plugins_{tmp_path.name.replace('-', '_')}"
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))

    def load(source: str):
        (tmp_path / package / "plugin.py").write_text(source)
        return importlib.import_module(f"{package}.plugin")

    with METHODS.scratch(), FAMILIES.scratch(), TASKS.scratch():
        yield load
    for name in [m for m in sys.modules if m.startswith(package)]:
        del sys.modules[name]


# -- the registry itself ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Colour(Entry):
    hex: str = ""


def test_registry_refuses_a_duplicate_and_names_the_unknown():
    colours: Registry[Colour] = Registry("colour", Colour)
    colours.add("red", "R", hex="#f00")

    @colours.register("blue", hex="#00f", rank=-1)
    class Blue:
        pass

    assert colours.names() == ["blue", "red"] and "red" in colours and len(colours) == 2  # rank, then order
    assert colours.entry("red").hex == "#f00" and colours.get("blue") is Blue
    with pytest.raises(ConfigError) as caught:
        colours.add("blue", "B")
    assert str(caught.value) == f"colour 'blue' is already registered (by {__name__}.test_registry_refuses_a_" \
                                "duplicate_and_names_the_unknown.<locals>.Blue)"
    assert colours.get("blue") is Blue  # the first registration stands
    with pytest.raises(ConfigError, match=r"^unknown colour 'green' \(choose from: blue, red\)$"):
        colours.get("green")
    with colours.scratch():
        colours.add("green", "G")
        assert colours.get("green") == "G"
    assert "green" not in colours
    colours.remove("red")
    assert colours.names() == ["blue"]


def test_the_three_kinds_share_one_style():
    assert all(isinstance(r, Registry) for r in (METHODS, FAMILIES, TASKS))
    assert FAMILIES.names() == ["seq2seq", "causal", "mlm", "encoder"]  # the order families are asked in
    with pytest.raises(ConfigError, match=r"^unknown backbone family 'gpt9' \(choose from: seq2seq, causal, mlm, "
                                          r"encoder\)$"):
        get_family("gpt9")
    with pytest.raises(ConfigError, match=r"^task 'sst2' is already registered"):
        from infoprompt.data.registry import register_task

        register_task(get_task("sst2"), lambda split, folder, policy: [])
    with pytest.raises(ConfigError, match=r"^backbone family 'causal' is already registered"):
        from infoprompt.families import register_family
        from infoprompt.families.causal import CausalLM

        register_family("causal")(type("Another", (CausalLM,), {}))
    assert get_family("causal").__class__.__name__ == "CausalLM"


# -- a new family: one file ------------------------------------------------------------------------


def _readout_choices() -> tuple:
    (readout,) = [setting_of(f) for f in fields(TrainConfig) if f.name == "readout"]
    return readout.allowed()


def test_a_new_family_is_one_file(plugin, roberta_tokenizer):
    from transformers import GPT2Config, GPT2LMHeadModel

    from infoprompt.backbones import load_backbone

    assert "cue" not in _readout_choices()
    module = plugin(FAMILY_PLUGIN)
    assert isinstance(get_family("gpt2"), module.GPT2Family) and FAMILIES.names()[0] == "gpt2"  # asked first
    assert "cue" in _readout_choices()  # its readouts join `--readout`'s choices
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(roberta_tokenizer), n_embd=32, n_layer=2, n_head=2,
                                       n_positions=128)).eval()
    assert family_for_model(model).name == "gpt2"
    backbone = load_backbone("tiny-gpt2", model=model, tokenizer=roberta_tokenizer)
    assert backbone.family.name == "gpt2"
    from infoprompt.methods import build_method

    method = build_method("prompt", backbone, get_task("sst2"), {"n_prompts": 2, "readout": "cue"})
    assert method.readout == "cue"
    assert TrainConfig(readout="cue", method="prompt").readout == "cue"


# -- a new task: one file --------------------------------------------------------------------------


def test_a_new_task_is_one_file(plugin, capsys, monkeypatch):
    assert "toy-sentiment" not in list_tasks()
    module = plugin(TASK_PLUGIN)
    assert "toy-sentiment" in list_tasks() and list_tasks()[-1] == "custom"
    assert get_task("toy-sentiment") == module.TOY and get_task("toy-sentiment") is not module.TOY  # a copy
    assert [e.text_a for e in load_split(get_task("toy-sentiment"), "dev")] == ["great fun", "boring"]
    assert TrainConfig(task="toy-sentiment", method="prompt").task == "toy-sentiment"
    from infoprompt.cli import main

    monkeypatch.setenv("COLUMNS", "2000")  # one line per option: no wrapping inside a name
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    shown = capsys.readouterr().out
    assert "one of: cola, cr, mpqa, mrpc, rte, semeval, sst2, sst5, superglue-boolq" in shown  # --task's choices
    assert "superglue-wsc, toy-sentiment, custom" in shown
    with pytest.raises(ConfigError, match="unknown task 'toy-sentiments'"):
        TrainConfig(task="toy-sentiments")
