"""Where the prompts under analysis come from: random tokens, a handcrafted text, or a checkpoint.

A source is named by a string, the same in the CLI and the API:
- `random`: np vocabulary-token embeddings drawn afresh for every input (the distribution then
  covers prompt draws as well as inputs); the draw is `MethodConfig.prompt_init="vocab"`'s.
- `text:<words>`: the embeddings of the words' tokens, repeated to fill np slots in order, as
  `--prompt-init text:<words>` does. Every prompt sits in the WARP template's slots, as the paper
  placed all prompts for its Fig. 1 ("we follow WARP to position the prompt tokens").
- anything else: a checkpoint directory (warp, idpg, infoprompt, ...; any method declaring
  `Capability.PROMPTS`); its own template and readout are used and its prompts are
  `method.prompts(batch)` (input-dependent for idpg/infoprompt).
Every source's method and template come from `infoprompt.run.assemble_run`, as in training.
`LABEL=SPEC` names a source in plots and tables (LABEL may not contain '/').
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from infoprompt.backbones import Backbone
from infoprompt.data.tasks import TaskSpec
from infoprompt.errors import ConfigError
from infoprompt.methods import Capability, PromptMethod
from infoprompt.prompting.template import Template
from infoprompt.run import assemble_run
from infoprompt.training.checkpoint import read_checkpoint_config

# Handcrafted prompts of the paper's Fig. 1, per task.
HANDCRAFTED = {
    "sst2": ["this is positive", "this is negative"],
    "mrpc": ["it is equivalent to", "has the same meaning"],
}


@dataclass
class PromptSource:
    """A prompt method to encode with, its template, and how to get base prompts for a batch."""

    label: str
    spec: str
    method: PromptMethod
    template: Template
    base_prompts: Callable[[dict, int], torch.Tensor]  # (batch, first input index) -> (B, np, D)


def split_label(spec: str) -> tuple[str | None, str]:
    """'LABEL=SPEC' -> (LABEL, SPEC); a bare spec -> (None, spec)."""
    if not spec.startswith("text:") and "=" in spec:
        label, rest = spec.split("=", 1)
        if label and "/" not in label and rest:
            return label, rest
    return None, spec


def is_checkpoint_spec(spec: str) -> bool:
    return spec != "random" and not spec.startswith("text:")


def _saved_config(spec: str) -> dict:
    if not Path(spec).is_dir():
        raise ConfigError(f"prompt source '{spec}': not 'random', 'text:<words>', or a checkpoint directory")
    return read_checkpoint_config(spec)


def default_label(spec: str) -> str:
    if spec == "random":
        return "random"
    if spec.startswith("text:"):
        return f"'{spec[5:]}'"
    return _saved_config(spec)["method"]


def checkpoint_task(specs: list[str]) -> TaskSpec | None:
    """The task of the first checkpoint among the specs (None if there is none)."""
    for raw in specs:
        spec = split_label(raw)[1]
        if is_checkpoint_spec(spec):
            return TaskSpec.from_dict(_saved_config(spec)["task"])
    return None


def checkpoint_backbone(specs: list[str]) -> str | None:
    for raw in specs:
        spec = split_label(raw)[1]
        if is_checkpoint_spec(spec):
            return _saved_config(spec)["backbone"]["name"]
    return None


def checkpoint_data_dir(specs: list[str]) -> str | None:
    """The data folder the first checkpoint was trained from, if it still exists."""
    for raw in specs:
        spec = split_label(raw)[1]
        if is_checkpoint_spec(spec):
            saved = _saved_config(spec).get("data_dir")
            return saved if saved and Path(saved).is_dir() else None
    return None


def build_sources(specs: list[str], backbone: Backbone, task: TaskSpec, *, n_prompts: int | None,
                  readout: str, max_length: int = 128, seed: int = 0) -> list[PromptSource]:
    """Turn source strings into PromptSources that agree on np and readout (else ConfigError)."""
    from infoprompt.api import TrainConfig, load

    if not specs:
        raise ConfigError("no prompt sources given (random, text:<words>, or checkpoint directories)")
    loaded, fixed = [], []
    for raw in specs:
        label, spec = split_label(raw)
        label = label or default_label(spec)
        if not is_checkpoint_spec(spec):
            fixed.append((len(loaded) + len(fixed), label, spec))
            continue
        model = load(spec, backbone)
        if model.task.name != task.name:
            raise ConfigError(f"{spec}: checkpoint is for task '{model.task.name}', not '{task.name}'")
        method = model.method
        if Capability.PROMPTS not in method.capabilities:
            raise ConfigError(f"{spec}: method '{method.method_name}' has no prompt tokens to analyse")
        loaded.append((len(loaded) + len(fixed), label, spec, model))
    n_prompts, readout = _agree(loaded, n_prompts, readout)
    sources: list[tuple[int, PromptSource]] = []
    for order, label, spec, model in loaded:
        method = model.method.eval()
        sources.append((order, PromptSource(label, spec, method, model.template,
                                            lambda batch, first, m=method: m.prompts(batch))))
    for order, label, spec in fixed:
        run = assemble_run(TrainConfig(method="warp", n_prompts=n_prompts, readout=readout, seed=seed,
                                       max_length=max_length, backbone=backbone.name,
                                       method_options={"prompt_init": "vocab" if spec == "random" else spec}),
                           backbone=backbone, task=task, splits=())
        method, template = run.method.eval(), run.template
        if spec == "random":
            base = _random_prompts(method, n_prompts, seed)
        else:
            base = _fixed_prompts(method)
        sources.append((order, PromptSource(label, spec, method, template, base)))
    labels = [s.label for _, s in sources]
    duplicates = sorted({x for x in labels if labels.count(x) > 1})
    if duplicates:
        raise ConfigError(f"two prompt sources are labelled {duplicates[0]!r}; name them with LABEL=SPEC")
    return [s for _, s in sorted(sources, key=lambda pair: pair[0])]


def _agree(loaded: list, n_prompts: int | None, readout: str) -> tuple[int, str]:
    """All sources must share np and readout, or their CMIs are not comparable."""
    for _, _, spec, model in loaded:
        got_np, got_readout = model.method.config.n_prompts, model.method.readout
        if n_prompts is not None and got_np != n_prompts:
            raise ConfigError(f"{spec}: checkpoint has {got_np} prompt tokens, the other sources {n_prompts}")
        if readout != "auto" and got_readout != readout:
            raise ConfigError(f"{spec}: checkpoint reads Z with '{got_readout}', the other sources with '{readout}'")
        n_prompts, readout = got_np, got_readout
    return (4 if n_prompts is None else n_prompts), readout


def _random_prompts(method: PromptMethod, n_prompts: int, seed: int):
    def base(batch: dict, first: int) -> torch.Tensor:
        rows = []
        for i in range(batch["input_ids"].shape[0]):
            # A stream of its own: the CMI's perturbations use seed * 1_000_003 + input index.
            gen = torch.Generator().manual_seed(seed * 1_000_003 + first + i + 500_000_000)
            rows.append(method.initial_prompts(n_prompts, gen))
        return torch.stack(rows)

    return base


def _fixed_prompts(method: PromptMethod):
    def base(batch: dict, first: int) -> torch.Tensor:
        return method.prompts(batch)

    return base
