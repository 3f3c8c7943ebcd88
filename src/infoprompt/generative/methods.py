"""Prompt tuning on generative backbones: Lester prompts (and WARP-style slots) scored by label likelihood.

`gen-prompt`: np free prompt vectors prepended to the input embeddings (causal LM: right after BOS
when the tokenizer adds one; T5: the first encoder inputs), as in Lester et al. 2021 and XPrompt.
`gen-warp`: the same parameters in three slots (before the text, before the cue, after the cue).
Both read out through `LabelScorer` (generative/scoring.py) and keep the base class's
`mask_prompts` seam, so XPrompt's masks act on them exactly as on encoder prompts.

Training loss (`gen_loss`): `ce` (default) = cross-entropy over the C label scores (rank
classification: the gold label must out-score the others); `lm` = the LM loss of the gold
verbalizer, its mean per-token NLL (XPrompt's max log p(Y | [P; X])); `both` = their sum.
`infoprompt train --method prompt|warp` on a causal or seq2seq backbone picks these methods.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from infoprompt.errors import ConfigError, check_settings
from infoprompt.generative.formats import task_format
from infoprompt.generative.scoring import SCORES, LabelScorer
from infoprompt.generative.template import GenerativeTemplate
from infoprompt.methods.base import (
    Capability,
    MethodConfig,
    MethodOutput,
    PromptMethod,
    method_classes,
    register_method,
)

GEN_LOSSES = ("ce", "lm", "both")
# What `--method` means on a generative backbone.
GENERATIVE_METHODS = {"prompt": "gen-prompt", "warp": "gen-warp", "gen-prompt": "gen-prompt", "gen-warp": "gen-warp"}


@dataclass
class GenPromptConfig(MethodConfig):
    layout: str = "prefix"
    seed: int = 0  # draws the vocabulary tokens the prompt starts from
    label_score: str = "mean"  # mean (length-normalised) | sum log-likelihood of each label string
    gen_loss: str = "ce"  # ce | lm | both (see module docstring)

    def validate(self) -> None:
        super().validate()
        check_settings([
            (self.label_score in SCORES, f"--label-score must be one of {SCORES}, got '{self.label_score}'"),
            (self.gen_loss in GEN_LOSSES, f"--gen-loss must be one of {GEN_LOSSES}, got '{self.gen_loss}'"),
            (self.readout == "auto", "--readout does not apply to generative backbones (labels are scored by "
                                     "their likelihood)"),
        ])


@dataclass
class GenWarpConfig(GenPromptConfig):
    layout: str = "warp"


class GenerativePromptMethod(PromptMethod):
    """Free prompts P (np, D) in the slots of a text-to-text template; logits = label log-likelihoods."""

    default_layout = "prefix"
    capabilities = Capability.PROMPTS | Capability.FREE_PROMPT | Capability.LABEL_LIKELIHOOD

    def packing_safe(self) -> bool:
        return False  # decoders and T5 run their own forward here, not the packed encoder pass

    def __init__(self, config: GenPromptConfig, backbone, task):
        if backbone.kind not in ("causal", "seq2seq"):
            raise ConfigError(f"method '{self.method_name}' needs a causal or seq2seq backbone; "
                              f"'{backbone.name}' is an encoder (use --method prompt or warp)")
        super().__init__(config, backbone, task)
        self.kind = backbone.kind
        self.readout = f"label-likelihood ({config.label_score})"
        generator = torch.Generator().manual_seed(config.seed)
        self.prompt = nn.Parameter(self.initial_prompts(config.n_prompts, generator))
        template = self.make_template()
        self.scorer = LabelScorer(self.kind, [template.answer_ids(w) for w in task.verbalizer], template.pad_id)

    def make_template(self, max_length: int = 256) -> GenerativeTemplate:
        return GenerativeTemplate(self.backbone_info.tokenizer, self.config.n_prompts, kind=self.kind,
                                  fmt=task_format(self.task), layout=self.config.layout, max_length=max_length)

    def prompts(self, batch: dict) -> torch.Tensor:
        """(B, np, D): the same prompt for every example, after any pruning mask."""
        return self.mask_prompts(self.prompt.unsqueeze(0).expand(batch["input_ids"].shape[0], -1, -1))

    def embed(self, batch: dict) -> torch.Tensor:
        """Input embeddings with the prompts in their slots (B, L, D)."""
        embeds = self.word_embeddings(batch["input_ids"])
        slot = batch["prompt_index"]
        prompts = self.prompts(batch)
        rows = torch.arange(embeds.shape[0], device=embeds.device).unsqueeze(1).expand_as(slot)
        placed = prompts[rows, slot.clamp(min=0)]
        return torch.where((slot >= 0).unsqueeze(-1), placed.to(embeds.dtype), embeds)

    def forward(self, batch: dict) -> MethodOutput:
        scores = self.scorer(self.backbone, self.embed(batch), batch["attention_mask"])
        logits = scores.logits(self.config.label_score)
        losses, weights = {}, {}
        if "labels" in batch:
            if self.config.gen_loss in ("ce", "both"):
                losses["pred"], weights["pred"] = F.cross_entropy(logits, batch["labels"]), 1.0
            if self.config.gen_loss in ("lm", "both"):
                losses["lm"], weights["lm"] = scores.gold_nll(batch["labels"]), 1.0
        return MethodOutput(logits, losses, weights)


@register_method("gen-prompt", GenPromptConfig, listed=False)
class GenPromptTuning(GenerativePromptMethod):
    """Lester prompt tuning on a causal or seq2seq LM."""


@register_method("gen-warp", GenWarpConfig, listed=False)
class GenWarp(GenerativePromptMethod):
    """WARP-style slots on a causal or seq2seq LM (no class-embedding head: labels are scored by the LM)."""


def method_for_backbone(name: str, config: MethodConfig, backbone) -> tuple[str, MethodConfig]:
    """The registered method to build for `--method name` on this backbone, with its config.

    On a generative backbone `prompt`/`warp` become `gen-prompt`/`gen-warp` (their options carry
    over); methods that need an encoder's hidden states are refused with a one-line error.
    """
    kind = getattr(backbone, "kind", "encoder")
    if kind == "encoder":
        if name.startswith("gen-"):
            raise ConfigError(f"method '{name}' needs a causal or seq2seq backbone; '{backbone.name}' is an encoder")
        return name, config
    if name not in GENERATIVE_METHODS:
        raise ConfigError(f"method '{name}' needs an encoder backbone; on the {kind} backbone '{backbone.name}' "
                          "use --method prompt or warp")
    target = GENERATIVE_METHODS[name]
    config_cls, _ = method_classes(target)
    return target, config if isinstance(config, config_cls) else config_cls.from_dict(config.to_dict())
