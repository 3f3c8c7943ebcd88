"""Late prompts (`late`, `--prompt-layer`): the layer split, the cached lower stack, IDPG/InfoPrompt at layer K.

The split with no prompt is the full model bit for bit; no layer below K runs with gradient, nor at all
once the cache holds the inputs; the budget, bf16 store, resume and refusals do what they say.
"""

from __future__ import annotations

import pytest
import torch

from infoprompt.config import train_config_from_settings
from infoprompt.data.example import Example
from infoprompt.data.tasks import get_task
from infoprompt.errors import ConfigError
from infoprompt.methods import build_method
from infoprompt.prompting.template import collate
from infoprompt.readout import read_out
from infoprompt.testing import make_tiny_backbone, tiny_family_backbone
from infoprompt.training.config import TrainerConfig
from infoprompt.training.optim import make_optimizer
from infoprompt.training.steps import train_step

EXAMPLES = [Example("a great movie with a wonderful cast", label=1), Example("a terrible film , boring", label=0),
            Example("fun", label=1)]


@pytest.fixture(scope="module")
def encoders(bert_tokenizer, roberta_tokenizer):
    return {key: tiny_family_backbone(key, bert_tokenizer, roberta_tokenizer) for key in ("bert", "bert-mlm", "roberta-mlm")}


def batch_for(method, examples=EXAMPLES):
    return collate(method.make_template(48).encode(examples), method.backbone_info.tokenizer.pad_token_id)


def late(backbone, **options):
    torch.manual_seed(0)
    return build_method("late", backbone, get_task("sst2"), {"n_prompts": 2, **options})


def free_read(method, batch):
    """The full model on the prompt-free inputs (no split): what Φ(X) was before --prompt-layer."""
    sub = {"attention_mask": batch["free_attention_mask"], "mask_pos": batch["free_mask_pos"],
           "token_type_ids": batch["free_token_type_ids"]}
    return method.family.read(method.backbone, method.word_embeddings(batch["free_ids"]), sub, method.readout,
                              share_prefix=False)


class LayerCalls:
    """Counts calls of each backbone layer and whether its output carried gradient."""

    def __init__(self, method):
        self.calls, self.grad = [], []
        stack = method.family._layer_owner(method.backbone)[2]
        self.handles = [layer.register_forward_hook(self._hook(i)) for i, layer in enumerate(stack)]
        self.calls, self.grad = [0] * len(stack), [set() for _ in stack]

    def _hook(self, i):
        def hook(module, args, output):
            out = output[0] if isinstance(output, tuple) else output
            self.calls[i] += 1
            self.grad[i].add(out.requires_grad)
        return hook

    def remove(self):
        for handle in self.handles:
            handle.remove()


@pytest.mark.parametrize("key", ["bert", "bert-mlm", "roberta-mlm"])
@pytest.mark.parametrize("k", [1, 2])
def test_split_without_prompt_is_the_full_model(encoders, key, k):
    method = late(encoders[key], prompt_layer=k).eval()
    batch = batch_for(method)
    expected = free_read(method, batch)
    got = method.split.read(batch, None)
    assert torch.equal(got.z, expected.z) and torch.equal(got.first, expected.first)


def test_prompt_position_is_arithmetic_only_and_mean_text_skips_it(encoders):
    """Above the embeddings an encoder layer is blind to position: prompts after the first token or at the end
    give the same states; `mean-text` averages the input's own tokens only."""
    method = late(encoders["bert"], prompt_layer=2, readout="mean-text").eval()
    batch = batch_for(method, EXAMPLES[:1])  # one row: no padding, so the end is the end
    lower, attention = method.split.lower(batch)
    prompts = torch.randn(1, 2, lower.shape[-1])
    family, model = method.family, method.backbone
    hidden = {}

    def keep(module, args, output):
        hidden["last"] = output.last_hidden_state

    handle = family.body(model).register_forward_hook(keep)
    z = method.split.read_states(lower, attention, batch, prompts).z
    after_first = hidden["last"]
    at_end = torch.cat([lower, prompts], 1)
    mask = torch.ones(1, at_end.shape[1], dtype=torch.long)
    index = torch.full_like(mask, -1)
    index[0, -2:] = torch.arange(2)
    layout = {"attention_mask": mask, "mask_pos": batch["free_mask_pos"], "prompt_index": index,
              "token_type_ids": torch.zeros_like(mask)}
    z_end = family.upper_read(model, at_end, layout, 2, "mean-text").z
    handle.remove()
    assert torch.allclose(z, z_end, atol=1e-5)
    text = torch.cat([after_first[:, :1], after_first[:, 3:]], 1)  # prompts sit at positions 1, 2
    assert torch.allclose(z, read_out("mean-text", text, torch.ones(1, text.shape[1]), batch["free_mask_pos"]),
                          atol=1e-6)
    assert not torch.allclose(z, method.split.read_states(lower, attention, batch, None).z, atol=1e-4)  # prompts act


