"""Insertion primitives for parameter-efficient tuning: the pieces peft does not provide.

- `mark_trainable`: make a chosen subset of a model's existing parameters trainable (BitFit; APET's
  "subset of existing parameters" form of ADD).
- `wrap_outputs` / `OutputDelta`: wrap every module whose name matches a pattern so that a small
  module transforms its output (Houlsby adapters; APET's PLUG, and ADD on a sub-layer output).
- `Bottleneck`: down-projection, nonlinearity, up-projection and skip (the Houlsby adapter).
- `PrefixedEncoder`: peft's per-layer prefix key/values (CONCAT) with the encoder's token type ids kept.
- `partial`: deltas of ANY size (APET's exact budgets): `FlatSlice` trains the first k entries of a
  tensor; `VectorAdd`, `ParamDelta`, `FlatBottleneck` and `LowRankAdd` build ADD, PLUG and
  low-rank updates from it, equal to the classic modules when full.
- `PrefixKVModel` / `LayerPrefix`: CONCAT with a different prefix length per layer (0 where unchosen).
- `replace_module`: put a module at a dotted name.

LoRA itself, and the prefix encoder, come from peft. Every primitive reports or allows an exact
trainable-parameter count, which APET's budgets need.
"""

from infoprompt.delta.bottleneck import Bottleneck, bottleneck_parameter_count
from infoprompt.delta.insert import OutputDelta, matching_names, replace_module, wrap_outputs
from infoprompt.delta.kv_prefix import LayerPrefix, PrefixKVModel
from infoprompt.delta.partial import FlatBottleneck, FlatSlice, LowRankAdd, ParamDelta, VectorAdd
from infoprompt.delta.prefix import PrefixedEncoder, prefix_parameter_count
from infoprompt.delta.select import mark_trainable

__all__ = [
    "Bottleneck",
    "FlatBottleneck",
    "FlatSlice",
    "LayerPrefix",
    "LowRankAdd",
    "ParamDelta",
    "PrefixKVModel",
    "VectorAdd",
    "replace_module",
    "OutputDelta",
    "PrefixedEncoder",
    "bottleneck_parameter_count",
    "mark_trainable",
    "matching_names",
    "prefix_parameter_count",
    "wrap_outputs",
]
