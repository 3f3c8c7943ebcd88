"""What every method shares: a config dataclass and the frozen prompted backbone (the registry: methods/registry.py).

A method is an `nn.Module` whose `forward(batch)` returns a `MethodOutput`: logits plus a dict of
named loss terms and their weights. The training loop sums `weight * term` and logs every term; it
never asks which method it runs. What a method offers beyond that is declared in its class-level
`capabilities` (a `Capability` flag set), which callers read instead of probing attributes.

Everything that depends on the kind of backbone is asked of its family (`infoprompt.families`):
the template, how prompts enter the input embeddings, where Z is read, the LM head's verbalizer
rows and label likelihoods. So every method runs on every family.

Prediction (`--predict`): `head` = the class-embedding head on Z; `label` = the LM's likelihood of
each label's verbalizer at the readout position (families with an LM head, read where the LM
predicts the label word). `auto` = `label` there (DEFAULT_LM_PREDICT, chosen by the measurement in
docs/families.md), `head` everywhere else. On an LM family the head starts from the LM head's
output rows of the labels' first tokens, so at step 0 both predictions agree.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, fields
from typing import ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from infoprompt.backbones import Backbone
from infoprompt.data.spec import TaskSpec
from infoprompt.errors import ConfigError
from infoprompt.families import Reading
from infoprompt.methods.heads import ClassEmbeddingHead
from infoprompt.methods.prompt_masks import PromptMasker
from infoprompt.methods.registry import register_method  # noqa: F401  (method modules take it from here)
from infoprompt.packing import Packer
from infoprompt.schema import check_fields, setting

PREDICTIONS = ("auto", "head", "label")
DEFAULT_LM_PREDICT = "label"  # docs/families.md ("Which prediction by default"): measured against `head` on SmolLM2
SCORES = ("mean", "sum")  # label likelihood: length-normalised or summed token log-likelihood
GEN_LOSSES = ("ce", "lm", "both")  # cross-entropy over the C labels, the gold verbalizer's LM loss, or both
HEAD_INITS = ("auto", "lm", "words")  # class head: LM-head verbalizer rows where there are some | required | WARP's


@dataclass
class MethodConfig:
    """Options shared by the prompt methods. Subclasses add their own fields."""

    n_prompts: int = setting(4, "soft prompt tokens", min=1)
    readout: str = "auto"  # auto, or one of the backbone family's readouts (mask, mean, cls, answer, decoder)
    prompt_init: str = setting("vocab", "initial prompt values: vocab (sampled token embeddings), random, or "
                                        "text:<words>")
    layout: str = setting("warp", "where the prompt slots go in the input (warp: around the text and mask; "
                                  "prefix: before it)")
    predict: str = setting("auto", "auto, head (class-embedding head) or label (LM label likelihood; LM families)",
                           choices=PREDICTIONS, one_of=True)
    label_score: str = setting("mean", "label likelihood: mean (length-normalised) or sum of the label tokens' "
                                       "log-likelihoods", choices=SCORES, one_of=True)
    gen_loss: str = setting("ce", "ce (cross-entropy over the label scores), lm (the gold verbalizer's LM loss) or "
                                  "both", choices=GEN_LOSSES, one_of=True)
    head_init: str = setting(
        "auto", "class head start: auto (the LM head's verbalizer rows where the LM head reads Z, else the words' "
                "input embeddings), lm (those rows, or an error), words (the verbalizer words' input embeddings: "
                "WARP's, the ablation)", choices=HEAD_INITS, one_of=True)

    def validate(self) -> None:
        """Every declared field against its bounds and choices (the schema's); subclasses add cross-checks."""
        check_fields(self, declared=True)

    @classmethod
    def check_options(cls, options: dict, ablation: str, method: str) -> None:
        """Cross-checks of the options a user gave (not the defaults) and the ablation; ConfigError on misuse."""

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


def resolve_predict(choice: str, backbone: Backbone, readout: str) -> str:
    """`head` or `label` for this backbone and readout; a one-line error where label likelihood is meaningless."""
    family = backbone.family
    at_answer = family.has_lm_head and readout == family.answer_readout
    if choice == "auto":
        return DEFAULT_LM_PREDICT if at_answer else "head"
    if choice == "label" and not at_answer:
        why = (f"'{backbone.name}' ({family.name} family) has no language-model head" if not family.has_lm_head
               else f"the LM predicts the label word at readout '{family.answer_readout}', not '{readout}'")
        raise ConfigError(f"--predict label needs the LM head at the answer position: {why}")
    return choice


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
        self.family = backbone.family
        self.readout = self.family.resolve_readout(config.readout, backbone.has_mlm_head)
        self.predict = resolve_predict(config.predict, backbone, self.readout)
        if config.gen_loss != "ce" and self.predict != "label":
            raise ConfigError(f"--gen-loss {config.gen_loss} scores the gold label's likelihood: it needs --predict label")
        if config.head_init != "auto" and self.predict == "label":
            raise ConfigError(f"--head-init {config.head_init} sets up the class head; with --predict label the LM head "
                              "itself predicts (use --predict head)")
        # Label token ids as the LM produces them at the readout (LM families at their answer readout).
        at_answer = self.family.has_lm_head and self.readout == self.family.answer_readout
        self.candidates = self.family.label_candidates(self.make_template(), backbone.tokenizer, task.verbalizer) \
            if at_answer else None
        self.share_prefix = True  # reuse one key/value cache across rows where the family can (off: benchmarks)
        if self.predict == "label" and self.family.generates:  # a generative LM predicts: decoding can stand in
            self.capabilities = type(self).capabilities | Capability.LABEL_LIKELIHOOD
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
            if self._packing_mode == "auto" and not self.family.packs:
                self._packer.disable(f"not used on the {self.family.name} family")
            elif self._packing_mode == "auto" and not self.packing_safe():
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
        return self.family.input_embeddings(self.backbone)(input_ids)

    def make_template(self, max_length: int = 128):
        """The template this method's inputs are encoded with; the family decides its kind (encoder Template
        or text-to-text GenerativeTemplate), the method its layout and prompt count."""
        return self.family.make_template(self.backbone_info.tokenizer, self.config.n_prompts, layout=self.config.layout,
                                         max_length=max_length, task=self.task)

    def describe_readout(self) -> str:
        """Where Z is read, in words (run summaries)."""
        return self.family.describe_readout(self.readout)

    def make_head(self) -> ClassEmbeddingHead:
        """The class-embedding head: from the LM head's verbalizer rows where Z is the LM head's input,
        else (or with `--head-init words`) from the verbalizer words' input embeddings (WARP's initialisation)."""
        if self.config.head_init == "lm" and self.candidates is None:
            raise ConfigError(f"--head-init lm needs an LM head reading Z: '{self.backbone_info.name}' "
                              f"({self.family.name} family, readout {self.readout}) has none (use auto or words)")
        if self.candidates is not None and self.config.head_init != "words":
            weight, bias = self.family.verbalizer_rows(self.backbone, [c[0] for c in self.candidates])
            return ClassEmbeddingHead.from_rows(weight, bias)
        return ClassEmbeddingHead(self.backbone_info.tokenizer, self.backbone_info.input_embeddings, self.task.verbalizer)

    def initial_prompts(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n, D) starting values: sampled vocabulary embeddings, random normal, or a text's tokens."""
        weight = self.family.input_embeddings(self.backbone).weight.detach()
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

    def embed(self, batch: dict, prompts: torch.Tensor) -> torch.Tensor:
        """Input embeddings (B, L, D) with `prompts` (B, np, D) in the template's slots (Lester-style on every family)."""
        embeds = self.word_embeddings(batch["input_ids"])
        slot = batch["prompt_index"]
        rows = torch.arange(embeds.shape[0], device=embeds.device).unsqueeze(1).expand_as(slot)
        placed = prompts[rows, slot.clamp(min=0)]
        return torch.where((slot >= 0).unsqueeze(-1), placed.to(embeds.dtype), embeds)

    def read(self, batch: dict, prompts: torch.Tensor) -> Reading:
        """Run the backbone with `prompts` in the slots; the family reads Z (and keeps what label scoring needs)."""
        return self.family.read(self.backbone, self.embed(batch, prompts), batch, self.readout, packer=self.packer,
                                share_prefix=self.share_prefix and self.packing_safe())

    def encode(self, batch: dict, prompts: torch.Tensor) -> torch.Tensor:
        """Z (B, D) for `prompts` (B, np, D) in the slots."""
        return self.read(batch, prompts).z

    def read_prompt_free(self, batch: dict, rows: list[int]) -> Reading:
        """Φ(X): the frozen backbone on the prompt-free sequences of `rows`, in eval mode and without gradient."""
        sel = torch.tensor(rows, dtype=torch.long, device=batch["free_ids"].device)
        attention = batch["free_attention_mask"][sel]
        width = int(attention.sum(1).max())  # the rows may be shorter than the batch's padding
        sub = {"attention_mask": attention[:, :width], "mask_pos": batch["free_mask_pos"][sel],
               "token_type_ids": batch["free_token_type_ids"][sel, :width]}
        was_training = self.backbone.training
        self.backbone.eval()
        try:
            with torch.no_grad():
                return self.family.read(self.backbone, self.word_embeddings(batch["free_ids"][sel, :width]), sub,
                                        self.readout, share_prefix=self.packing_safe())
        finally:
            self.backbone.train(was_training)

    def classify(self, reading: Reading, batch: dict, head_input: torch.Tensor | None = None) -> MethodOutput:
        """Logits by the class head on `head_input` (default Z) or by label likelihood; `pred` (and `lm`) losses."""
        cfg = self.config
        sums = None
        if self.predict == "label":
            sums = self.family.score_labels(self.backbone, reading, self.candidates)
            lengths = torch.tensor([len(c) for c in self.candidates], device=sums.device, dtype=sums.dtype)
            logits = sums / lengths if cfg.label_score == "mean" else sums
        else:
            logits = self.head(reading.z if head_input is None else head_input)
        losses, weights = {}, {"pred": 1.0}
        if "labels" in batch:
            labels = batch["labels"]
            if cfg.gen_loss in ("ce", "both"):
                losses["pred"] = F.cross_entropy(logits, labels)
            if cfg.gen_loss in ("lm", "both"):
                rows = torch.arange(labels.shape[0], device=labels.device)
                losses["lm"], weights["lm"] = -(sums[rows, labels] / lengths[labels]).mean(), 1.0
        return MethodOutput(logits, losses, weights)

    def uses_token_types(self) -> bool:
        return self.family.uses_token_types(self.backbone)

    def forward(self, batch: dict) -> MethodOutput:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- what a checkpoint holds ----------------------------------------------------------------
    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """Trainable parameters plus the method's own buffers (e.g. pruning masks); never the backbone."""
        state = {n: p.detach() for n, p in self.named_parameters() if p.requires_grad}
        state.update({n: b for n, b in self.named_buffers() if not n.startswith("backbone.")})
        return state

    def checkpoint_state(self) -> tuple[dict[str, torch.Tensor], MethodConfig]:
        """What a checkpoint holds: tensors and the config that rebuilds a method for them. Default: the
        trainable state and the config; a method whose training-time parts fold away saves the folded form
        (residual). `--resume` saves `trainable_state_dict()` instead, the un-folded training state."""
        return self.trainable_state_dict(), self.config

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
