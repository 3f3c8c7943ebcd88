"""InfoPrompt's two mutual-information losses, in one place: InfoPrompt's and the `--mi-losses` switch's.

`MILossConfig` declares the loss options once (beta, gamma, negatives, ...); `InfoPromptConfig` and
`MISwitchConfig` (the switch on prompt, warp, residual, and late prompts) inherit them, so the flags,
help texts and checks are the same everywhere. `MILosses` is the method side: the variational
bottleneck on Z, the two score matrices, and `mi_output`, which turns a prompted reading into the
prediction plus the `rep`, `head` and `kl` terms (what they mean: infoprompt.py's docstring).

The switch (`MISwitch`) on a method with a class-embedding head and its own prompts:
- Off (the default) builds nothing and draws no random number: the method is bit-identical to itself
  without the switch.
- On: P̄ is the mean of the np prompt tokens; Z' (the representation loss's negatives) is the
  prompt-free state of the same input, read by `read_prompt_free` and cached by the prompt-free token
  ids exactly as IDPG caches Φ(X) (and kept across `--resume`).
- `--classifier-input` defaults to `z` here: the head reads Z as without the switch, so the only change
  is the added loss terms. `bottleneck` makes the head read the variational bottleneck, as InfoPrompt
  does by default.
- The bottleneck is built only where something reads it (the classifier, or the representation loss
  with beta > 0); so `--mi-losses --ablation no-mi` (beta = gamma = 0, classifier z) adds nothing, not
  even the KL of an unused bottleneck, and equals the method without the switch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from infoprompt.errors import ConfigError
from infoprompt.methods.base import MethodOutput
from infoprompt.methods.idpg import PromptFreeCache
from infoprompt.methods.losses import CLAMP_MODES, clamp_loss, gaussian_kl, info_nce
from infoprompt.schema import setting

CLASSIFIER_INPUTS = ("bottleneck", "z")
MI_CACHE_PREFIX = "mi_prompt_free_cache."  # the Z' cache's tensors in a run's resume state
CLASSIFIER_INPUT_HELP = "bottleneck (the public implementation) or z (the head reads Z directly)"


@dataclass
class MILossConfig:
    """The MI losses' options (a mixin: listed before the method's own config class in the bases)."""

    beta: float = setting(0.1, "weight of the representation loss -I(P; Z | X)", min=0, max=1000)
    gamma: float = setting(0.05, "weight of the head loss -I(P; theta | X)", min=0, max=1000)
    negatives: int = setting(32, "K for the representation loss (1 positive + K-1 negatives)", min=2)
    head_negatives: str = setting("32", "K for the head loss, or 'all' context tokens")
    head_bilinear: str = setting("trainable", "trainable or identity (fixed I/sqrt(D)) score matrix of the head loss",
                                 choices=("trainable", "identity"), one_of=True)
    latent: int = setting(32, "size of the variational bottleneck on Z", min=1)
    kl_weight: float = setting(0.1, "weight of the KL term on the bottleneck", min=0, max=1000)
    nce_clamp: float | None = setting(2.0, "per-example bound on the InfoNCE terms (none: unbounded)", above=0)
    nce_clamp_mode: str = setting("scale", "how the bound acts: scale, hard or none (see methods/losses.py)",
                                  choices=CLAMP_MODES, one_of=True)
    log_sigma_min: float = setting(-2.0, "lower clamp of the bottleneck's log sigma")
    log_sigma_max: float = setting(10.0, "upper clamp of the bottleneck's log sigma")
    classifier_input: str = setting("bottleneck", CLASSIFIER_INPUT_HELP, choices=CLASSIFIER_INPUTS, one_of=True)

    def validate(self) -> None:
        super().validate()
        if self.head_negatives != "all" and (not str(self.head_negatives).isdigit() or int(self.head_negatives) < 2):
            raise ConfigError(f"--head-negatives must be an integer >= 2 or 'all', got '{self.head_negatives}'")


MI_OPTIONS = tuple(MILossConfig.__dataclass_fields__)


@dataclass
class MISwitchConfig(MILossConfig):
    """The switch: the MI losses' options plus `mi_losses` (off by default); the head reads Z by default."""

    mi_losses: bool = setting(False, "add InfoPrompt's MI losses (rep, head, kl; --beta, --gamma, ...) to this "
                                     "method's prediction loss")
    classifier_input: str = setting("z", CLASSIFIER_INPUT_HELP, choices=CLASSIFIER_INPUTS, one_of=True)

    @classmethod
    def check_options(cls, options: dict, ablation: str, method: str) -> None:
        """The MI options and `--ablation` mean something only with the switch on: say so instead of ignoring them."""
        if options.get("mi_losses"):
            return
        if ablation != "none":
            raise ConfigError(f"--ablation {ablation} applies to infoprompt, not to method '{method}' without "
                              "--mi-losses")
        given = sorted(set(options) & set(MI_OPTIONS))
        if given:
            flags = ", ".join("--" + n.replace("_", "-") for n in given)
            raise ConfigError(f"{flags} do(es) not apply to method '{method}' without --mi-losses")


