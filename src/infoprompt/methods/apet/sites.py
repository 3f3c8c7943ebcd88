"""Where APET can put tunable weights: the candidate sites of each operation on any backbone.

A site is one place one operation can act, with the number of parameters a full unit there holds:

- `add`     a module's output (every Linear and norm inside a numbered layer): a vector, out-dim params.
- `param`   an existing parameter inside a numbered layer (weights, biases, norms): a delta, numel params.
- `plug`    a Linear's output inside a numbered layer: a bottleneck of `bottleneck` hidden units.
- `lowrank` a Linear inside a numbered layer: a rank-`rank` update, rank·(in + out) params.
- `concat`  a self-attention module: `tokens` prefix key/value pairs, tokens·2·kv_dim params.
- `prompt`  the template's input slots (prompt tuning): n_prompts·D params.

Bare `random` draws only inside numbered layers (a name with a `.N.` part), which keeps embeddings,
poolers, final norms and LM heads out for every family (BERT `encoder.layer.N`, Llama
`model.layers.N`, T5 `block.N`); a pattern may name any module or parameter.
Names are the model's own, so a `--apet-positions` pattern reads like peft's `target_modules`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from torch import nn

from infoprompt.delta.kv_prefix import attention_geometry, check_concat_supported
from infoprompt.delta.partial import bottleneck_layout_size
from infoprompt.errors import ConfigError

OPS = ("add", "param", "plug", "lowrank", "concat", "prompt")
IN_LAYER = re.compile(r"(.*\.)?\d+\..*")
PROMPT_SITE = "input"


@dataclass(frozen=True)
class Site:
    op: str
    name: str
    capacity: int  # parameters of one full unit here


@dataclass(frozen=True)
class Sizes:
    """Full-unit sizes of the operations whose unit size is a choice."""

    bottleneck: int = 64
    rank: int = 8
    tokens: int = 4
    n_prompts: int = 4
    hidden: int = 0


def output_dim(module: nn.Module) -> int | None:
    if isinstance(module, nn.Linear):
        return module.out_features
    weight = getattr(module, "weight", None)
    is_norm = "norm" in type(module).__name__.lower()
    if is_norm and isinstance(weight, nn.Parameter) and weight.dim() == 1:
        return int(weight.shape[0])
    return None


def attention_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Self-attention modules in layer order: those with a `layer_idx` that are not cross-attention."""
    found = [(name, m) for name, m in model.named_modules()
             if "attention" in type(m).__name__.lower() and isinstance(getattr(m, "layer_idx", None), int)
             and not getattr(m, "is_cross_attention", False) and "cross" not in type(m).__name__.lower()
             and IN_LAYER.fullmatch(name)]
    return sorted(found, key=lambda item: item[1].layer_idx)


def candidate_sites(model: nn.Module, op: str, sizes: Sizes, anywhere: bool = False) -> list[Site]:
    """Every site of `op` on `model`, in model order; inside numbered layers unless `anywhere`."""
    def scope(name: str) -> bool:
        return bool(name) and (anywhere or IN_LAYER.fullmatch(name) is not None)

    if op == "add":
        return [Site(op, n, d) for n, m in model.named_modules() if scope(n) and (d := output_dim(m)) is not None]
    if op == "param":
        return [Site(op, n, p.numel()) for n, p in model.named_parameters() if scope(n)]
    linears = [(n, m) for n, m in model.named_modules() if scope(n) and isinstance(m, nn.Linear)]
    if op == "plug":
        return [Site(op, n, bottleneck_layout_size(m.out_features, sizes.bottleneck)) for n, m in linears]
    if op == "lowrank":
        return [Site(op, n, sizes.rank * (m.in_features + m.out_features)) for n, m in linears]
    if op == "concat":
        check_concat_supported(model)
        kv_heads, head_dim = attention_geometry(model.config)
        return [Site(op, n, sizes.tokens * 2 * kv_heads * head_dim) for n, _ in attention_modules(model)]
    if op == "prompt":
        return [Site(op, PROMPT_SITE, sizes.n_prompts * sizes.hidden)]
    raise ConfigError(f"unknown APET operation '{op}' (choose from: {', '.join(OPS)})")


def select_sites(model: nn.Module, ops: list[str], positions: str, sizes: Sizes) -> tuple[list[Site], bool]:
    """Candidate sites of `ops` filtered by `positions`; returns (sites, drawn at random?).

    positions: `random` (every candidate, drawn in a seeded random order), `random:REGEX` (the
    candidates whose name fully matches REGEX, drawn at random), or `REGEX` (those, in model order).
    """
    shuffled = positions == "random" or positions.startswith("random:")
    pattern = positions.partition(":")[2] if positions.startswith("random:") else ("" if shuffled else positions)
    # A pattern may reach anything it names (e.g. the embedding LayerNorm); bare `random` stays in the layers.
    sites = [s for op in ops for s in candidate_sites(model, op, sizes, anywhere=bool(pattern))]
    if pattern:
        try:
            regex = re.compile(pattern)
        except re.error as err:
            raise ConfigError(f"--apet-positions: bad pattern '{pattern}': {err}") from None
        sites = [s for s in sites if regex.fullmatch(s.name)]
    if not sites:
        raise ConfigError(f"--apet-positions '{positions}' matches no site of {', '.join(ops)} on this backbone")
    return sites, shuffled
