"""The baselines (finetune, adapter, lora, bitfit, prefix): one training step, exact budgets, checkpoints."""

from __future__ import annotations

import json

import pytest
import torch

from infoprompt.cli import main
from infoprompt.data.example import Example
from infoprompt.data.tasks import get_task
from infoprompt.errors import ConfigError
from infoprompt.methods import build_method, list_methods
from infoprompt.prompting.template import Template, collate
from infoprompt.testing import load_checkpoint, make_tiny_backbone
from infoprompt.training.checkpoint import save_checkpoint

BASELINES = ["finetune", "adapter", "lora", "bitfit", "prefix"]
PAIRS = [Example("one two three", "three two one", label=0), Example("hello world", "hello world", label=1),
         Example("a great movie", "a terrible film", label=0)]
# Tiny backbones (infoprompt.testing): hidden D, feed-forward FF, L layers, C = 2 classes.
D, FF, L, C = 32, 64, 2, 2
HEAD = C * D + C  # class embeddings + bias, trained by every method


def batch_for(method, backbone, examples=PAIRS):
    template = Template(backbone.tokenizer, method.config.n_prompts, layout=method.config.layout, max_length=64)
    return collate(template.encode(examples), backbone.tokenizer.pad_token_id)


def snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in module.named_parameters()}


def test_registry_has_the_baselines():
    assert set(BASELINES) <= set(list_methods())


@pytest.mark.parametrize("name", BASELINES)
def test_one_training_step(tiny_backbone, name):
    given = snapshot(tiny_backbone.model)
    method = build_method(name, tiny_backbone, get_task("rte")).train()
    assert not method.backbone.training  # the dropout policy ("off") survives .train(), as for prompt methods
    trainable = {n: p for n, p in method.named_parameters() if p.requires_grad}
    before, frozen_before = snapshot(method), {n for n, p in method.named_parameters() if not p.requires_grad}
    optimizer = torch.optim.AdamW(trainable.values(), lr=1e-2)
    out = method(batch_for(method, tiny_backbone))
    assert out.logits.shape == (len(PAIRS), 2) and torch.isfinite(out.total())
    out.total().backward()
    assert all(p.grad is not None for p in trainable.values())  # the count below is the true count
    optimizer.step()
    after = snapshot(method)
    assert method.num_trainable_parameters() == sum(p.numel() for p in trainable.values())
    assert all(torch.equal(before[n], after[n]) for n in frozen_before)
    assert any(not torch.equal(before[n], after[n]) for n in trainable if not n.startswith("head."))
    assert not method.prompt.requires_grad  # the template's slots hold frozen vectors
    # the Backbone handed in is never modified: the method tunes its own copy
    assert all(torch.equal(given[n], p) for n, p in tiny_backbone.model.named_parameters())


@pytest.mark.parametrize("name, copied", [
    ("lora", r"^$"), ("prefix", r"^$"), ("adapter", r".*layer\.\d+\..*LayerNorm\.(weight|bias)"), ("bitfit", r".*\.bias"),
    ("finetune", r".*"),
])
def test_only_the_weights_a_method_trains_are_copied(tiny_bert, name, copied):
    """Frozen weights are the given backbone's own tensors (no second copy in memory); trained ones are copies."""
    import re

    method = build_method(name, tiny_bert, get_task("rte"))
    ours = {p.data_ptr() for p in method.backbone.parameters()}
    for n, p in tiny_bert.model.named_parameters():
        assert (p.data_ptr() in ours) != bool(re.fullmatch(copied, n)), n
        assert not p.requires_grad


def bert_backbone_params(vocab: int, positions: int = 256, types: int = 2) -> int:
    """Parameters of the tiny BERT encoder without its pooler, from the config alone."""
    embeddings = (vocab + positions + types) * D + 2 * D
    per_layer = 4 * (D * D + D) + 2 * (2 * D) + (D * FF + FF) + (FF * D + D)
    return embeddings + L * per_layer


@pytest.mark.parametrize("name, options, expected", [
    ("bitfit", {}, L * (7 * D + FF) + D),  # q,k,v, attn-out, 2 LN, ffn-in (FF), ffn-out; embedding LN
    ("lora", {"lora_r": 4}, L * 2 * (2 * 4 * D)),  # A (r×D) and B (D×r) on query and value
    ("adapter", {"adapter_size": 8}, L * (2 * (2 * D * 8 + 8 + D) + 2 * 2 * D)),  # 2 bottlenecks + LN per layer
    ("adapter", {"adapter_size": 8, "adapter_placement": "output", "train_layer_norm": False}, L * (2 * D * 8 + 8 + D)),
    ("prefix", {"prefix_length": 5}, 5 * L * 2 * D),  # a key and a value per virtual token and layer
    ("prefix", {"prefix_length": 5, "prefix_hidden": 16}, 5 * D + (D * 16 + 16) + (16 * L * 2 * D + L * 2 * D)),
])
def test_exact_trainable_parameter_counts(tiny_bert, name, options, expected):
    method = build_method(name, tiny_bert, get_task("sst2"), options)
    assert method.num_trainable_parameters() == expected + HEAD


