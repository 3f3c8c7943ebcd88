"""Masks: shapes, exact zeroing, piece sizes, the ratio -> count mapping, checkpoint round trip."""

from __future__ import annotations

import pytest
import torch

from infoprompt.api import load
from infoprompt.data.tasks import get_task
from infoprompt.errors import ConfigError
from infoprompt.methods import build_method
from infoprompt.pruning import attach_masker, prompt_parameter_counts, target_counts, zero_pruned
from infoprompt.pruning.masker import PromptMasker, piece_sizes
from infoprompt.pruning.schedule import lowest, parse_ratios, ratio_path
from infoprompt.training.checkpoint import save_checkpoint
from infoprompt.training.inference import predict_logits


def test_piece_sizes_cover_every_dimension_once():
    assert piece_sizes(32, 16) == [2] * 16
    assert piece_sizes(10, 4) == [3, 3, 2, 2]  # array_split rule when k does not divide D
    with pytest.raises(ConfigError, match="--pieces"):
        piece_sizes(8, 9)


def test_masker_zeroes_exactly_the_masked_tokens_and_pieces():
    masker = PromptMasker(n_prompts=3, hidden=10, pieces=4)
    assert masker.token_mask.shape == (3,) and masker.piece_mask.shape == (3, 4)
    masker.token_mask[0] = 0
    masker.piece_mask[2, 1] = 0  # dims 3..5 of token 2 (sizes 3, 3, 2, 2)
    prompts = torch.randn(2, 3, 10) + 5.0  # no entry is 0 by chance
    out = masker(prompts)
    assert out.shape == prompts.shape
    assert torch.all(out[:, 0] == 0)
    assert torch.all(out[:, 2, 3:6] == 0)
    keep = torch.ones(3, 10, dtype=torch.bool)
    keep[0] = False
    keep[2, 3:6] = False
    assert torch.equal(out[:, keep], prompts[:, keep])
    assert masker.summary() == {"tokens_kept": 2, "pieces_kept": 7, "tokens_total": 3, "pieces_total": 12}


@pytest.mark.parametrize(("ratio", "granularity", "expected"), [
    (0.5, "token", (10, 160)),  # np = 20, k = 16: half the tokens, all their pieces
    (0.1, "piece", (0, 32)),  # 10% of 320 pieces, no whole token
    (0.1, "both", (1, 32)),  # r = 1 - sqrt(0.9) = 0.051 -> 1 token (16 pieces) + 16 more pieces
    (0.5, "both", (6, 160)),  # r = 0.293 -> 6 tokens (96 pieces) + 64 pieces
    (0.9, "both", (14, 288)),  # r = 0.684 -> 14 tokens (224 pieces) + 64 pieces
])
def test_ratio_maps_to_tokens_and_pieces(ratio, granularity, expected):
    assert target_counts(ratio, 20, 16, granularity) == expected


def test_ratio_path_parsing_and_ranking():
    assert ratio_path([0.35], 0.1) == [0.1, 0.2, 0.3, 0.35]
    assert ratio_path([0.2, 0.5], 0.25) == [0.2, 0.25, 0.5]
    assert parse_ratios("0.3, 0.1,0.3") == [0.1, 0.3]
    for bad in ("1.5", "0", "abc", ""):
        with pytest.raises(ConfigError, match="--sweep"):
            parse_ratios(bad)
    scores = torch.tensor([0.5, 0.1, 0.1, 0.9])
    assert lowest(scores, torch.tensor([1, 1, 0, 1]), 2).tolist() == [1, 0]  # dead unit 2 skipped
    with pytest.raises(ConfigError, match="only 3 are left"):
        lowest(scores, torch.tensor([1, 1, 0, 1]), 4)


@pytest.mark.parametrize("method_name", ["prompt", "idpg"])
def test_pruned_checkpoint_round_trip_gives_identical_logits(tmp_path, tiny, method_name):
    from infoprompt.data.example import Example
    from infoprompt.prompting.template import Template

    method = build_method(method_name, tiny, get_task("sst2"), {"n_prompts": 3})
    masker = attach_masker(method, pieces=4)
    unpruned = prompt_parameter_counts(method, masker)["nonzero_prompt_params"]
    masker.token_mask[1] = 0
    masker.piece_mask[0, 2] = 0
    zero_pruned(method, masker)
    meta = {"template": {"max_length": 32, "layout": method.config.layout}, "eval_batch_size": 4,
            "pruning": {"pieces": 4, "ratio": 0.4, "granularity": "both"}}
    save_checkpoint(tmp_path, method, meta)
    loaded = load(tmp_path, tiny)
    assert torch.equal(loaded.method.prompt_masker.token_mask, masker.token_mask)
    assert torch.equal(loaded.method.prompt_masker.piece_mask, masker.piece_mask)
    features = Template(tiny.tokenizer, 3, layout=method.config.layout, max_length=32).encode(
        [Example("a great movie", label=1), Example("boring and long", label=0)])
    assert torch.equal(predict_logits(loaded.method, features, 2), predict_logits(method, features, 2))
    counts = prompt_parameter_counts(loaded.method, loaded.method.prompt_masker)
    if method_name == "prompt":  # 2 tokens x 32 dims survive, minus one piece of 8 dims
        assert counts["nonzero_prompt_params"] == 2 * 32 - 8 == counts["prompt_units_kept"]
    else:  # the generator's rows and bias entries for the 40 pruned units are zero
        up = loaded.method.generator.up[0].weight.view(3, 32, -1)
        assert torch.all(up[1] == 0) and torch.all(up[0, 16:24] == 0) and torch.all(up[0, :16] != 0)
        assert counts["prompt_units_kept"] == 56
        # 40 pruned units: 40 rows of 64 up-projection weights and 40 bias entries (the up-bias starts at 0)
        assert counts["nonzero_prompt_params"] == unpruned - 40 * (64 + 1)


def test_unpruned_checkpoints_load_without_a_masker(stage_one, tiny):
    loaded = load(stage_one("prompt"), tiny)
    assert loaded.method.prompt_masker is None and "pruning" not in loaded.record


def test_methods_without_a_soft_prompt_are_refused(tiny):
    with pytest.raises(ConfigError, match="no soft prompt"):
        attach_masker(build_method("lora", tiny, get_task("sst2")))
