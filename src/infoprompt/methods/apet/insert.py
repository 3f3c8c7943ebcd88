"""Apply allocated units to a frozen model, through the primitives in `infoprompt.delta`.

Order matters only for names: parameter deltas first (by the original parameter names), then
low-rank updates (which replace a Linear), then output deltas (ADD vectors, PLUG bottlenecks, which
wrap whatever module now sits at the name), and CONCAT last (it wraps the whole model). The
`prompt` op is not a model change; the method applies it to its template slots.
"""

from __future__ import annotations

import math

from torch import nn
from torch.nn.utils import parametrize

from infoprompt.delta.insert import OutputDelta, replace_module
from infoprompt.delta.kv_prefix import LayerPrefix, PrefixKVModel, attention_geometry
from infoprompt.delta.partial import FlatBottleneck, LowRankAdd, ParamDelta, VectorAdd
from infoprompt.methods.apet.budget import Unit, allocate
from infoprompt.methods.apet.sites import Sizes, attention_modules, output_dim, select_sites


def _bottleneck_units(dim: int, size: int) -> int:
    """Hidden units a PLUG of `size` parameters on width `dim` reaches (at least 1)."""
    return max(1, math.ceil((size - dim) / (2 * dim + 1)))


def apply_units(model: nn.Module, units: list[Unit], sizes: Sizes) -> nn.Module:
    """Insert every unit (except `prompt`) into `model`; return the module to run (wrapped for CONCAT)."""
    by_op: dict[str, list[Unit]] = {}
    for unit in units:
        by_op.setdefault(unit.site.op, []).append(unit)
    for unit in by_op.get("param", []):
        module_name, _, param_name = unit.site.name.rpartition(".")
        module = model.get_submodule(module_name)
        shape = tuple(getattr(module, param_name).shape)
        parametrize.register_parametrization(module, param_name, ParamDelta(shape, unit.size), unsafe=True)
    for unit in by_op.get("lowrank", []):
        base = model.get_submodule(unit.site.name)
        replace_module(model, unit.site.name, LowRankAdd(base, sizes.rank, unit.size).to(base.weight.device))
    for unit in by_op.get("add", []) + by_op.get("plug", []):
        module = model.get_submodule(unit.site.name)
        original = module.base if isinstance(module, (OutputDelta, LowRankAdd)) else module
        dim = output_dim(original)
        if unit.site.op == "add":
            delta: nn.Module = VectorAdd(dim, unit.size)
        else:
            delta = FlatBottleneck(dim, _bottleneck_units(dim, unit.size), unit.size)
        replace_module(model, unit.site.name, OutputDelta(module, delta))
    concat = by_op.get("concat", [])
    if concat:
        attention = attention_modules(model)
        kv_heads, head_dim = attention_geometry(model.config)
        index = {name: module.layer_idx for name, module in attention}
        prefixes = {index[u.site.name]: LayerPrefix(kv_heads, head_dim, u.size) for u in concat}
        model = PrefixKVModel(model, [m for _, m in attention], prefixes)
    return model


def insert_apet(model: nn.Module, parts: list[tuple[str, str]], budget: int, seed: int,
                sizes: Sizes) -> tuple[nn.Module, list[Unit]]:
    """Choose sites for [(op, positions)], allocate `budget` over them, insert; returns (model to run, units).

    `model` should be frozen already (`infoprompt.backbones.freeze`): then its trainable parameters
    are exactly the units', and their count is the budget. Works on any Hugging Face model (encoder,
    decoder or seq2seq); the `prompt` op is left to the caller (it acts on template slots).
    """
    sites, shuffle = [], False
    for op, positions in parts:
        found, drawn = select_sites(model, [op], positions, sizes)
        sites += found
        shuffle = shuffle or drawn
    units = allocate(sites, budget, shuffle, seed)
    return apply_units(model, [u for u in units if u.site.op != "prompt"], sizes), units
