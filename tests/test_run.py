"""The one run assembly (infoprompt.run) and declared method capabilities.

Every command must build its method through `assemble_run`: a spy counts the methods the assembly
builds and, separately, every PromptMethod constructed at all; the two must be the same objects.
"""

from __future__ import annotations

import ast
import random
from pathlib import Path

import pytest
import torch

from infoprompt import run as run_module
from infoprompt.api import TrainConfig, evaluate, load, predict, train
from infoprompt.errors import ConfigError
from infoprompt.methods import METHODS, Capability, PromptMethod, list_methods, method_classes, register_method
from infoprompt.methods.prompt_tuning import FreePromptMethod, PromptTuningConfig

SRC = Path(__file__).resolve().parents[1] / "src" / "infoprompt"
GOOD = ["a great movie", "wonderful cast and fun", "a beautiful film", "great fun"]
BAD = ["a terrible film", "boring and long", "the plot is thin", "terrible and boring"]


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    yield


@pytest.fixture(scope="module")
def task_files(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("task")
    for name, n, seed in (("train.csv", 12, 0), ("dev.csv", 8, 1)):
        rng = random.Random(seed)
        rows = [f"{(GOOD if i % 2 else BAD)[rng.randrange(4)]},{i % 2}" for i in range(n)]
        (folder / name).write_text("sentence,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    (folder / "inputs.csv").write_text("sentence\na great film\nboring\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    from infoprompt.backbones import load_backbone

    return load_backbone(str(tiny_model_dir))


def config(task_files: Path, tiny_model_dir: Path, method: str, out: Path, **extra) -> TrainConfig:
    return TrainConfig(task="custom", train_file=str(task_files / "train.csv"), dev_file=str(task_files / "dev.csv"),
                       text_fields=["sentence"], verbalizer="0=bad,1=good", backbone=str(tiny_model_dir),
                       method=method, n_prompts=2, epochs=1, batch_size=4, lr=1e-2, max_length=32, output=str(out),
                       progress=False, **extra)


@pytest.fixture(scope="module")
def warp_run(tmp_path_factory, task_files, tiny_model_dir, tiny) -> Path:
    out = tmp_path_factory.mktemp("warp-run")
    train(config(task_files, tiny_model_dir, "warp", out), backbone=tiny)
    return out


@pytest.fixture
def spy(monkeypatch):
    """(methods the assembly built, every PromptMethod constructed) during the test."""
    assembled: list[PromptMethod] = []
    constructed: list[PromptMethod] = []
    real_build, real_init = run_module.build_method, PromptMethod.__init__

    def build(*args, **kwargs):
        method = real_build(*args, **kwargs)
        assembled.append(method)
        return method

    def init(self, *args, **kwargs):
        constructed.append(self)
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(run_module, "build_method", build)
    monkeypatch.setattr(PromptMethod, "__init__", init)
    return assembled, constructed


def only_assembled(spy, at_least: int = 1) -> None:
    assembled, constructed = spy
    assert len(assembled) >= at_least
    assert [id(m) for m in constructed] == [id(m) for m in assembled]


# -- every command builds through the one assembly --------------------------------------------------

def test_train_evaluate_predict_load_use_the_assembly(spy, task_files, tiny_model_dir, tiny, tmp_path):
    result = train(config(task_files, tiny_model_dir, "warp", tmp_path / "run"), backbone=tiny)
    only_assembled(spy, 1)
    model = load(result.run_dir, tiny)
    only_assembled(spy, 2)
    assert model.record["method"] == "warp"
    assert evaluate(result.run_dir, backbone=tiny)["dev"] == result.metrics
    only_assembled(spy, 3)
    assert len(predict(result.run_dir, task_files / "inputs.csv", backbone=tiny)) == 2
    only_assembled(spy, 4)


def test_cli_evaluate_and_predict_use_the_assembly(spy, warp_run, task_files, tiny_model_dir, capsys):
    from infoprompt.cli import main

    assert main(["evaluate", "--checkpoint", str(warp_run), "--json"]) == 0
    only_assembled(spy, 1)
    assert main(["predict", "--checkpoint", str(warp_run), "--input", str(task_files / "inputs.csv")]) == 0
    only_assembled(spy, 2)


def test_a_checkpoint_is_rebuilt_by_the_assembly_with_its_stored_record(warp_run, tiny, monkeypatch):
    calls = []
    real = run_module.assemble_run

    def assemble(*args, **kwargs):
        calls.append(kwargs.get("checkpoint"))
        return real(*args, **kwargs)

    monkeypatch.setattr(run_module, "assemble_run", assemble)
    from infoprompt.testing import load_checkpoint

    method, record = load_checkpoint(warp_run, tiny)
    assert calls == [warp_run]
    assert method.config.to_dict() == record["method_config"] and not method.training


def test_prune_uses_the_assembly(spy, warp_run, tiny, tmp_path):
    from infoprompt.pruning import PruneSettings, prune

    report = prune(warp_run, tmp_path / "x", PruneSettings(ratios=(0.5,), rewind=False, compare=False), backbone=tiny)
    assert report.payload["ratios"][0]["ratio"] == 0.5
    only_assembled(spy, 1)


def test_analyses_use_the_assembly(spy, warp_run, tiny):
    from infoprompt.analysis import CMISettings, LandscapeSettings, estimate_prompt_cmi, loss_landscape
    from infoprompt.data.example import Example

    examples = [Example(t, label=i % 2) for i, t in enumerate(GOOD + BAD)]
    result = estimate_prompt_cmi(["random", "text:good movie", str(warp_run)], backbone=tiny, examples=examples,
                                 settings=CMISettings(inputs=3, samples=4, replicas=2, directions=2))
    assert len(result.sources) == 3
    only_assembled(spy, 3)
    loss_landscape("sst2", backbone=tiny, train_examples=examples,
                   settings=LandscapeSettings(gammas=(0.0,), steps=1, grid=2, examples=2, shots=None, batch_size=4))
    only_assembled(spy, 4)


def test_bench_and_apet_budgets_use_the_assembly(spy, tiny_model_dir):
    from infoprompt.bench.subjects import OurMethod, Spec
    from infoprompt.experiments.apet.budgets import CLASSICS, classic_budgets

    subject = OurMethod(Spec(name="warp", backbone=str(tiny_model_dir), n_prompts=2))
    assert subject.trainable_params > 0
    only_assembled(spy, 1)
    assert set(classic_budgets(str(tiny_model_dir), n_prompts=2)) == set(CLASSICS)
    only_assembled(spy, 1 + len(CLASSICS))


def test_assemble_run_returns_the_runs_parts(task_files, tiny_model_dir, tiny, tmp_path):
    cfg = config(task_files, tiny_model_dir, "prompt", tmp_path, shots=4)
    run = run_module.assemble_run(cfg, backbone=tiny)
    assert run.task.name == "custom" and run.method.method_name == "prompt"
    assert len(run.examples["train"]) == 4 and len(run.features["dev"]) == 8  # the few-shot draw; all of dev
    assert run.features["train"] == run.template.encode(run.examples["train"])
    with pytest.raises(ConfigError, match="needs a config or a checkpoint"):
        run_module.assemble_run()


def test_training_does_not_import_pruning():
    for path in (SRC / "training").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith("infoprompt.pruning"), path
            elif isinstance(node, ast.Import):
                assert not any(a.name.startswith("infoprompt.pruning") for a in node.names), path


# -- capabilities drive behaviour ------------------------------------------------------------------

class NoPrunePromptConfig(PromptTuningConfig):
    pass


@pytest.fixture
def unprunable(monkeypatch):
    """A free-prompt method (it HAS a `prompt` parameter) that does not declare it prunable."""

    class Unprunable(FreePromptMethod):
        capabilities = Capability.PROMPTS

    monkeypatch.setattr(METHODS, "entries", dict(METHODS.entries))
    register_method("unprunable", NoPrunePromptConfig)(Unprunable)
    return "unprunable"


def test_prune_refuses_a_method_that_does_not_declare_a_prunable_prompt(unprunable, task_files, tiny_model_dir,
                                                                         tiny, tmp_path, capsys):
    from infoprompt.cli import main

    out = tmp_path / "run"
    train(config(task_files, tiny_model_dir, unprunable, out), backbone=tiny)
    code = main(["prune", "--run", str(out), "--ratio", "0.5", "--no-rewind", "--no-compare", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "has no soft prompt to prune" in err[0] and unprunable in err[0]


def test_prune_refuses_before_training_stage_one(unprunable, task_files, tiny_model_dir, tiny, tmp_path):
    from infoprompt.pruning import PruneSettings, prune

    cfg = config(task_files, tiny_model_dir, unprunable, tmp_path / "unused")
    with pytest.raises(ConfigError, match="no soft prompt to prune"):
        prune(None, tmp_path / "x", PruneSettings(ratios=(0.5,)), train_config=cfg, backbone=tiny)
    assert not (tmp_path / "x" / "stage1").exists()


def test_run_report_is_merged_only_when_declared(monkeypatch, task_files, tiny_model_dir, tiny, tmp_path):
    class Reporting(FreePromptMethod):
        capabilities = Capability.PROMPTS | Capability.FREE_PROMPT | Capability.RUN_REPORT

        def run_report(self) -> dict:
            return {"method_fact": 7}

    class Silent(Reporting):
        capabilities = Capability.PROMPTS | Capability.FREE_PROMPT

    monkeypatch.setattr(METHODS, "entries", dict(METHODS.entries))
    register_method("reporting", PromptTuningConfig)(Reporting)
    register_method("silent", PromptTuningConfig)(Silent)
    loud = train(config(task_files, tiny_model_dir, "reporting", tmp_path / "a"), backbone=tiny)
    quiet = train(config(task_files, tiny_model_dir, "silent", tmp_path / "b"), backbone=tiny)
    assert loud.summary["method_fact"] == 7 and "method_fact" not in quiet.summary


def test_generate_needs_a_label_likelihood_method(warp_run, tiny):
    with pytest.raises(ConfigError, match="--generate needs"):
        evaluate(warp_run, backbone=tiny, generate=True)


ENCODER_METHODS = [m for m in list_methods() if not m.startswith("gen-")]


@pytest.mark.parametrize("name", ENCODER_METHODS)
def test_declared_capabilities_match_what_the_method_has(name, tiny_bert):
    """A declaration is a promise: the structure a capability names is there, and an override is declared."""
    from infoprompt.data.tasks import get_task

    config_cls, cls = method_classes(name)
    caps = cls.capabilities
    method = cls(config_cls(n_prompts=2), tiny_bert, get_task("sst2"))
    if Capability.FREE_PROMPT in caps:
        assert isinstance(method.prompt, torch.nn.Parameter) and method.prompt.requires_grad
    if Capability.GENERATED_PROMPT in caps:
        assert method.generator.bias.requires_grad
    if Capability.PROMPTS in caps:
        from infoprompt.data.example import Example
        from infoprompt.prompting.template import collate

        features = method.make_template(32).encode([Example(t, label=1) for t in GOOD[:3]])
        assert method.prompts(collate(features, tiny_bert.tokenizer.pad_token_id)).shape[:2] == (3, 2)
    assert (Capability.RUN_REPORT in caps) == (cls.run_report is not PromptMethod.run_report)
    assert (Capability.RUN_STATE in caps) == (cls.export_run_state is not PromptMethod.export_run_state)
    if caps & Capability.PRUNABLE:
        masker = method.attach_prompt_masker(2)
        assert method.prompt_masker is masker
    else:
        with pytest.raises(ConfigError, match="no soft prompt to prune"):
            method.attach_prompt_masker(2)


def test_few_shot_splits_official_draw_and_reported_split(shared_data):
    """Under --select-on few-shot the run's dev is the draw; --official-draw reads LM-BFF's k-shot files as shipped."""
    from infoprompt.data.readers import BadRowPolicy
    from infoprompt.data.tasks import get_task
    from infoprompt.run import read_splits, reported_split

    if not (shared_data / "lmbff").is_dir():
        pytest.skip("LM-BFF files not found")
    cfg = TrainConfig(task="sst5", select_on="few-shot", official_draw=True, seed=87)
    task = get_task("sst5")
    splits = read_splits(task, ("train", "dev"), shared_data, BadRowPolicy(), cfg)
    assert list(splits) == ["train", "dev"] and len(splits["train"]) == len(splits["dev"]) == 80
    assert {e.source.rsplit(":", 1)[0] for e in splits["dev"]} == {str(shared_data / "lmbff/sst-5/k-shot/16-87/dev.csv")}
    assert reported_split(cfg, task) == "test"
    sst2 = TrainConfig(task="sst2", select_on="few-shot", shots_per_class=16, seed=13)
    drawn = read_splits(get_task("sst2"), ("train", "dev"), shared_data, BadRowPolicy(), sst2)
    assert all(e.source.split("/")[-1].startswith("train.tsv:") for rows in drawn.values() for e in rows)
    assert not {e.source for e in drawn["train"]} & {e.source for e in drawn["dev"]} and len(drawn["dev"]) == 32
    assert reported_split(sst2, get_task("sst2")) == "dev"  # GLUE dev: what LM-BFF reports as SST-2 test
    assert reported_split(TrainConfig(task="sst2"), get_task("sst2")) is None  # dev-split: unchanged


def test_no_header_is_refused_where_rows_name_their_fields():
    from infoprompt.data.readers import BadRowPolicy
    from infoprompt.run import resolve_task

    with pytest.raises(ConfigError, match="--no-header are for --task custom"):
        resolve_task(TrainConfig(task="sst2", header=False), BadRowPolicy())
    rows = [{"t": "good", "y": 1}, {"t": "bad", "y": 0}]
    with pytest.raises(ConfigError, match="--no-header is for CSV/TSV files"):
        resolve_task(TrainConfig(task="custom", header=False, train_data=rows, dev_data=rows, text_fields=["t"],
                                 label_field="y"), BadRowPolicy())
