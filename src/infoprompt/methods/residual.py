"""Residual prompt tuning (Razdaibiedina et al., Findings of ACL 2023, arXiv 2305.03937).

Free prompt tokens P (np, D), exactly as `prompt` draws and places them (same seed draw, prefix
layout, same class head), each passed through one shallow network with a skip connection before it
enters the model: p_i' = p_i + LayerNorm(W_up ReLU(W_down p_i)). P and the network train jointly;
after training the network is folded away and only P' is kept, so inference, the checkpoint and the
peft export (`--format peft`, PROMPT_TUNING) are a plain soft prompt.

Defaults, from the authors' public code (github.com/arazd/ResidualPrompts: `ResMLP` in
prompt_tuner2.py, the flags of train.py; read, not copied):
- one MLP shared by every prompt token (`--separate_mlps 0`); `--residual-mlp per_token` is their
  per-token variant (one MLP per token);
- bottleneck 800 (`--bottleneck_size 800`, their T5-base setting; `--residual-bottleneck`);
- Linear → ReLU → Linear → (dropout) → LayerNorm, then + p_i (`--mlp_layer_norm 1`, `--residual 1`);
  `--no-residual-layer-norm` drops the LayerNorm, `--residual-dropout` is their `--mlp_dropout` (0);
- PyTorch's default Linear and LayerNorm initialisation (weight 1, bias 0), prompt tokens drawn from
  the vocabulary's embeddings (their default, and ours);
- the MLP trains at the prompt's learning rate and weight decay (their `mlp_lr`/`weight_decay_mlp`
  default to the run's). Their learning rate, 0.3 with AdamW, is for T5's large-norm embeddings;
  ours stays `prompt`'s default so the two compare at the same setting.

Our choices: the MLP is initialised under a forked RNG seeded with `--seed`, so building it draws
nothing from the run's random stream: at the same seed, `residual` starts from the same P and sees
the same batches as `prompt`.

Folding: `checkpoint_state()` saves `prompt` = P' (computed with dropout off, as at evaluation)
under a config with `folded=True`; a folded Residual has no MLP and feeds `prompt` as it is, so the
loaded checkpoint predicts exactly what the trained model predicted. `--resume` saves
`trainable_state_dict()`, which keeps the un-folded P and the MLP, bit for bit. XPrompt's mask acts
on P' (the prompt that enters the model), folded or not.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from infoprompt.methods.base import MethodConfig, register_method
from infoprompt.methods.prompt_tuning import PromptTuningConfig, SwitchablePrompt
from infoprompt.schema import setting

RESIDUAL_MLPS = ("shared", "per_token")


@dataclass
class ResidualConfig(PromptTuningConfig):
    residual_bottleneck: int = setting(800, "hidden width of the residual prompt MLP (the authors' 800)", min=1)
    residual_mlp: str = setting("shared", "shared (one MLP for every prompt token) or per_token (one MLP each)",
                                choices=RESIDUAL_MLPS, one_of=True)
    residual_layer_norm: bool = setting(True, "LayerNorm on the MLP's output before the skip connection")
    residual_dropout: float = setting(0.0, "dropout on the MLP's output (training only)", min=0, below=1)
    folded: bool = setting(False, "a saved checkpoint: the MLP folded into `prompt` (set by checkpoint_state)",
                           cli=False)


class ResidualMLP(nn.Module):
    """p -> p + LayerNorm(dropout(W_up ReLU(W_down p))), row by row for (..., D) inputs."""

    def __init__(self, hidden: int, bottleneck: int, layer_norm: bool = True, dropout: float = 0.0):
        super().__init__()
        self.down = nn.Linear(hidden, bottleneck)
        self.up = nn.Linear(bottleneck, hidden)
        self.dropout = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(hidden) if layer_norm else nn.Identity()

    def forward(self, p: torch.Tensor) -> torch.Tensor:
        return p + self.norm(self.dropout(self.up(F.relu(self.down(p)))))


class PromptReparameterization(nn.Module):
    """(np, D) prompt tokens through one shared ResidualMLP, or through one MLP per token."""

    def __init__(self, n_prompts: int, hidden: int, config: ResidualConfig):
        super().__init__()
        count = n_prompts if config.residual_mlp == "per_token" else 1
        self.mlps = nn.ModuleList(ResidualMLP(hidden, config.residual_bottleneck, config.residual_layer_norm,
                                              config.residual_dropout) for _ in range(count))

    def forward(self, prompt: torch.Tensor) -> torch.Tensor:
        if len(self.mlps) == 1:
            return self.mlps[0](prompt)
        return torch.stack([mlp(row) for mlp, row in zip(self.mlps, prompt)])


@register_method("residual", ResidualConfig, rank=2, peft_type="PROMPT_TUNING",
                 test_options={"residual_bottleneck": 8}, test_variants={"mi": {"mi_losses": True}})
class Residual(SwitchablePrompt):
    """Prompt tuning whose prompt tokens come through a shared residual MLP (folded away when saved)."""

    def __init__(self, config: ResidualConfig, backbone, task):
        super().__init__(config, backbone, task)
        self.reparam: PromptReparameterization | None = None
        if not config.folded:
            with torch.random.fork_rng(devices=[]):  # the MLP's init depends on the seed only
                torch.manual_seed(config.seed)
                self.reparam = PromptReparameterization(config.n_prompts, self.hidden_size, config)

    def prompt_values(self) -> torch.Tensor:
        """P' = P + LayerNorm(MLP(P)) in training; the saved P' once folded."""
        return self.prompt if self.reparam is None else self.reparam(self.prompt)

    @torch.no_grad()
    def folded_prompt(self) -> torch.Tensor:
        """P' as evaluation computes it (dropout off): what a folded checkpoint stores as `prompt`."""
        if self.reparam is None:
            return self.prompt.detach().clone()
        was_training = self.reparam.training
        self.reparam.eval()
        try:
            return self.reparam(self.prompt).detach()
        finally:
            self.reparam.train(was_training)

    def checkpoint_state(self) -> tuple[dict[str, torch.Tensor], MethodConfig]:
        """The folded form: `prompt` = P', no MLP tensors, and the config says `folded`."""
        if self.reparam is None:
            return super().checkpoint_state()
        tensors = {k: v for k, v in self.trainable_state_dict().items() if not k.startswith("reparam.")}
        tensors["prompt"] = self.folded_prompt()
        return tensors, dataclasses.replace(self.config, folded=True)
