"""Generator variants of IDPG/InfoPrompt (issue 17.3): residual mode, generator dropout, generator-only
weight decay through the `param_groups` seam, bottleneck sizes. Each is one flag; the defaults are unchanged."""

import pytest
import torch

from infoprompt.data.example import Example
from infoprompt.data.tasks import get_task
from infoprompt.errors import ConfigError
from infoprompt.methods import build_method
from infoprompt.prompting.template import Template, collate
from infoprompt.training.config import TrainerConfig
from infoprompt.training.optim import make_optimizer

EXAMPLES = [Example("a great movie", label=1), Example("a terrible film , boring and long", label=0),
            Example("the plot is thin but fun", label=1), Example("boring", label=0)]


def batch_for(method, backbone, examples=EXAMPLES):
    template = Template(backbone.tokenizer, method.config.n_prompts, layout=method.config.layout, max_length=64)
    return collate(template.encode(examples), backbone.tokenizer.pad_token_id)


@pytest.mark.parametrize("free", ["warp", "prompt"])
@pytest.mark.parametrize("name", ["idpg", "infoprompt"])
def test_residual_starts_as_plain_prompt_tuning(tiny_bert, name, free):
    """At init the residual generator's prompts are the free method's tokens for the same seed, and on the
    same layout the logits are the free method's (InfoPrompt: with the head reading Z)."""
    task = get_task("sst2")
    layout = "warp" if free == "warp" else "prefix"
    options = {"generator_mode": "residual", "seed": 3, "layout": layout}
    if name == "infoprompt":
        options["classifier_input"] = "z"
    method = build_method(name, tiny_bert, task, options).eval()
    plain = build_method(free, tiny_bert, task, {"seed": 3}).eval()
    batch = batch_for(method, tiny_bert)
    prompts = method.prompts(batch)
    assert torch.equal(prompts, plain.prompt.unsqueeze(0).expand_as(prompts))
    with torch.no_grad():
        assert torch.allclose(method(batch).logits, plain(batch).logits, atol=1e-6)


def test_generated_mode_is_the_default_and_differs_from_the_free_tokens(tiny_bert):
    method = build_method("idpg", tiny_bert, get_task("sst2"), {"seed": 3}).eval()
    assert method.config.generator_mode == "generated"
    prompts = method.prompts(batch_for(method, tiny_bert))
    assert not torch.equal(prompts[0], method.generator.bias)  # the paper's generator adds a random offset at init
    assert not torch.equal(prompts[0], prompts[1])  # and it depends on the input


def test_residual_offset_learns_from_the_first_step(tiny_bert):
    """The zero-initialised output layer gets a gradient at step 0, so the generator can move the prompts
    away from the free tokens; after a step the prompts depend on the input."""
    method = build_method("idpg", tiny_bert, get_task("sst2"), {"generator_mode": "residual"}).train()
    batch = batch_for(method, tiny_bert)
    method(batch).total().backward()
    assert method.generator.up[0].weight.grad.abs().sum() > 0
    assert method.generator.bias.grad.abs().sum() > 0
    torch.optim.SGD(method.param_groups(1.0, 0.0)).step()
    prompts = method.eval().prompts(batch)
    assert not torch.allclose(prompts[0], prompts[1])


def test_generator_dropout_acts_in_training_only(tiny_bert):
    method = build_method("idpg", tiny_bert, get_task("sst2"), {"generator_dropout": 0.5})
    p_free = torch.randn(4, method.hidden_size)
    method.eval()
    assert torch.equal(method.generator(p_free), method.generator(p_free))
    method.train()
    torch.manual_seed(0)
    first = method.generator(p_free)
    assert not torch.equal(first, method.generator(p_free))


def _ids(groups):
    return [sorted(id(p) for p in g["params"]) for g in groups]


@pytest.mark.parametrize("name", ["prompt", "idpg", "infoprompt"])
def test_default_param_groups_are_one_group_at_the_run_settings(tiny_bert, name):
    method = build_method(name, tiny_bert, get_task("sst2"))
    groups = method.param_groups(0.01, 0.2)
    assert len(groups) == 1 and groups[0]["lr"] == 0.01 and groups[0]["weight_decay"] == 0.2
    assert _ids(groups) == [sorted(id(p) for p in method.parameters() if p.requires_grad)]


def test_generator_weight_decay_applies_to_the_offset_network_only(tiny_bert):
    method = build_method("infoprompt", tiny_bert, get_task("sst2"), {"generator_weight_decay": 0.5})
    rest, offset = method.param_groups(1e-3, 0.0)
    names = {id(p): n for n, p in method.named_parameters()}
    assert offset["weight_decay"] == 0.5 and rest["weight_decay"] == 0.0
    assert sorted(names[id(p)] for p in offset["params"]) == sorted(
        n for n, _ in method.named_parameters() if n.startswith(("generator.down", "generator.up")))
    assert "generator.bias" in {names[id(p)] for p in rest["params"]}  # the free tokens are not decayed
    everything = sorted(id(p) for p in method.parameters() if p.requires_grad)
    assert sorted(id(p) for g in (rest, offset) for p in g["params"]) == everything
    optimizer = make_optimizer([rest, offset], TrainerConfig(lr=1e-3))
    assert [g["weight_decay"] for g in optimizer.param_groups] == [0.0, 0.5]


