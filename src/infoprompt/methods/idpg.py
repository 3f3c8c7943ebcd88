"""IDPG (Wu et al. 2022): prompts generated from the prompt-free encoding Φ(X) of each input.

Ambiguities resolved here (the paper and the InfoPrompt spec leave them open):
- Φ(X) is the backbone run on the same template with the prompt slots removed (the mask kept), so
  one frozen pass yields both the generator input P' and InfoPrompt's prompt-free state Z'.
- P' is the first-token (CLS) state when the readout is `mask` (the paper's setting), and the
  run's readout otherwise (on a sentence-embedding model like MiniLM, mean pooling is the
  informative summary). `--generator-input cls|readout` overrides.
- Generator: one shared bottleneck Linear(D→64) → GELU → Linear(64→np·D), plus a per-token bias
  initialised from sampled vocabulary embeddings, so that the first prompts look like tokens
  instead of near-zero vectors. (The spec's per-token W_up_i·W_down_i is `--generator per_token`.)
- Φ(X) depends on no trainable parameter, so it is computed once per distinct input and cached
  (content-addressed by its token ids); steps then cost about one prompted forward and backward.
  Φ(X) is always computed with the backbone in eval mode, so it stays deterministic (and
  cacheable) when `--backbone-dropout on` regularises the prompted pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from infoprompt.errors import ConfigError
from infoprompt.methods.base import MethodConfig, MethodOutput, PromptMethod, register_method
from infoprompt.methods.heads import ClassEmbeddingHead
from infoprompt.readout import read_out


@dataclass
class IDPGConfig(MethodConfig):
    layout: str = "warp"
    bottleneck: int = 64
    generator: str = "shared"  # shared | per_token
    generator_input: str = "auto"  # auto | cls | readout
    cache_prompt_free: bool = True
    seed: int = 0

    def validate(self) -> None:
        super().validate()
        if self.bottleneck < 1:
            raise ConfigError(f"--bottleneck must be >= 1, got {self.bottleneck}")
        if self.generator not in ("shared", "per_token"):
            raise ConfigError(f"--generator must be shared or per_token, got '{self.generator}'")
        if self.generator_input not in ("auto", "cls", "readout"):
            raise ConfigError(f"--generator-input must be auto, cls or readout, got '{self.generator_input}'")


class PromptGenerator(nn.Module):
    """P' (B, D) -> prompts (B, np, D)."""

    def __init__(self, hidden: int, n_prompts: int, bottleneck: int, kind: str, bias_init: torch.Tensor):
        super().__init__()
        self.n_prompts, self.hidden = n_prompts, hidden
        groups = n_prompts if kind == "per_token" else 1
        out_per_group = hidden if kind == "per_token" else n_prompts * hidden
        self.down = nn.ModuleList(nn.Linear(hidden, bottleneck) for _ in range(groups))
        self.up = nn.ModuleList(nn.Linear(bottleneck, out_per_group) for _ in range(groups))
        for up in self.up:  # start near the bias so the first prompts are token-like
            nn.init.normal_(up.weight, std=0.02 / bottleneck**0.5)
            nn.init.zeros_(up.bias)
        self.bias = nn.Parameter(bias_init.clone())

    def forward(self, p_free: torch.Tensor) -> torch.Tensor:
        parts = [up(F.gelu(down(p_free))) for down, up in zip(self.down, self.up)]
        out = torch.cat(parts, dim=-1).view(-1, self.n_prompts, self.hidden)
        return out + self.bias


class PromptFreeCache:
    """Φ(X) results keyed by the prompt-free token ids; holds (P', Z') per input on the CPU."""

    def __init__(self) -> None:
        self._store: dict[bytes, torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self._store)

    def lookup(self, keys: list[bytes]) -> tuple[list[int], list[torch.Tensor | None]]:
        found = [self._store.get(k) for k in keys]
        return [i for i, v in enumerate(found) if v is None], found

    def put(self, key: bytes, value: torch.Tensor) -> None:
        self._store[key] = value.detach().to("cpu")

    def clear(self) -> None:
        self._store.clear()

    def to_tensors(self) -> dict[str, torch.Tensor]:
        """The cache as named tensors (hex key -> value), so a resumed run reuses the same bits."""
        return {key.hex(): value for key, value in self._store.items()}

    def load_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        self._store = {bytes.fromhex(name): value for name, value in tensors.items()}


