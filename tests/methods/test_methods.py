import pytest
import torch

from infoprompt.data.example import Example
from infoprompt.data.tasks import get_task
from infoprompt.errors import ConfigError
from infoprompt.methods import build_method, list_methods
from infoprompt.prompting.template import Template, collate
from infoprompt.testing import make_tiny_backbone

EXAMPLES = [Example("a great movie", label=1), Example("a terrible film , boring and long", label=0),
            Example("the plot is thin but fun", label=1), Example("boring", label=0)]
PAIRS = [Example("one two three", "three two one", label=0), Example("hello world", "hello world", label=1)]


def batch_for(method, backbone, examples):
    template = Template(backbone.tokenizer, method.config.n_prompts, layout=method.config.layout, max_length=64)
    return collate(template.encode(examples), backbone.tokenizer.pad_token_id)


@pytest.mark.parametrize("name", ["prompt", "warp", "idpg", "infoprompt"])
@pytest.mark.parametrize("task_name, examples", [("sst2", EXAMPLES), ("rte", PAIRS)])
def test_forward_backward_trains_only_the_method(tiny_backbone, name, task_name, examples):
    method = build_method(name, tiny_backbone, get_task(task_name), {"n_prompts": 4})
    method.train()
    assert not method.backbone.training  # dropout policy "off" survives .train()
    out = method(batch_for(method, tiny_backbone, examples))
    assert out.logits.shape == (len(examples), 2)
    assert set(out.losses) >= {"pred"}
    out.total().backward()
    assert all(p.grad is None for p in method.backbone.parameters())
    trainable = [p for p in method.parameters() if p.requires_grad]
    assert trainable and all(p.grad is not None for n, p in method.named_parameters() if p.requires_grad and "f_sigma" not in n)
    assert method.num_trainable_parameters() == sum(p.numel() for p in trainable)


def test_registry_lists_the_four_methods():
    assert {"prompt", "warp", "idpg", "infoprompt"} <= set(list_methods())
    with pytest.raises(ConfigError, match="unknown method 'lora2'"):
        build_method("lora2", None, get_task("sst2"))


def test_infoprompt_losses_and_ablations(tiny_bert):
    batch = batch_for(build_method("infoprompt", tiny_bert, get_task("sst2")), tiny_bert, EXAMPLES)
    full = build_method("infoprompt", tiny_bert, get_task("sst2")).train()
    assert set(full(batch).losses) == {"pred", "rep", "head", "kl"}
    no_head = build_method("infoprompt", tiny_bert, get_task("sst2"), {"gamma": 0.0}).train()
    assert set(no_head(batch).losses) == {"pred", "rep", "kl"} and no_head.head_score is None
    no_rep = build_method("infoprompt", tiny_bert, get_task("sst2"), {"beta": 0.0}).train()
    assert set(no_rep(batch).losses) == {"pred", "head", "kl"} and no_rep.rep_score is None
    no_mi = build_method("infoprompt", tiny_bert, get_task("sst2"), {"beta": 0.0, "gamma": 0.0, "kl_weight": 0.0}).train()
    out = no_mi(batch)
    assert set(out.losses) == {"pred"}
    assert out.total().item() == pytest.approx(out.losses["pred"].item())


@pytest.mark.parametrize("term", ["rep", "head"])
def test_mi_terms_reach_the_generator(tiny_bert, term):
    method = build_method("infoprompt", tiny_bert, get_task("sst2"), {"nce_clamp": None}).train()
    loss = method(batch_for(method, tiny_bert, EXAMPLES)).losses[term]
    loss.backward()
    grads = [p.grad for p in method.generator.parameters()]
    assert all(g is not None for g in grads) and sum(g.abs().sum() for g in grads) > 0
    if term == "head":
        assert method.head.class_embeddings.grad.abs().sum() > 0  # θ is the head's class embeddings


def test_prompt_free_pass_is_cached_and_exact(tiny_bert):
    method = build_method("idpg", tiny_bert, get_task("sst2")).eval()
    batch = batch_for(method, tiny_bert, EXAMPLES)
    calls = []
    hook = method.backbone.register_forward_hook(lambda *a: calls.append(1))
    first = method(batch).logits
    second = method(batch).logits
    assert len(calls) == 3 and len(method.cache) == len(EXAMPLES)  # 2 passes, then 1 prompted pass only
    uncached = build_method("idpg", tiny_bert, get_task("sst2"), {"cache_prompt_free": False}).eval()
    uncached.load_state_dict(method.state_dict())
    assert torch.equal(first, second) and torch.allclose(uncached(batch).logits, first, atol=1e-6)
    hook.remove()


def test_readout_auto_follows_the_mlm_head(bert_tokenizer):
    mlm = make_tiny_backbone("bert", bert_tokenizer, mlm=True)
    plain = make_tiny_backbone("bert", bert_tokenizer, mlm=False)
    assert build_method("warp", mlm, get_task("sst2")).readout == "mask"
    assert build_method("warp", plain, get_task("sst2")).readout == "mean-text"
    assert build_method("warp", plain, get_task("sst2"), {"readout": "cls"}).readout == "cls"


@pytest.mark.parametrize("bad, match", [({"n_prompts": 0}, "n-prompts"), ({"beta": -1.0}, "beta"),
                                        ({"gamma": -0.1}, "gamma"), ({"head_negatives": "x"}, "head-negatives")])
def test_invalid_configs(tiny_bert, bad, match):
    with pytest.raises(ConfigError, match=match):
        build_method("infoprompt", tiny_bert, get_task("sst2"), bad)


def test_class_embeddings_start_at_verbalizer_words(tiny_bert):
    method = build_method("warp", tiny_bert, get_task("sst2"))
    emb = tiny_bert.input_embeddings.weight
    great = tiny_bert.tokenizer(" great", add_special_tokens=False)["input_ids"]
    assert torch.allclose(method.head.class_embeddings[1], emb[great].mean(0))
