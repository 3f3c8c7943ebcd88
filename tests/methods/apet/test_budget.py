"""The budget rule: trainable count == budget exactly, for every operation and backbone family."""

from __future__ import annotations

import pytest
from apet_helpers import SIZES, generative
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infoprompt.data.tasks import get_task
from infoprompt.errors import ConfigError
from infoprompt.methods import build_method
from infoprompt.methods.apet import Site, allocate
from infoprompt.methods.apet.insert import insert_apet
from infoprompt.testing import make_tiny_backbone

BERT_OPS = ["add", "param", "plug", "lowrank", "concat", "prompt"]
FAST = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@given(capacities=st.lists(st.integers(1, 50), min_size=1, max_size=12), data=st.data(), seed=st.integers(0, 99))
def test_allocate_meets_the_budget_with_only_the_last_unit_partial(capacities, data, seed):
    sites = [Site("add", f"s{i}", c) for i, c in enumerate(capacities)]
    budget = data.draw(st.integers(1, sum(capacities)))
    units = allocate(sites, budget, shuffle=True, seed=seed)
    assert sum(u.size for u in units) == budget
    assert all(not u.partial for u in units[:-1])
    assert len({u.site.name for u in units}) == len(units)
    assert units == allocate(sites, budget, shuffle=True, seed=seed)  # same seed, same placement


def test_allocate_errors_and_budget_zero():
    sites = [Site("add", "a", 3), Site("plug", "b", 5)]
    assert [u.size for u in allocate(sites, 0, shuffle=False, seed=0)] == [3, 5]
    with pytest.raises(ConfigError, match="exceeds the 8 parameters"):
        allocate(sites, 9, shuffle=False, seed=0)
    with pytest.raises(ConfigError, match=">= 0"):
        allocate(sites, -1, shuffle=False, seed=0)


@pytest.mark.parametrize("op", BERT_OPS)
@FAST
@given(data=st.data())
def test_bert_method_trainable_count_is_the_budget(bert_tokenizer, op, data):
    backbone = make_tiny_backbone("bert", bert_tokenizer)
    limit = {"add": 500, "concat": 256, "prompt": 128}.get(op, 3000)
    budget = data.draw(st.integers(1, limit))
    seed = data.draw(st.integers(0, 5))
    method = build_method("apet", backbone, get_task("sst2"),
                          {"apet_ops": op, "budget": budget, "apet_seed": seed, "apet_bottleneck": 8, "apet_rank": 4,
                           "apet_tokens": 2})
    inserted = sum(p.numel() for n, p in method.named_parameters() if p.requires_grad and not n.startswith("head."))
    assert inserted == method.apet_parameter_count() == budget
    assert method.run_report()["apet_params"] == budget


@pytest.mark.parametrize("family, op", [(f, o) for f in ("t5", "llama") for o in ("add", "param", "plug", "lowrank")]
                         + [("llama", "concat")])
@FAST
@given(data=st.data())
def test_generative_trainable_count_is_the_budget(bpe_tokenizer, family, op, data):
    model, _ = generative(family, bpe_tokenizer)
    budget = data.draw(st.integers(1, {"add": 400, "concat": 128}.get(op, 3000)))
    run, units = insert_apet(model, [(op, "random")], budget, data.draw(st.integers(0, 5)), SIZES)
    assert sum(p.numel() for p in run.parameters() if p.requires_grad) == budget == sum(u.size for u in units)


def test_mixed_operations_and_patterns_are_exact(tiny_bert):
    method = build_method("apet", tiny_bert, get_task("sst2"),
                          {"apet_ops": "add,plug,concat,lowrank", "budget": 4321, "apet_bottleneck": 8})
    assert method.apet_parameter_count() == 4321
    pattern = build_method("apet", tiny_bert, get_task("sst2"),
                           {"apet_ops": "add", "apet_positions": r".*layer\.1\..*", "budget": 100})
    assert pattern.apet_parameter_count() == 100
    # a pattern fills its sites in model order: query, key, value in full, then 4 dims of the attention output
    assert [(u.site.name.split("layer.1.")[1], u.size) for u in pattern.units] == [
        ("attention.self.query", 32), ("attention.self.key", 32), ("attention.self.value", 32),
        ("attention.output.dense", 4)]


def test_same_seed_same_placement_different_seed_different(tiny_bert):
    def placement(seed: int) -> list:
        method = build_method("apet", tiny_bert, get_task("sst2"),
                              {"apet_ops": "add,plug,concat", "budget": 2000, "apet_seed": seed, "apet_bottleneck": 8})
        return [(u.site.op, u.site.name, u.size) for u in method.units]

    assert placement(1) == placement(1)
    assert placement(1) != placement(2)


def test_t5_concat_and_bad_options_are_config_errors(bpe_tokenizer, tiny_bert):
    model, _ = generative("t5", bpe_tokenizer)
    with pytest.raises(ConfigError, match="T5"):
        insert_apet(model, [("concat", "random")], 10, 0, SIZES)
    for options, match in [({"apet_ops": "glue"}, "--apet-ops"), ({"budget": -1}, "--budget"),
                           ({"apet_positions": "nothing.*"}, "matches no site"), ({"apet_preset": "ia3"}, "--apet-preset"),
                           ({"apet_ops": "add", "budget": 10**6}, "exceeds"), ({"apet_rank": 0}, "--apet-rank")]:
        with pytest.raises(ConfigError, match=match):
            build_method("apet", tiny_bert, get_task("sst2"), options)