@register_method("idpg", IDPGConfig)
class IDPG(PromptMethod):
    """Input-dependent prompts from a bottleneck generator on Φ(X); class-embedding head."""

    def __init__(self, config: IDPGConfig, backbone, task):
        super().__init__(config, backbone, task)
        generator = torch.Generator().manual_seed(config.seed)
        bias = self.initial_prompts(config.n_prompts, generator)
        self.generator = PromptGenerator(self.hidden_size, config.n_prompts, config.bottleneck, config.generator, bias)
        self.head = ClassEmbeddingHead(backbone.tokenizer, backbone.input_embeddings, task.verbalizer)
        self.cache = PromptFreeCache()
        choice = config.generator_input
        self.generator_input = ("cls" if self.readout == "mask" else "readout") if choice == "auto" else choice

    @property
    def caching(self) -> bool:
        return self.config.cache_prompt_free

    def _run_prompt_free(self, batch: dict, rows: list[int]) -> torch.Tensor:
        """Encode the prompt-free sequences of `rows` -> (len(rows), 2, D) holding (P', Z')."""
        sel = torch.tensor(rows, dtype=torch.long, device=batch["free_ids"].device)
        attention = batch["free_attention_mask"][sel]
        width = int(attention.sum(1).max())  # the rows may be shorter than the batch's padding
        ids = batch["free_ids"][sel, :width]
        attention = attention[:, :width]
        kwargs = {"token_type_ids": batch["free_token_type_ids"][sel, :width]} if self._uses_token_types() else {}
        was_training = self.backbone.training
        self.backbone.eval()
        try:
            with torch.no_grad():
                hidden = self.backbone(input_ids=ids, attention_mask=attention, **kwargs).last_hidden_state
        finally:
            self.backbone.train(was_training)
        z_free = read_out(self.readout, hidden, attention, batch["free_mask_pos"][sel])
        p_free = hidden[:, 0] if self.generator_input == "cls" else z_free
        return torch.stack([p_free, z_free], dim=1)

    def export_run_state(self) -> dict[str, torch.Tensor]:
        return {f"prompt_free_cache.{k}": v for k, v in self.cache.to_tensors().items()}

    def import_run_state(self, tensors: dict[str, torch.Tensor]) -> None:
        prefix = "prompt_free_cache."
        self.cache.load_tensors({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})

    def _device(self) -> torch.device:
        return self.generator.bias.device

    def prompt_free(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """(P', Z'), each (B, D): from the cache where possible, else one frozen pass."""
        keys = batch["cache_keys"]
        if not self.caching:
            both = self._run_prompt_free(batch, list(range(len(keys))))
            return both[:, 0], both[:, 1]
        missing, found = self.cache.lookup(keys)
        if missing:
            fresh = self._run_prompt_free(batch, missing)
            for row, value in zip(missing, fresh):
                self.cache.put(keys[row], value)
                found[row] = value
        both = torch.stack([v.to(self._device()) for v in found])
        return both[:, 0], both[:, 1]

    def prompts(self, batch: dict, p_free: torch.Tensor | None = None) -> torch.Tensor:
        """(B, np, D) generated prompts, after any pruning mask."""
        if p_free is None:
            p_free = self.prompt_free(batch)[0]
        return self.mask_prompts(self.generator(p_free))

    def forward(self, batch: dict) -> MethodOutput:
        p_free, _ = self.prompt_free(batch)
        z = self.encode(batch, self.prompts(batch, p_free))
        logits = self.head(z)
        losses = {"pred": F.cross_entropy(logits, batch["labels"])} if "labels" in batch else {}
        return MethodOutput(logits, losses, {"pred": 1.0})
