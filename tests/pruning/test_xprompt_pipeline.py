"""XPrompt end to end on tiny runs: sweep, rewinding, exact checkpoint scores, resume, all four methods."""

from __future__ import annotations

import json

import pytest
import torch

from infoprompt.api import evaluate, load
from infoprompt.pruning import PruneSettings, prune
from infoprompt.pruning.rewind import install
from infoprompt.training.checkpoint import load_tensors, read_checkpoint_config, seal_record


def post_tuning_tensors(source_dir) -> dict[str, torch.Tensor]:
    """The stage-1 checkpoint's trainable tensors (the values rewinding returns to), masks left out."""
    record = read_checkpoint_config(source_dir)
    tensors = load_tensors(source_dir, record["tensors_sha256"])
    return {k: v for k, v in tensors.items() if not k.startswith("prompt_masker.")}


def _pruned_entries(model) -> torch.Tensor:
    return model.method.prompt_masker.scale() == 0  # (np, D) True where pruned


def test_sweep_rewind_compare_and_exact_checkpoints(tmp_path, stage_one, tiny):
    run = stage_one("prompt")
    settings = PruneSettings(ratios=(0.25, 0.5), granularity="both", pieces=4, random_seeds=2)
    report = prune(run, tmp_path / "x", settings, backbone=tiny).payload
    rows = report["ratios"]
    assert [r["ratio"] for r in rows] == [0.25, 0.5]
    # np = 4, k = 4: 0.25 -> 1 token (r = 0.134 rounds to 1) = 4 pieces; 0.5 -> 1 token + 4 pieces
    assert [(r["tokens_kept"], r["pieces_kept"]) for r in rows] == [(3, 12), (3, 8)]
    small, large = (load(r["checkpoint_masked"], tiny) for r in rows)
    tokens = [m.method.prompt_masker.token_mask for m in (small, large)]
    assert torch.all(tokens[1] <= tokens[0])  # the token level is nested along the path
    post = post_tuning_tensors(run)
    for row in rows:
        for kind, recorded in (("checkpoint_masked", row["dev_before"]), ("checkpoint_rewound", row["dev_after"])):
            assert evaluate(row[kind], backbone=tiny)["dev"] == recorded  # exactly, not approximately
            model = load(row[kind], tiny)
            pruned = _pruned_entries(model)
            prompt = model.method.prompt.detach()
            assert torch.all(prompt[pruned] == 0)
            assert model.record["pruning"]["nonzero_prompt_params"] == int(torch.count_nonzero(prompt))
            assert model.record["pruning"]["ratio"] == row["ratio"]
            if kind == "checkpoint_masked":  # survivors keep their post-tuning values
                assert torch.equal(prompt[~pruned], post["prompt"][~pruned])
            else:  # retraining moved them
                assert not torch.equal(prompt[~pruned], post["prompt"][~pruned])
    assert report["selected"]["ratio"] in (0.25, 0.5) and report["selected"]["by"] == "dev_after"
    comparison = report["comparison"]
    assert comparison["tokens_masked"] == round(report["selected"]["ratio"] * 4)
    assert comparison["rows"]["random"]["seeds_done"] == 2
    assert set(comparison["rows"]["negative"]) >= {"dev_before", "dev_after", "tokens_pruned"}
    assert comparison["rows"]["none"]["dev_before"] == report["stage1"]["dev"][report["metric"]]  # the control
    assert "dev_after" in comparison["rows"]["none"]
    out = tmp_path / "x"
    saved = json.loads((out / "prune.json").read_text())
    assert saved["selected"] == report["selected"]
    markdown = (out / "prune.md").read_text()
    assert "| 0.50 | 3/4 | 8/16 |" in markdown and "random tokens (2 seeds" in markdown
    assert "Control: the full prompt, rewound and retrained" in markdown
    assert (out / "prune.png").read_bytes()[:4] == b"\x89PNG"
    # a rerun finds every step done: nothing is recomputed and the numbers are the same
    messages: list[str] = []
    again = prune(run, out, settings, backbone=tiny, log=messages.append).payload
    assert not [m for m in messages if m.startswith("pruned to")]
    assert again["ratios"] == rows and again["comparison"]["rows"] == comparison["rows"]


def test_rewinding_restores_survivors_and_zeroes_the_pruned(stage_one, tiny):
    from infoprompt.data.tasks import TaskSpec
    from infoprompt.methods import build_method

    run = stage_one("warp")
    record = load(run, tiny).record
    method = build_method("warp", tiny, TaskSpec.from_dict(record["task"]), record["method_config"])
    post = post_tuning_tensors(run)
    masks = {"token_mask": torch.tensor([1.0, 0.0, 1.0, 1.0]), "piece_mask": torch.ones(4, 4)}
    masks["piece_mask"][3, 0] = 0
    install(method, post, masks, pieces=4)
    keep = method.prompt_masker.scale().bool()
    assert torch.equal(method.prompt.detach()[keep], post["prompt"][keep])
    assert torch.all(method.prompt.detach()[~keep] == 0) and int((~keep).sum()) == 32 + 8
    assert torch.equal(method.head.class_embeddings.detach(), post["head.class_embeddings"])


@pytest.mark.parametrize("method_name", ["warp", "idpg", "infoprompt"])
def test_every_soft_prompt_method_can_be_pruned_and_retrained(tmp_path, stage_one, tiny, method_name):
    run = stage_one(method_name)
    settings = PruneSettings(ratios=(0.5,), granularity="piece", pieces=4, compare=False)
    row = prune(run, tmp_path, settings, backbone=tiny).payload["ratios"][0]
    assert row["pieces_kept"] == 8 and row["tokens_kept"] == 4
    rewound = load(row["checkpoint_rewound"], tiny)
    assert evaluate(row["checkpoint_rewound"], backbone=tiny)["dev"] == row["dev_after"]
    kind = "free" if method_name == "warp" else "generated"
    assert rewound.record["pruning"]["prompt_kind"] == kind
    assert row["prompt_units_kept"] == 8 * 8  # 8 pieces of 8 dims survive in every prompt
    if kind == "generated":
        bias = rewound.method.generator.bias.detach()
        assert torch.all(bias[_pruned_entries(rewound)] == 0) and torch.all(bias[~_pruned_entries(rewound)] != 0)


def test_retraining_keeps_stage_one_packing_and_older_records_mean_padded(tmp_path, stage_one, tiny):
    """Retraining must batch like stage 1 did; a record from before `--packing` existed was padded."""
    import shutil

    from infoprompt.pruning.pipeline import load_stage_one

    run = tmp_path / "run"
    shutil.copytree(stage_one("warp"), run)
    assert load_stage_one(run, backbone=tiny).cfg.packing == "auto"
    config_path = run / "config.json"
    record = json.loads(config_path.read_text())
    del record["train_config"]["packing"]
    config_path.write_text(json.dumps(seal_record(record)))  # as an older version would have sealed it
    assert load_stage_one(run, backbone=tiny).cfg.packing == "off"
