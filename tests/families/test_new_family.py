"""The docs' worked example (docs/families.md): a GPT-2 family in one small class and one registry line."""

import pytest
import torch
from torch import nn

import infoprompt.families as families
from infoprompt.backbones import load_backbone
from infoprompt.data.example import Example
from infoprompt.data.tasks import get_task
from infoprompt.families import ModuleMap
from infoprompt.families.causal import CausalLM
from infoprompt.methods import build_method
from infoprompt.prompting.template import collate


class GPT2Family(CausalLM):
    """GPT-2: a causal LM like Llama, with its own module names (fused c_attn, Conv1D projections, biases)."""

    name = "gpt2"

    @classmethod
    def claims(cls, config) -> bool:
        return getattr(config, "model_type", "") == "gpt2"

    @classmethod
    def claims_model(cls, model: nn.Module) -> bool:
        return cls.claims(model.config)

    def module_map(self, model: nn.Module) -> ModuleMap:
        return ModuleMap(
            attention_output=r".*h\.\d+\.attn\.c_proj", ffn_output=r".*h\.\d+\.mlp\.c_proj",
            query_value=r".*h\.\d+\.attn\.c_attn", layer_norms=r".*h\.\d+\.ln_[12]\.(weight|bias)",
            biases=r".*h\.\d+\..*\.bias", bitfit_preset=r".*h\.\d+\..*\.bias",
        )


@pytest.fixture
def gpt2_registered():
    """The one registry line, `@register_family("gpt2")` (rank 0: asked before the generic causal family);
    dropped again after the test."""
    with families.FAMILIES.scratch():
        families.register_family("gpt2")(GPT2Family)
        yield


@pytest.fixture
def tiny_gpt2(roberta_tokenizer):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(roberta_tokenizer), n_embd=32, n_layer=2, n_head=2, n_positions=128,
                        bos_token_id=roberta_tokenizer.bos_token_id, eos_token_id=roberta_tokenizer.eos_token_id)
    return GPT2LMHeadModel(config).eval()


@pytest.mark.parametrize("method_name", ["prompt", "infoprompt", "adapter", "bitfit", "lora"])
def test_gpt2_family_runs_every_method(gpt2_registered, tiny_gpt2, roberta_tokenizer, method_name):
    backbone = load_backbone("tiny-gpt2", model=tiny_gpt2, tokenizer=roberta_tokenizer)
    assert backbone.family.name == "gpt2"
    method = build_method(method_name, backbone, get_task("sst2"), {"n_prompts": 2})
    features = method.make_template(48).encode([Example("a great movie", label=1), Example("a dull film", label=0)])
    out = method.train()(collate(features, roberta_tokenizer.pad_token_id))
    out.total().backward()
    assert out.logits.shape == (2, 2) and torch.isfinite(out.total())
    assert any(p.grad is not None for p in method.parameters() if p.requires_grad)