@pytest.mark.parametrize("generator", ["naive", "pooling"])
def test_no_gradient_below_k_and_cached_epochs_skip_the_lower_layers(encoders, generator):
    method = late(encoders["bert-mlm"], prompt_layer=2, late_generator=generator)
    batch = batch_for(method)
    params = [p for p in method.parameters() if p.requires_grad]
    config = TrainerConfig(lr=1e-2)
    optimizer = make_optimizer(params, config)
    method.train()
    calls = LayerCalls(method)
    train_step(method, batch, optimizer, params, config)
    assert calls.calls[0] == 1 and calls.grad[0] == {False} and True in calls.grad[1]  # layer 1 once, no gradient
    before = {n: p.detach().clone() for n, p in method.generator.named_parameters()}
    upper = calls.calls[1]
    train_step(method, batch, optimizer, params, config)
    calls.remove()
    assert calls.calls == [1, upper + 1]  # epoch 2: layer 1 never runs
    assert any(not torch.equal(p, before[n]) for n, p in method.generator.named_parameters())  # the generator learns
    report = method.run_report()["late"]["lower_cache"]
    assert report["rows"] == 3 and report["misses"] == 3 and report["hits"] == 3


def test_budget_fallback_recomputes_and_says_so(encoders):
    roomy = late(encoders["bert"], prompt_layer=2).eval()
    batch = batch_for(roomy)
    expected = roomy(batch).logits
    one_row = roomy.split.cache.nbytes / 3 / 2**20 * 1.5  # room for one row of three (they differ in length)
    tight = late(encoders["bert"], prompt_layer=2, late_cache_mb=one_row).eval()
    first = tight(batch).logits
    calls = LayerCalls(tight)
    second = tight(batch).logits
    calls.remove()
    report = tight.run_report()["late"]["lower_cache"]
    assert report["rows"] >= 1 and report["rows_past_budget"] == 3 - report["rows"]
    assert report["recomputed_past_budget"] == report["rows_past_budget"] and calls.calls[0] == 1
    assert report["mib"] <= report["budget_mib"]
    assert torch.allclose(first, expected, atol=1e-6) and torch.allclose(second, expected, atol=1e-6)


def test_bf16_store_halves_the_cache_and_stays_close(encoders):
    exact = late(encoders["bert"], prompt_layer=2).eval()
    half = late(encoders["bert"], prompt_layer=2, late_cache_dtype="bf16").eval()
    batch = batch_for(exact)
    a, b = exact(batch).logits, half(batch).logits  # both from freshly computed states on their first pass
    a2, b2 = exact(batch).logits, half(batch).logits  # the second pass reads the store
    assert torch.equal(a, a2) and torch.equal(a, b)  # a miss serves the fresh states, not the rounded ones
    assert half.split.cache.nbytes * 2 == exact.split.cache.nbytes
    assert all(v.dtype == torch.bfloat16 for v in half.split.cache.to_tensors().values())
    assert torch.allclose(b2, a2, atol=5e-2) and not torch.equal(b2, a2)