class Bilinear(nn.Module):
    """Score(a, b) = aᵀ W b, with W initialised to I/√D (a scaled dot product)."""

    def __init__(self, dim: int, trainable: bool = True):
        super().__init__()
        weight = torch.eye(dim) / dim**0.5
        if trainable:
            self.weight = nn.Parameter(weight)
        else:
            self.register_buffer("weight", weight, persistent=False)

    def project(self, b: torch.Tensor) -> torch.Tensor:
        """W b for a batch of right-hand sides (..., D)."""
        return b @ self.weight.t()


class VariationalBottleneck(nn.Module):
    """Z (B, D) -> diagonal Gaussian (μ, log σ) in R^r, and samples mapped back to R^D."""

    def __init__(self, hidden: int, latent: int, log_sigma_range: tuple[float, float]):
        super().__init__()
        self.f_mu = nn.Linear(hidden, latent)
        self.f_sigma = nn.Linear(hidden, latent)
        self.to_hidden = nn.Linear(latent, hidden)
        self.log_sigma_range = log_sigma_range

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.f_mu(z), self.f_sigma(z).clamp(*self.log_sigma_range)

    def sample(self, mu: torch.Tensor, log_sigma: torch.Tensor, n: int | None = None) -> torch.Tensor:
        """Reparameterised samples in R^D: (B, D), or (B, n, D) when n is given."""
        if n is not None:
            mu, log_sigma = mu.unsqueeze(1).expand(-1, n, -1), log_sigma.unsqueeze(1).expand(-1, n, -1)
        return self.to_hidden(mu + torch.exp(log_sigma) * torch.randn_like(mu))


