"""Training APET: only inserted weights learn, the backbone stays frozen, and a run reports its budget."""

from __future__ import annotations

import json

import pytest
import torch
from apet_helpers import HEAD, SIZES, batch_for, generative, snapshot

from infoprompt.data.tasks import get_task
from infoprompt.methods import build_method

OPS = ["add", "param", "plug", "lowrank", "concat", "prompt"]


@pytest.mark.parametrize("op", OPS)
def test_one_step_trains_only_the_inserted_weights(tiny_bert, op):
    given = snapshot(tiny_bert.model)
    method = build_method("apet", tiny_bert, get_task("rte"),
                          {"apet_ops": op, "budget": 100, "apet_seed": 4, "apet_bottleneck": 8}).train()
    trainable = {n: p for n, p in method.named_parameters() if p.requires_grad}
    before = snapshot(method)
    out = method(batch_for(method))
    out.total().backward()
    inserted = [n for n in trainable if not n.startswith("head.")]
    assert all(trainable[n].grad is not None and trainable[n].grad.abs().sum() > 0 for n in inserted)
    assert all(p.grad is None for n, p in method.named_parameters() if not p.requires_grad)
    torch.optim.AdamW(trainable.values(), lr=1e-2).step()
    after = snapshot(method)
    assert all(torch.equal(before[n], after[n]) for n in before if n not in trainable)  # frozen weights unchanged
    assert all(not torch.equal(before[n], after[n]) for n in inserted)
    assert sum(trainable[n].numel() for n in inserted) == 100
    assert method.num_trainable_parameters() == 100 + HEAD
    assert all(torch.equal(given[n], p) for n, p in tiny_bert.model.named_parameters())  # the given backbone too


@pytest.mark.parametrize("family, op", [("t5", "plug"), ("t5", "param"), ("llama", "concat"), ("llama", "lowrank"),
                                        ("llama", "add")])
def test_generative_step_leaves_the_backbone_frozen(bpe_tokenizer, family, op):
    from infoprompt.methods.apet.insert import insert_apet

    model, loss = generative(family, bpe_tokenizer)
    frozen = snapshot(model)
    run, _ = insert_apet(model, [(op, "random")], 77, 1, SIZES)
    params = [p for p in run.parameters() if p.requires_grad]
    loss(run).backward()
    assert all(p.grad is not None for p in params)
    torch.optim.SGD(params, lr=0.1).step()
    now = {n: p for n, p in model.named_parameters() if not p.requires_grad}
    originals = {n.replace(".base.", ".").replace(".parametrizations.", ".").replace(".original", ""): p
                 for n, p in now.items()}
    assert all(torch.equal(frozen[n], originals[n]) for n in frozen)


@pytest.fixture
def tiny_task_files(tmp_path):
    rows = ["sentence\tlabel"] + [f"{w} movie\t{i % 2}" for i, w in
                                  enumerate(["bad", "great", "awful", "lovely", "boring", "fun", "dull", "superb"])]
    (tmp_path / "train.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (tmp_path / "dev.tsv").write_text("\n".join(rows[:5]) + "\n", encoding="utf-8")
    return tmp_path


def test_end_to_end_training_reports_the_budget_and_reloads(tiny_bert, tiny_task_files, tmp_path):
    from infoprompt.api import TrainConfig, load, train

    cfg = TrainConfig(task="custom", method="apet", train_file=str(tiny_task_files / "train.tsv"),
                      dev_file=str(tiny_task_files / "dev.tsv"), text_fields=["sentence"], verbalizer="0=bad,1=good",
                      epochs=1, batch_size=4, progress=False, output=str(tmp_path / "run"),
                      method_options={"budget": 1234, "apet_ops": "add,plug,concat", "apet_seed": 7,
                                      "apet_bottleneck": 8})
    result = train(cfg, backbone=tiny_bert)  # one epoch, one evaluation: the saved checkpoint is the final state
    summary = result.summary
    assert summary["apet_params"] == summary["apet_budget"] == 1234
    assert summary["trainable_params"] == 1234 + HEAD
    assert sum(u["size"] for u in summary["apet_units"]) == 1234
    assert result.run_dir.joinpath("metrics.jsonl").is_file()
    saved = json.loads((result.run_dir / "config.json").read_text())
    assert saved["method_config"]["budget"] == 1234 and saved["method_config"]["apet_seed"] == 7
    model = load(result.run_dir, tiny_bert)  # the placement is redrawn from the seed: same structure, same weights
    batch = batch_for(model.method)
    result.method.eval()
    with torch.no_grad():
        assert torch.allclose(model.method(batch).logits, result.method(batch).logits, atol=1e-6)


def test_cli_passes_the_budget_flags():
    from infoprompt.cli import build_parser, train_config_from_args

    argv = ["train", "--method", "apet", "--budget", "500", "--apet-positions", "random", "--apet-seed", "3",
            "--apet-ops", "add,plug"]
    cfg = train_config_from_args(build_parser(argv).parse_args(argv))
    assert cfg.method_options == {"budget": 500, "apet_seed": 3, "apet_ops": "add,plug", "apet_positions": "random"}
