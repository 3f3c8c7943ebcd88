"""InfoPrompt (Wu et al. 2023): IDPG plus two mutual-information losses.

L = L_pred − β·I(P; Z | X) − γ·I(P; θ | X) (+ 0.1·KL), each I replaced by its InfoNCE lower bound.

Readings of the spec built here (each alternative is an option):
- Variational bottleneck on Z: μ = f_μ(Z), log σ = f_σ(Z) clamped to [−2, 10], latent size 32;
  samples are mapped back to R^D by a Linear(r→D). The classifier reads the same bottleneck
  (a sample in training, μ in evaluation).
- Representation loss (β): positive = the prompted sample paired with P̄ (mean of the np prompt
  tokens); K−1 = 31 negatives are samples of N(f_μ(Z'), f_σ(Z')) where Z' is the prompt-free state of
  the same input. Score P̄ᵀ W2 ẑ with trainable W2 (initialised to I/√D).
- Head loss (γ): positive P̄, negatives K−1 = 31 word embeddings drawn (with replacement when the
  text is short) from the input's own text tokens (no special tokens, prompts, mask or padding);
  θ = mean class embedding; score Pᵀ W1 θ with trainable W1 (I/√D). `--head-negatives all` uses
  every context token instead, `--head-bilinear identity` fixes W1 = I/√D.
- KL(N(μ, σ) ‖ N(0, I)) with weight 0.1 on the prompted latent, and on the prompt-free latent when
  β > 0 (it only feeds the representation loss's negatives). It regularises the variational
  classifier, so β = γ = 0 leaves L_pred + KL; `--kl-weight 0` removes it too.
- NCE terms are bounded per example at 2 (`--nce-clamp`); see losses.clamp_loss for why the
  default bound rescales rather than zeroes the gradient.
- Ablations: β = 0 removes the representation term (and the prompt-free KL); γ = 0 removes the
  head term; neither is computed, so they cost nothing.
- With a language-model head (masked-LM, causal and seq2seq families, infoprompt.families): Z is
  read where the LM predicts the label word, and θ comes from the LM head's output rows of the
  verbalizer tokens: with `--predict head` the class head starts from those rows (θ = its mean
  row, trained); with `--predict label` the LM itself predicts (label likelihood) and θ is the mean
  of those pretrained rows, frozen, so the head loss ties the prompt to the pretrained head. The
  bottleneck then serves the representation loss and the KL only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from infoprompt.errors import ConfigError
from infoprompt.methods.base import MethodOutput, register_method
from infoprompt.methods.idpg import IDPG, IDPGConfig
from infoprompt.methods.losses import CLAMP_MODES, clamp_loss, gaussian_kl, info_nce


@dataclass
class InfoPromptConfig(IDPGConfig):
    beta: float = field(
        default=0.1, metadata={"help": "weight of the representation loss -I(P; Z | X)", "min": 0, "max": 1000})
    gamma: float = field(
        default=0.05, metadata={"help": "weight of the head loss -I(P; theta | X)", "min": 0, "max": 1000})
    negatives: int = field(default=32, metadata={"help": "K for the representation loss (1 positive + K-1 negatives)"})
    head_negatives: str = field(default="32", metadata={"help": "K for the head loss, or 'all' context tokens"})
    head_bilinear: str = field(
        default="trainable", metadata={"help": "trainable or identity (fixed I/sqrt(D)) score matrix of the head loss"})
    latent: int = field(default=32, metadata={"help": "size of the variational bottleneck on Z"})
    kl_weight: float = field(
        default=0.1, metadata={"help": "weight of the KL term on the bottleneck", "min": 0, "max": 1000})
    nce_clamp: float | None = field(
        default=2.0, metadata={"help": "per-example bound on the InfoNCE terms (none: unbounded)", "above": 0})
    nce_clamp_mode: str = field(
        default="scale", metadata={"help": "how the bound acts: scale, hard or none (see methods/losses.py)"})
    log_sigma_min: float = field(default=-2.0, metadata={"help": "lower clamp of the bottleneck's log sigma"})
    log_sigma_max: float = field(default=10.0, metadata={"help": "upper clamp of the bottleneck's log sigma"})
    classifier_input: str = field(default="bottleneck", metadata={
        "help": "bottleneck (the public implementation) or z (the head reads Z directly)"})

    def validate(self) -> None:
        super().validate()
        for name in ("beta", "gamma", "kl_weight"):
            if getattr(self, name) < 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be >= 0, got {getattr(self, name)}")
        if self.negatives < 2:
            raise ConfigError(f"--negatives must be >= 2, got {self.negatives}")
        if self.head_negatives != "all" and (not str(self.head_negatives).isdigit() or int(self.head_negatives) < 2):
            raise ConfigError(f"--head-negatives must be an integer >= 2 or 'all', got '{self.head_negatives}'")
        if self.head_bilinear not in ("trainable", "identity"):
            raise ConfigError(f"--head-bilinear must be trainable or identity, got '{self.head_bilinear}'")
        if self.nce_clamp_mode not in CLAMP_MODES:
            raise ConfigError(f"--nce-clamp-mode must be one of {CLAMP_MODES}")
        if self.classifier_input not in ("bottleneck", "z"):
            raise ConfigError(f"--classifier-input must be bottleneck or z, got '{self.classifier_input}'")
        if self.latent < 1:
            raise ConfigError(f"--latent must be >= 1, got {self.latent}")


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


@register_method("infoprompt", InfoPromptConfig)
class InfoPrompt(IDPG):
    def __init__(self, config: InfoPromptConfig, backbone, task):
        super().__init__(config, backbone, task)
        hidden = self.hidden_size
        self.bottleneck = VariationalBottleneck(hidden, config.latent, (config.log_sigma_min, config.log_sigma_max))
        self.rep_score = Bilinear(hidden) if config.beta > 0 else None
        self.head_score = Bilinear(hidden, config.head_bilinear == "trainable") if config.gamma > 0 else None
        self.special_ids = torch.tensor(sorted(set(backbone.tokenizer.all_special_ids)), dtype=torch.long)
        if self.head is None:  # label likelihood: θ is the pretrained LM head's verbalizer rows (frozen)
            rows, _ = self.family.verbalizer_rows(self.backbone, [c[0] for c in self.candidates])
            self.register_buffer("lm_theta", rows.mean(0), persistent=False)

    def theta(self) -> torch.Tensor:
        """θ (D,): the class head's mean row, or the LM head's mean verbalizer row when the LM predicts."""
        return self.head.theta() if self.head is not None else self.lm_theta

    def forward(self, batch: dict) -> MethodOutput:
        cfg = self.config
        p_free, z_free = self.prompt_free(batch)
        prompts = self.prompts(batch, p_free)
        reading = self.read(batch, prompts)
        z = reading.z
        mu, log_sigma = self.bottleneck(z)
        z_hat = self.bottleneck.sample(mu, log_sigma) if self.training else self.bottleneck.to_hidden(mu)
        out = self.classify(reading, batch, z_hat if cfg.classifier_input == "bottleneck" else z)
        logits, losses = out.logits, out.losses
        weights = {**out.weights, "rep": cfg.beta, "head": cfg.gamma, "kl": cfg.kl_weight}
        if not self.training:
            return MethodOutput(logits, losses, weights)
        p_bar = prompts.mean(1)
        kl = gaussian_kl(mu, log_sigma)
        if self.rep_score is not None:
            mu_free, log_sigma_free = self.bottleneck(z_free)
            negatives = self.bottleneck.sample(mu_free, log_sigma_free, cfg.negatives - 1)
            losses["rep"] = self.representation_loss(p_bar, z_hat, negatives)
            kl = kl + gaussian_kl(mu_free, log_sigma_free)
        if self.head_score is not None:
            losses["head"] = self.head_loss(p_bar, batch)
        if cfg.kl_weight > 0:
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