class MILosses:
    """Mixin for a PromptMethod with `head` (a ClassEmbeddingHead, or None under `--predict label`).

    `init_mi_losses` builds the parts (in InfoPrompt's order, so its state-dict names and random draws
    stay as they were); `mi_output` is the forward pass after the prompted reading."""

    bottleneck: VariationalBottleneck | None
    rep_score: Bilinear | None
    head_score: Bilinear | None

    def init_mi_losses(self, config: MILossConfig, tokenizer, always_bottleneck: bool = True) -> None:
        """The bottleneck (always, or only where the classifier or the representation loss reads it), the
        score matrices of the terms whose weight is > 0, and θ's fallback under label likelihood."""
        hidden = self.hidden_size
        needed = always_bottleneck or config.classifier_input == "bottleneck" or config.beta > 0
        self.bottleneck = VariationalBottleneck(hidden, config.latent, (config.log_sigma_min, config.log_sigma_max)) \
            if needed else None
        self.rep_score = Bilinear(hidden) if config.beta > 0 else None
        self.head_score = Bilinear(hidden, config.head_bilinear == "trainable") if config.gamma > 0 else None
        self.special_ids = torch.tensor(sorted(set(tokenizer.all_special_ids)), dtype=torch.long)
        if self.head is None:  # label likelihood: θ is the pretrained LM head's verbalizer rows (frozen)
            rows, _ = self.family.verbalizer_rows(self.backbone, [c[0] for c in self.candidates])
            self.register_buffer("lm_theta", rows.mean(0), persistent=False)

    def theta(self) -> torch.Tensor:
        """θ (D,): the class head's mean row, or the LM head's mean verbalizer row when the LM predicts."""
        return self.head.theta() if self.head is not None else self.lm_theta

    def mi_output(self, reading, batch: dict, prompts: torch.Tensor,
                  prompt_free_z: Callable[[], torch.Tensor]) -> MethodOutput:
        """The prediction on `reading` (prompted by `prompts`, (B, np, D)) plus the MI terms in training.

        `prompt_free_z()` gives Z' (B, D); it is called only when the representation loss needs it."""
        cfg = self.config
        z = reading.z
        mu = log_sigma = z_hat = None
        if self.bottleneck is not None and (self.training or cfg.classifier_input == "bottleneck"):
            mu, log_sigma = self.bottleneck(z)
            z_hat = self.bottleneck.sample(mu, log_sigma) if self.training else self.bottleneck.to_hidden(mu)
        out = self.classify(reading, batch, z_hat if cfg.classifier_input == "bottleneck" else z)
        logits, losses = out.logits, out.losses
        weights = {**out.weights, "rep": cfg.beta, "head": cfg.gamma, "kl": cfg.kl_weight}
        if not self.training:
            return MethodOutput(logits, losses, weights)
        p_bar = prompts.mean(1)
        kl = gaussian_kl(mu, log_sigma) if mu is not None else None
        if self.rep_score is not None:
            mu_free, log_sigma_free = self.bottleneck(prompt_free_z())
            negatives = self.bottleneck.sample(mu_free, log_sigma_free, cfg.negatives - 1)
            losses["rep"] = self.representation_loss(p_bar, z_hat, negatives)
            kl = kl + gaussian_kl(mu_free, log_sigma_free)
        if self.head_score is not None:
            losses["head"] = self.head_loss(p_bar, batch)
        if cfg.kl_weight > 0 and kl is not None:
            losses["kl"] = kl.mean()
        return MethodOutput(logits, losses, weights)

    def representation_loss(self, p_bar: torch.Tensor, positive: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
        """InfoNCE for I(P; Z | X): (B, D) prompts vs (B, D) prompted and (B, K−1, D) prompt-free samples."""
        left = self.rep_score.project(p_bar)  # W2·P̄: the score P̄ᵀW2ᵀẑ spans the same bilinear family
        pos = (left * positive).sum(-1)
        neg = torch.einsum("bd,bkd->bk", left, negatives)
        return clamp_loss(info_nce(pos, neg), self.config.nce_clamp, self.config.nce_clamp_mode).mean()

    def context_mask(self, batch: dict) -> torch.Tensor:
        """(B, L) True at the input's own text tokens: not padding, prompt slot, mask or special."""
        ids = batch["input_ids"]
        mask = batch["attention_mask"].bool() & (batch["prompt_index"] < 0)
        return mask & ~torch.isin(ids, self.special_ids.to(ids.device))

    def head_loss(self, p_bar: torch.Tensor, batch: dict) -> torch.Tensor:
        """InfoNCE for I(P; θ | X): the prompt vs word embeddings of the input's own tokens."""
        theta = self.head_score.project(self.theta())  # W1 θ, (D,)
        ctx_emb = self.word_embeddings(batch["input_ids"])  # (B, L, D), frozen
        valid = self.context_mask(batch)
        if self.config.head_negatives == "all":
            neg_emb, neg_mask = ctx_emb, valid
        else:
            k = int(self.config.head_negatives) - 1
            weights = valid.float() + (~valid.any(1, keepdim=True)).float()  # all-special rows: uniform
            idx = torch.multinomial(weights, k, replacement=True)
            neg_emb = torch.gather(ctx_emb, 1, idx.unsqueeze(-1).expand(-1, -1, ctx_emb.shape[-1]))
            neg_mask = None
        pos = p_bar @ theta
        neg = neg_emb @ theta
        return clamp_loss(info_nce(pos, neg, neg_mask), self.config.nce_clamp, self.config.nce_clamp_mode).mean()


class MISwitch(MILosses):
    """`--mi-losses` on a method whose config is a `MISwitchConfig` and whose prompts are its own.

    Call `init_mi_switch(tokenizer)` at the end of `__init__` (after `self.head` exists) and return
    `self.prompted_output(reading, batch, prompts)` from `forward`; both do nothing extra with the switch off.
    The class declares `Capability.RUN_STATE`: the cache of Z' survives `--resume` bit for bit (empty when off)."""

    def init_mi_switch(self, tokenizer) -> None:
        self.mi_cache = PromptFreeCache()  # Z' per prompt-free input (the frozen pass is the same every epoch)
        if not self.config.mi_losses:
            return
        self.init_mi_losses(self.config, tokenizer, always_bottleneck=False)

    def prompted_output(self, reading, batch: dict, prompts: torch.Tensor) -> MethodOutput:
        if not self.config.mi_losses:
            return self.classify(reading, batch)
        return self.mi_output(reading, batch, prompts, lambda: self.prompt_free_z(batch))

    def prompt_free_z(self, batch: dict) -> torch.Tensor:
        """Z' (B, D): the prompt-free state of each input, from the cache where possible."""
        return self.mi_cache.fetch(batch["cache_keys"], lambda rows: self.read_prompt_free(batch, rows).z,
                                   batch["input_ids"].device)

    # Cooperative: a method with run state of its own calls super() in its overrides and merges.
    def export_run_state(self) -> dict[str, torch.Tensor]:
        return {**super().export_run_state(), **self.mi_cache.to_tensors(MI_CACHE_PREFIX)}

    def import_run_state(self, tensors: dict[str, torch.Tensor]) -> None:
        super().import_run_state(tensors)
        self.mi_cache.load_tensors(tensors, MI_CACHE_PREFIX)

    def clear_run_state(self) -> None:
        super().clear_run_state()
        self.mi_cache.clear()
