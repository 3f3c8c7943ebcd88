"""One cell of the method x family matrix (test_matrix.py, and the new-method proof): the cells come from
the methods registry (each entry's `test_options` and `test_variants`), the checks are the same for all."""

from __future__ import annotations

import torch

from infoprompt.api import load
from infoprompt.data.example import Example
from infoprompt.data.tasks import get_task
from infoprompt.methods import METHODS, Capability, build_method
from infoprompt.prompting.template import collate
from infoprompt.pruning import importance_scores
from infoprompt.training.checkpoint import load_tensors, save_checkpoint
from infoprompt.training.config import TrainerConfig
from infoprompt.training.optim import make_optimizer
from infoprompt.training.steps import train_step

EXAMPLES = [Example("a great movie with a wonderful cast", label=1), Example("a terrible film , boring and long", label=0),
            Example("the plot is thin but fun", label=1), Example("this is negative", label=0)]


def matrix_cells() -> dict[str, tuple[str, dict]]:
    """Cell name -> (method, options): one cell per offered method with test options, plus its variants."""
    cells = {}
    for entry in METHODS.ordered():
        if not entry.listed or entry.test_options is None:
            continue
        cells[entry.name] = (entry.name, dict(entry.test_options))
        for suffix, extra in entry.test_variants.items():
            cells[f"{entry.name}-{suffix}"] = (entry.name, {**entry.test_options, **extra})
    return cells


def build_cell(method_name: str, options: dict, backbone):
    return build_method(method_name, backbone, get_task("sst2"), {"n_prompts": 3, **options})


def check_cell(method_name: str, options: dict, backbone, tmp_path, folded: bool = False) -> None:
    """Two training steps change only trainable tensors (and some of them); the checkpoint holds exactly the
    trainable tensors, own buffers and a tuned baseline's frozen slot vectors; save -> load gives bit-identical
    logits and `predict` works; XPrompt's masker prunes a token of a prunable method."""
    torch.manual_seed(0)
    method = build_cell(method_name, options, backbone)
    template = method.make_template(48)
    features = template.encode(EXAMPLES)
    batch = collate(features, backbone.tokenizer.pad_token_id)

    # two training steps change only trainable tensors
    before = {n: p.detach().clone() for n, p in method.named_parameters()}
    pristine = {n: p.detach().clone() for n, p in backbone.model.named_parameters()}
    trainable = {n for n, p in method.named_parameters() if p.requires_grad}
    params = [p for p in method.parameters() if p.requires_grad]
    config = TrainerConfig(lr=1e-2)
    optimizer = make_optimizer(params, config)
    method.train()
    for _ in range(2):
        train_step(method, batch, optimizer, params, config)
    changed = {n for n, p in method.named_parameters() if not torch.equal(p, before[n])}
    assert changed and changed <= trainable
    assert all(torch.equal(p, pristine[n]) for n, p in backbone.model.named_parameters())  # the given model is pristine

    # the checkpoint holds exactly the trainable tensors (plus own buffers and frozen slot vectors), with their values
    method.eval()
    expected = method(batch).logits
    save_checkpoint(tmp_path, method, {"template": {"max_length": 48, "layout": method.config.layout}})
    saved = load_tensors(tmp_path)
    extras = {n for n, _ in method.named_buffers() if not n.startswith("backbone.")}
    if not method.capabilities & Capability.PRUNABLE and hasattr(method, "prompt"):
        extras.add("prompt")  # a tuned baseline's frozen slot vectors (late has none)
    folded_state = method.checkpoint_state()[0] if folded else {}
    if folded_state:
        trainable = {n for n in trainable if not n.startswith("reparam.")}
    assert set(saved) == trainable | extras
    current = {**dict(method.named_parameters()), **dict(method.named_buffers()), **folded_state}
    assert all(torch.equal(saved[n], current[n].detach()) for n in saved)

    # save -> load: bit-identical logits; predict works
    loaded = load(tmp_path, backbone)
    assert torch.equal(loaded.method(batch).logits, expected)
    assert loaded.predict_examples(EXAMPLES) == expected.argmax(-1).tolist()

    # XPrompt prunes every prompt method: importance per token, and a pruned token changes the logits
    if method.capabilities & Capability.PRUNABLE:
        masker = method.attach_prompt_masker(pieces=2)
        scores = importance_scores(method, features, "token", batch_size=4)
        assert scores.shape == (3,) and torch.isfinite(scores).all()
        masker.token_mask[int(scores.argmin())] = 0.0
        with torch.no_grad():
            pruned = method(batch).logits
        assert torch.isfinite(pruned).all() and not torch.equal(pruned, expected)
