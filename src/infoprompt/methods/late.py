"""Late prompt tuning, LPT (Liu, Sun, Huang & Qiu, Findings of EMNLP 2022, arXiv 2210.11292).

An instance-dependent prompt enters at layer K instead of the input embeddings: a small generator reads
the states entering layer K (the output of layer K-1 on the plain input), and its np vectors are
inserted there; layers K..N run on the longer sequence, layers 1..K-1 once per example without gradient
and cached (infoprompt.methods.layer_split). Class-embedding head and readout as the other prompt
methods; `mean-text` leaves the prompt positions out.

Defaults read from the authors' code (xyltt/LPT, encoder-only/run_roberta.sh and models/; read, not copied):
- K: their `--add_prompt_layer 12` of RoBERTa-large's 24 layers puts the prompt after layer 12, i.e. it
  enters layer 13 = N/2 + 1; `--prompt-layer` defaults to N//2 + 1 (layer 4 of MiniLM's 6), the middle
  the paper recommends.
- Generators: NPG (`--late-generator naive`): the first token's state (theirs; `--late-summary mean`
  averages the input's own tokens instead) -> Linear(D->m) -> ReLU -> Linear(m->np*D). PPG (`pooling`):
  Linear(D->m) on every token, adaptive pooling of the real tokens to np vectors (`--late-pool avg`:
  their APPG, `max`: MPPG), ReLU, Linear(m->D) per vector. m = 128 (`--bottleneck`, their
  `--proj_down_size 128`); dropout 0.1 on the generated prompts in training (their hidden dropout,
  `--prompt-dropout`); PyTorch's default Linear initialisation, as theirs.
- Where: they prepend the prompt before the first token; above the embeddings position is only
  arithmetic for an encoder layer, so inserting after the first token (ours) is the same function and
  keeps the `cls` readout on the first token.
- lr 1e-3 (their run script's). Their weight decay 0.1 is the run's `--weight-decay` here.
- Families: encoder and masked-LM. Causal and seq2seq refuse in one line (see `Family.layer_split_refusal`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from infoprompt.families import Reading
from infoprompt.methods.base import Capability, MethodConfig, MethodOutput, PromptMethod, register_method
from infoprompt.methods.layer_split import (
    PromptLayerMixin,
    cache_dtype_field,
    cache_mb_field,
    prompt_layer_field,
)
from infoprompt.methods.mi import MISwitch, MISwitchConfig
from infoprompt.schema import setting

GENERATORS = ("naive", "pooling")
POOLS = ("avg", "max")
SUMMARIES = ("first", "mean")


@dataclass
class LateConfig(MISwitchConfig, MethodConfig):
    layout: str = "prefix"  # the template's slots are not used: the prompt enters at --prompt-layer
    seed: int = 0
    prompt_layer: int | None = prompt_layer_field()
    late_generator: str = setting(
        "naive", "late prompt generator: naive (one summary vector -> bottleneck MLP -> np vectors; LPT's NPG) or "
                 "pooling (the sequence adaptively pooled to np vectors, then the MLP; LPT's PPG)", choices=GENERATORS,
        one_of=True)
    late_pool: str = setting("avg", "pooling of the pooling generator: avg (LPT's APPG) or max (MPPG)", choices=POOLS,
                             one_of=True)
    late_summary: str = setting("first", "what the naive generator reads: first (the first token's state, LPT's) or "
                                         "mean (of the input's own tokens)", choices=SUMMARIES, one_of=True)
    bottleneck: int = setting(128, "hidden width of the late prompt generator", min=1)
    prompt_dropout: float = setting(0.1, "dropout on the generated late prompts (training only)", min=0, below=1)
    late_cache_mb: float = cache_mb_field()
    late_cache_dtype: str = cache_dtype_field()


class LateGenerator(nn.Module):
    """States entering layer K (B, L, D) and their mask (B, L) -> prompts (B, np, D)."""

    def __init__(self, hidden: int, n_prompts: int, config: LateConfig):
        super().__init__()
        self.n_prompts, self.hidden = n_prompts, hidden
        self.kind, self.summary = config.late_generator, config.late_summary
        self.down = nn.Linear(hidden, config.bottleneck)
        self.up = nn.Linear(config.bottleneck, n_prompts * hidden if self.kind == "naive" else hidden)
        pool = nn.AdaptiveAvgPool1d if config.late_pool == "avg" else nn.AdaptiveMaxPool1d
        self.pool = pool(n_prompts)
        self.dropout = nn.Dropout(config.prompt_dropout)

    def forward(self, states: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
        if self.kind == "naive":
            if self.summary == "first":
                summary = states[:, 0]
            else:
                weights = attention.to(states.dtype).unsqueeze(-1)
                summary = (states * weights).sum(1) / weights.sum(1).clamp(min=1.0)
            out = self.up(F.relu(self.down(summary))).view(-1, self.n_prompts, self.hidden)
        else:
            down = self.down(states)  # (B, L, m); each row pooled over its own real tokens only
            lengths = attention.sum(1).tolist()
            pooled = torch.stack([self.pool(down[i, :n].t().unsqueeze(0))[0].t() for i, n in enumerate(lengths)])
            out = self.up(F.relu(pooled))
        return self.dropout(out)


@register_method("late", LateConfig, rank=3)
class LatePrompt(MISwitch, PromptLayerMixin, PromptMethod):
    """LPT: prompts generated from and inserted into the states entering layer K; class-embedding head."""

    default_layout = "prefix"
    # Not PRUNABLE: XPrompt's masks map units onto IDPG's generator layout (per-token bias, np*D up-projection).
    capabilities = Capability.PROMPTS | Capability.RUN_STATE | Capability.RUN_REPORT

    def __init__(self, config: LateConfig, backbone, task):
        super().__init__(config, backbone, task)
        k = config.prompt_layer if config.prompt_layer is not None else self.family.num_layers(self.backbone) // 2 + 1
        self.setup_prompt_layer(k)
        self.generator = LateGenerator(self.hidden_size, config.n_prompts, config)
        self.head = self.make_head() if self.predict == "head" else None
        self.init_mi_switch(backbone.tokenizer)  # --mi-losses: InfoPrompt's two losses on the late prompt

    def prompts(self, batch: dict, lower: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """(B, np, D) prompts from the states entering layer K (`lower`: those states and their mask, if at hand)."""
        states, attention = self.split.lower(batch) if lower is None else lower
        return self.mask_prompts(self.generator(states, attention))

    def prompted(self, batch: dict) -> tuple[torch.Tensor, Reading]:
        """(P, reading): the prompts and the prompted pass, from one lookup of the lower stack."""
        states, attention = self.split.lower(batch)
        prompts = self.prompts(batch, (states, attention))
        return prompts, self.split.read_states(states, attention, batch, prompts)

    def forward(self, batch: dict) -> MethodOutput:
        prompts, reading = self.prompted(batch)
        return self.prompted_output(reading, batch, prompts)

    def run_report(self) -> dict:
        report = super().run_report()
        report["late"] = {**report["late"], "generator": self.config.late_generator}
        return report
