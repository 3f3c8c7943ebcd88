"""What every method shares: a config dataclass, a registry, and the frozen prompted encoder.

A method is an `nn.Module` whose `forward(batch)` returns a `MethodOutput`: logits plus a dict of
named loss terms and their weights. The training loop sums `weight * term` and logs every term; it
never asks which method it runs. What a method offers beyond that is declared in its class-level
`capabilities` (a `Capability` flag set), which callers read instead of probing attributes.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, fields
from typing import ClassVar

import torch
from torch import nn

from infoprompt.backbones import Backbone
from infoprompt.data.tasks import TaskSpec
from infoprompt.errors import ConfigError
from infoprompt.methods.prompt_masks import PromptMasker
from infoprompt.packing import Packer
from infoprompt.prompting.template import Template
from infoprompt.readout import read_out, resolve_readout


@dataclass
class MethodConfig:
    """Options shared by the prompt methods. Subclasses add their own fields."""

    n_prompts: int = 4
    readout: str = "auto"  # auto | mask | mean | cls (see infoprompt.readout)
    prompt_init: str = "vocab"  # vocab (sampled token embeddings) | random | text:<words>
    layout: str = "warp"  # where prompt slots go (see infoprompt.prompting.template)

    def validate(self) -> None:
        if self.n_prompts < 1:
            raise ConfigError(f"--n-prompts must be >= 1, got {self.n_prompts}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> MethodConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown option(s) for this method: {sorted(unknown)}")
        return cls(**data)


@dataclass
class MethodOutput:
    """Logits (B, C) and named loss terms; `weights[name]` multiplies `losses[name]` in the total."""

    logits: torch.Tensor
    losses: dict[str, torch.Tensor]
    weights: dict[str, float]

    def total(self) -> torch.Tensor:
        return sum(self.weights.get(name, 1.0) * value for name, value in self.losses.items())


class Capability(enum.Flag):
    """What a method declares it offers beyond `forward`; commands branch on these, never on attributes."""

    PROMPTS = enum.auto()  # prompts(batch) -> (B, np, D) soft prompts in the template's slots (analysis)
    FREE_PROMPT = enum.auto()  # a trainable prompt matrix `prompt` (np, D) behind `mask_prompts` (prunable)
    GENERATED_PROMPT = enum.auto()  # prompts made by `generator` (a PromptGenerator) behind `mask_prompts` (prunable)
    RUN_STATE = enum.auto()  # export_run_state/clear_run_state hold state that is not a parameter (e.g. a cache)
    RUN_REPORT = enum.auto()  # run_report() adds method-specific facts to the run summary
    LABEL_LIKELIHOOD = enum.auto()  # logits are an LM's label likelihoods, so greedy generation can stand in
    PRUNABLE = FREE_PROMPT | GENERATED_PROMPT  # XPrompt can mask its prompt tokens and pieces


_METHODS: dict[str, tuple[type[MethodConfig], type[PromptMethod]]] = {}
_UNLISTED: set[str] = set()  # built by name, but not for encoders (e.g. gen-prompt, reached via --method prompt)


def register_method(name: str, config_cls: type[MethodConfig], *, listed: bool = True):
    """Class decorator: make a method available by name to the CLI, API and checkpoints.

    `listed=False`: left out of `list_methods()` (the methods every encoder backbone runs)."""

    def wrap(cls):
        cls.method_name = name
        _METHODS[name] = (config_cls, cls)
        if not listed:
            _UNLISTED.add(name)
        return cls

    return wrap


def list_methods() -> list[str]:
    return sorted(set(_METHODS) - _UNLISTED)


def method_classes(name: str) -> tuple[type[MethodConfig], type[PromptMethod]]:
    if name not in _METHODS:
        raise ConfigError(f"unknown method '{name}' (choose from: {', '.join(list_methods())})")
    return _METHODS[name]


def build_method(name: str, backbone: Backbone, task: TaskSpec, config: MethodConfig | dict | None = None) -> PromptMethod:
    """Instantiate a registered method on a backbone for a task."""
    config_cls, method_cls = method_classes(name)
    if config is None:
        config = config_cls()
    elif isinstance(config, dict):
        config = config_cls.from_dict(config)
    config.validate()
    return method_cls(config, backbone, task)


class PromptMethod(nn.Module):
    """Base class: holds the frozen backbone and runs it with prompts scattered into their slots."""

    method_name: ClassVar[str] = "base"
    default_layout: ClassVar[str] = "warp"
    default_lr: ClassVar[float] = 1e-3  # used when the user gives no --lr
    capabilities: ClassVar[Capability] = Capability(0)  # what callers may ask of this method (see Capability)

    def __init__(self, config: MethodConfig, backbone: Backbone, task: TaskSpec):
        super().__init__()
        self.config = config
        self.task = task
        self.backbone = backbone.model
        self.backbone_info = backbone
        self.readout = resolve_readout(config.readout, backbone.has_mlm_head)
        self._backbone_training = backbone.model.training  # the dropout policy chosen at load time
        self.prompt_masker: nn.Module | None = None  # set by pruning (XPrompt) to mask tokens/pieces
        self._packing_mode = "auto"
        self._packer: Packer | None = None

    # -- padding-free batches (infoprompt.packing) ----------------------------------------------
    def packing_safe(self) -> bool:
        """Whether the backbone, as this method runs it, treats tokens independently except in attention,
        so that packed batches are exact. Methods that attach per-row key/value prefixes say no."""
        return True

    def set_packing(self, mode: str) -> None:
        """`auto` (pack wasteful training batches once the self-check passes) or `off` (always padded)."""
        Packer(mode)  # validates
        self._packing_mode, self._packer = mode, None

    @property
    def packer(self) -> Packer:
        if self._packer is None:  # built on first use: a subclass decides packing_safe() after __init__
            self._packer = Packer(self._packing_mode)
            if self._packing_mode == "auto" and not self.packing_safe():
                self._packer.disable(f"not supported by method '{self.method_name}'")
        return self._packer

    # -- the frozen backbone stays in the mode its dropout policy chose -------------------------
    def train(self, mode: bool = True) -> PromptMethod:
        super().train(mode)
        self.backbone.train(self._backbone_training and mode)
        return self

    @property
    def hidden_size(self) -> int:
        return self.backbone_info.hidden_size

    def word_embeddings(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.backbone.get_input_embeddings()(input_ids)

    def initial_prompts(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n, D) starting values: sampled vocabulary embeddings, random normal, or a text's tokens."""
        weight = self.backbone.get_input_embeddings().weight.detach()
        init = self.config.prompt_init
        if init == "vocab":
            ids = torch.randint(1000, weight.shape[0], (n,), generator=generator) if weight.shape[0] > 2000 \
                else torch.randint(0, weight.shape[0], (n,), generator=generator)
            return weight[ids].clone()
        if init == "random":
            return torch.randn(n, weight.shape[1], generator=generator) * weight.std()
        if init.startswith("text:"):
            ids = self.backbone_info.tokenizer(init[5:], add_special_tokens=False)["input_ids"]
            if not ids:
                raise ConfigError(f"--prompt-init '{init}' tokenises to nothing")
            ids = (ids * n)[:n]
            return weight[ids].clone()
        raise ConfigError(f"--prompt-init must be vocab, random or text:<words>, got '{init}'")

    def make_template(self, max_length: int) -> Template:
        """The template this method's batches come from (encoders: the WARP-style slot template)."""
        return Template(self.backbone_info.tokenizer, self.config.n_prompts, layout=self.config.layout,
                        max_length=max_length)

    def attach_prompt_masker(self, pieces: int) -> PromptMasker:
        """Install a fresh all-ones XPrompt masker in the prompt seam (replacing any); needs Capability.PRUNABLE."""
        if not self.capabilities & Capability.PRUNABLE:
            raise ConfigError(f"method '{self.method_name}' has no soft prompt to prune "
                              "(XPrompt applies to methods with a trainable or generated prompt: prompt, warp, "
                              "idpg, infoprompt)")
        masker = PromptMasker(self.config.n_prompts, self.hidden_size, pieces)
        param = next((p for p in self.parameters() if p.requires_grad), None)
        if param is not None:
            masker.to(param.device)
        self.prompt_masker = masker
        return masker

    def mask_prompts(self, prompts: torch.Tensor) -> torch.Tensor:
        """The XPrompt seam: pruning masks act on (B, np, D) prompts of any method."""
        return prompts if self.prompt_masker is None else self.prompt_masker(prompts)

    def encode(self, batch: dict, prompts: torch.Tensor) -> torch.Tensor:
        """Run the backbone on the template with `prompts` (B, np, D) in the slots; return Z (B, D)."""
        embeds = self.word_embeddings(batch["input_ids"])
        slot = batch["prompt_index"]
        rows = torch.arange(embeds.shape[0], device=embeds.device).unsqueeze(1).expand_as(slot)
        placed = prompts[rows, slot.clamp(min=0)]
        embeds = torch.where((slot >= 0).unsqueeze(-1), placed.to(embeds.dtype), embeds)
        token_types = batch["token_type_ids"] if self._uses_token_types() else None
        hidden = self.packer.hidden_states(self.backbone, embeds, batch["attention_mask"], token_types)
        return read_out(self.readout, hidden, batch["attention_mask"], batch["mask_pos"], slot)

    def _uses_token_types(self) -> bool:
        return getattr(self.backbone.config, "type_vocab_size", 0) > 1

    def forward(self, batch: dict) -> MethodOutput:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- what a checkpoint holds ----------------------------------------------------------------
    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """Trainable parameters plus the method's own buffers (e.g. pruning masks); never the backbone."""
        state = {n: p.detach() for n, p in self.named_parameters() if p.requires_grad}
        state.update({n: b for n, b in self.named_buffers() if not n.startswith("backbone.")})
        return state

    def export_run_state(self) -> dict[str, torch.Tensor]:
        """Run-time state that is not a parameter but must survive `--resume` exactly (e.g. caches)."""
        return {}

    def import_run_state(self, tensors: dict[str, torch.Tensor]) -> None:
        """Inverse of `export_run_state`."""

    def clear_run_state(self) -> None:
        """Drop run-time state, so that scores match a freshly loaded checkpoint's (Capability.RUN_STATE)."""

    def run_report(self) -> dict:
        """Method-specific facts for the run summary (Capability.RUN_REPORT), e.g. APET's budget and placement."""
        return {}

    def param_groups(self, base_lr: float, base_wd: float) -> list[dict]:
        """The optimizer's parameter groups (torch.optim dicts of params, lr, weight_decay). The training loop
        builds its optimizer from these, so a method can give part of itself its own decay or rate without
        the loop knowing its parts. Default: every trainable parameter in one group at the run's settings."""
        return [{"params": [p for p in self.parameters() if p.requires_grad], "lr": base_lr, "weight_decay": base_wd}]

    def num_trainable_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)