def test_finetune_trains_every_weight_on_the_readout_path(tiny_bert):
    method = build_method("finetune", tiny_bert, get_task("sst2"))
    assert method.num_trainable_parameters() == bert_backbone_params(tiny_bert.vocab_size) + HEAD
    assert not any(p.requires_grad for n, p in method.named_parameters() if ".pooler." in n)


@pytest.mark.parametrize("name", BASELINES)
def test_checkpoint_round_trip_on_a_fresh_backbone(tmp_path, bert_tokenizer, name):
    backbone = make_tiny_backbone("bert", bert_tokenizer)
    method = build_method(name, backbone, get_task("rte")).train()
    out = method(batch_for(method, backbone))
    out.total().backward()
    torch.optim.AdamW([p for p in method.parameters() if p.requires_grad], lr=1e-2).step()
    with torch.no_grad():  # move every tuned tensor away from its initial value (LoRA's A gets no grad at step 1)
        for p in method.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.05)
    save_checkpoint(tmp_path, method, {"template": {"max_length": 64, "layout": "warp"}})
    restored, record = load_checkpoint(tmp_path, make_tiny_backbone("bert", bert_tokenizer))  # a new process's view
    method.eval()
    batch = batch_for(method, backbone)
    with torch.no_grad():
        assert torch.equal(method(batch).logits, restored(batch).logits)
        fresh = build_method(name, backbone, get_task("rte")).eval()
        assert not torch.allclose(fresh(batch).logits, restored(batch).logits)  # the load did restore something
    assert record["method"] == name and restored.num_trainable_parameters() == method.num_trainable_parameters()


def test_prefix_passes_token_type_ids_to_the_encoder(tiny_bert):
    method = build_method("prefix", tiny_bert, get_task("rte")).eval()
    batch = batch_for(method, tiny_bert)
    assert batch["token_type_ids"].any()
    same_segment = {**batch, "token_type_ids": torch.zeros_like(batch["token_type_ids"])}
    with torch.no_grad():
        assert not torch.allclose(method(batch).logits, method(same_segment).logits)


@pytest.mark.parametrize("name, options, match", [
    ("adapter", {"adapter_size": 0}, "--adapter-size"), ("adapter", {"adapter_placement": "middle"}, "--adapter-placement"),
    ("lora", {"lora_r": 0}, "--lora-r"), ("lora", {"lora_alpha": 0}, "--lora-alpha"),
    ("lora", {"lora_targets": "nonexistent"}, "--lora-targets"),
    ("prefix", {"prefix_length": 0}, "--prefix-length"), ("prefix", {"prefix_hidden": -1}, "--prefix-hidden"),
    ("finetune", {"lora_r": 4}, "lora_r"),
])
def test_invalid_options(tiny_bert, name, options, match):
    with pytest.raises(ConfigError, match=match):
        build_method(name, tiny_bert, get_task("sst2"), options)


def test_default_learning_rates_follow_the_literature():
    from infoprompt.api import TrainConfig, resolve_lr

    rates = {name: resolve_lr(TrainConfig(method=name)) for name in BASELINES}
    assert rates == {"finetune": 2e-5, "adapter": 1e-3, "lora": 5e-4, "bitfit": 1e-3, "prefix": 1e-2}


@pytest.fixture(scope="module")
def sst2_small(tmp_path_factory, shared_data):
    lines = (shared_data / "glue" / "sst2" / "train.tsv").read_text(encoding="utf-8").splitlines()
    folder = tmp_path_factory.mktemp("sst2baselines")
    (folder / "train.tsv").write_text("\n".join([lines[0], *lines[1:9]]) + "\n", encoding="utf-8")
    (folder / "dev.tsv").write_text("\n".join([lines[0], *lines[1001:1013]]) + "\n", encoding="utf-8")
    return folder


def test_cli_flags_reach_the_method_and_the_checkpoint_evaluates_identically(sst2_small, tmp_path, capsys):
    """End to end on MiniLM: --lora-r is applied, and `evaluate` on the saved run reproduces the dev score."""
    run = tmp_path / "run"
    argv = ["train", "--task", "custom", "--train-file", str(sst2_small / "train.tsv"), "--dev-file",
            str(sst2_small / "dev.tsv"), "--text-fields", "sentence", "--verbalizer", "0=terrible,1=great",
            "--method", "lora", "--lora-r", "2", "--epochs", "1", "--output", str(run), "--json", "--quiet"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # MiniLM: 6 layers, D = 384; LoRA r = 2 on query and value, plus the 2-class head
    assert summary["trainable_params"] == 6 * 2 * (2 * 2 * 384) + 2 * 384 + 2
    assert summary["lr"] == 5e-4
    assert main(["evaluate", "--checkpoint", str(run), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["dev"] == summary["dev"]