def test_generator_weight_decay_shrinks_only_the_offset(tiny_bert):
    """With zero gradients, AdamW's decoupled decay alone moves the offset network and leaves the rest."""
    method = build_method("idpg", tiny_bert, get_task("sst2"), {"generator_weight_decay": 0.5})
    before = {n: p.detach().clone() for n, p in method.named_parameters() if p.requires_grad}
    optimizer = make_optimizer(method.param_groups(0.1, 0.0), TrainerConfig(lr=0.1))
    for p in method.parameters():
        if p.requires_grad:
            p.grad = torch.zeros_like(p)
    optimizer.step()
    for n, p in method.named_parameters():
        if not p.requires_grad:
            continue
        moved = not torch.equal(p, before[n])
        decays = n.startswith(("generator.down", "generator.up")) and before[n].abs().sum() > 0
        assert moved == bool(decays), n


@pytest.mark.parametrize("bottleneck", [8, 16, 32])
@pytest.mark.parametrize("kind", ["shared", "per_token"])
def test_small_bottlenecks_run(tiny_bert, bottleneck, kind):
    method = build_method("infoprompt", tiny_bert, get_task("sst2"),
                          {"bottleneck": bottleneck, "generator": kind, "generator_mode": "residual"}).train()
    assert all(down.out_features == bottleneck for down in method.generator.down)
    out = method(batch_for(method, tiny_bert))
    out.total().backward()
    assert out.logits.shape == (len(EXAMPLES), 2)
    assert method.generator.up[0].weight.grad.abs().sum() > 0


@pytest.mark.parametrize("bad, match", [
    ({"generator_mode": "both"}, "--generator-mode"),
    ({"generator_dropout": 1.0}, "--generator-dropout"),
    ({"generator_dropout": -0.1}, "--generator-dropout"),
    ({"generator_weight_decay": -1.0}, "--generator-weight-decay"),
])
def test_invalid_generator_options(tiny_bert, bad, match):
    with pytest.raises(ConfigError, match=match):
        build_method("idpg", tiny_bert, get_task("sst2"), bad)


def test_train_flags_reach_the_method(tiny_model_dir, tmp_path, shared_data):
    """The three flags go from the command line to the method and its optimizer; old defaults stay."""
    from infoprompt.cli import main

    out = tmp_path / "run"
    code = main(["train", "--task", "sst2", "--method", "idpg", "--backbone", str(tiny_model_dir), "--data-dir",
                 str(shared_data), "--shots", "8", "--epochs", "1", "--eval-batch-size", "256", "--quiet",
                 "--generator-mode", "residual", "--generator-dropout", "0.1", "--generator-weight-decay", "0.01",
                 "--bottleneck", "16", "--output", str(out)])
    assert code == 0
    import json

    config = json.loads((out / "config.json").read_text())
    options = json.dumps(config)
    for needle in ('"generator_mode": "residual"', '"generator_dropout": 0.1', '"generator_weight_decay": 0.01',
                   '"bottleneck": 16'):
        assert needle in options


def test_head_init_is_one_ablatable_flag(bert_tokenizer):
    """On a backbone with an LM head the class head starts from its verbalizer rows (auto, lm); `words` ablates
    that back to WARP's initialisation; on a bare encoder `lm` is a one-line error."""
    from infoprompt.testing import make_tiny_backbone

    task = get_task("sst2")
    lm = make_tiny_backbone("bert", bert_tokenizer, lm_head=True)
    decoder = lm.model.get_output_embeddings()  # untie it from the input embeddings, so the two inits differ
    with torch.no_grad():
        decoder.weight = torch.nn.Parameter(torch.randn_like(decoder.weight))
        decoder.bias.normal_()
    heads = {init: build_method("infoprompt", lm, task, {"predict": "head", "head_init": init}).head
             for init in ("auto", "lm", "words")}
    method = build_method("warp", lm, task, {"predict": "head"})
    rows, bias = method.family.verbalizer_rows(method.backbone, [c[0] for c in method.candidates])
    assert torch.equal(heads["auto"].class_embeddings, rows) and torch.equal(heads["lm"].class_embeddings, rows)
    assert torch.equal(heads["lm"].bias, bias)
    encoder = make_tiny_backbone("bert", bert_tokenizer, mlm=False)
    words = build_method("warp", encoder, task).head.class_embeddings  # the verbalizer words' input embeddings
    assert torch.equal(heads["words"].class_embeddings, build_method("warp", lm, task, {
        "predict": "head", "head_init": "words"}).head.class_embeddings)
    assert heads["words"].class_embeddings.shape == words.shape and not torch.equal(heads["words"].class_embeddings, rows)
    assert torch.equal(build_method("warp", encoder, task, {"head_init": "words"}).head.class_embeddings, words)
    with pytest.raises(ConfigError, match="--head-init lm needs an LM head"):
        build_method("warp", encoder, task, {"head_init": "lm"})
    with pytest.raises(ConfigError, match="--head-init words sets up the class head"):
        build_method("warp", lm, task, {"predict": "label", "head_init": "words"})
    with pytest.raises(ConfigError, match="--head-init must be one of"):
        build_method("warp", encoder, task, {"head_init": "pretrained"})