def test_resume_round_trip_reuses_the_same_bits(encoders):
    method = late(encoders["bert"], prompt_layer=2).eval()
    batch = batch_for(method)
    expected = method(batch).logits
    state = method.export_run_state()
    assert len(state) == 3 and all(k.startswith("lower_cache.") for k in state)
    fresh = late(encoders["bert"], prompt_layer=2).eval()
    fresh.load_state_dict(method.state_dict())
    fresh.import_run_state(state)
    calls = LayerCalls(fresh)
    got = fresh(batch).logits
    calls.remove()
    assert calls.calls[0] == 0 and torch.equal(got, expected)
    fresh.clear_run_state()
    assert len(fresh.split.cache) == 0


def test_backbone_dropout_on_recomputes_every_step(bert_tokenizer):
    backbone = make_tiny_backbone("bert", bert_tokenizer, mlm=False)
    backbone.model.train()  # what --backbone-dropout on leaves
    method = late(backbone, prompt_layer=2)
    assert method.split.cache is None and "off" in method.run_report()["late"]["lower_cache"]
    method.train()
    calls = LayerCalls(method)
    method(batch_for(method))
    method(batch_for(method))
    calls.remove()
    assert calls.calls[0] == 2 and calls.grad[0] == {False}


@pytest.mark.parametrize("name", ["idpg", "infoprompt"])
def test_idpg_and_infoprompt_at_layer_k(encoders, name):
    backbone = encoders["bert-mlm"]
    torch.manual_seed(0)
    default = build_method(name, backbone, get_task("sst2"), {"n_prompts": 2}).eval()
    assert default.split is None  # no --prompt-layer: today's code path
    torch.manual_seed(0)
    at_one = build_method(name, backbone, get_task("sst2"), {"n_prompts": 2, "prompt_layer": 1}).eval()
    torch.manual_seed(0)
    at_two = build_method(name, backbone, get_task("sst2"), {"n_prompts": 2, "prompt_layer": 2}).eval()
    batch = batch_for(default)
    p_default, z_default = default.prompt_free(batch)
    for method in (at_one, at_two):  # Φ(X) from the cached stack is the full prompt-free pass, bit for bit
        p_free, z_free = method.prompt_free(batch)
        assert torch.equal(p_free, p_default) and torch.equal(z_free, z_default)
    calls = LayerCalls(at_two)
    logits = at_two(batch).logits
    calls.remove()
    assert calls.calls[0] == 0 and calls.calls[1] >= 1  # the prompted pass runs only layer 2, on the cache
    assert not torch.allclose(logits, default(batch).logits)
    assert any(k.startswith("lower_cache.") for k in at_two.export_run_state())
    assert at_two.run_report()["late"]["prompt_layer"] == 2


def test_refusals_are_one_line(encoders, bert_tokenizer, roberta_tokenizer):
    for key, why in (("llama", "causal family: label scoring"), ("t5", "seq2seq family: T5's first encoder block")):
        backbone = tiny_family_backbone(key, bert_tokenizer, roberta_tokenizer)
        for name, options in (("late", {}), ("idpg", {"prompt_layer": 1})):
            with pytest.raises(ConfigError, match=why) as caught:
                build_method(name, backbone, get_task("sst2"), {"n_prompts": 2, **options})
            assert "\n" not in str(caught.value)
    with pytest.raises(ConfigError, match=r"--prompt-layer must be in 1\.\.2"):
        late(encoders["bert"], prompt_layer=3)
    with pytest.raises(ConfigError, match="--prompt-layer must be >= 1"):
        late(encoders["bert"], prompt_layer=0)
    with pytest.raises(ConfigError, match="--late-cache-dtype"):
        late(encoders["bert"], late_cache_dtype="int8")
    with pytest.raises(ConfigError, match="--late-generator"):
        late(encoders["bert"], late_generator="deep")


def test_options_reach_the_schema():
    cfg = train_config_from_settings({"method": "late", "task": "sst2", "prompt_layer": 3, "late_generator": "pooling",
                                     "late_cache_mb": 64, "late_cache_dtype": "bf16"})
    method_config = cfg.method_config()
    assert (method_config.prompt_layer, method_config.late_generator, method_config.late_cache_mb,
            method_config.late_cache_dtype) == (3, "pooling", 64, "bf16")
    assert method_config.layout == "prefix"
