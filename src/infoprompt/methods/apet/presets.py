"""The four classic methods as APET configurations (the paper's APET_Prompt/BitFit/LoRA/Adapter).

Each preset fixes the operations and positions of the classic method; budget 0 then gives the
classic method's own size, which equals its standalone implementation's count on the same backbone
(tests/methods/apet/test_classic_equivalence.py): prompt = the template's slot vectors (Lester et
al.); bitfit = every bias inside the layers plus the embedding LayerNorm bias (this repo's `bitfit`);
lora = rank-r updates on the query and value projections (peft's default targets for BERT);
adapter = Houlsby bottlenecks after the attention-output and feed-forward-output projections plus
every LayerNorm in the layers (this repo's `adapter`, placement houlsby).

A preset with a nonzero budget keeps the classic positions but the APET budget rule (so
`--apet-preset lora --budget 1000` is "LoRA positions, 1000 parameters").
"""

from __future__ import annotations

from infoprompt.errors import ConfigError
from infoprompt.families import ModuleMap

PRESETS = ("adapter", "bitfit", "lora", "prompt")


def check_preset(name: str) -> None:
    if name not in PRESETS:
        raise ConfigError(f"--apet-preset must be one of {sorted(PRESETS)}, got '{name}'")


def preset_parts(name: str, names: ModuleMap) -> list[tuple[str, str]]:
    """[(op, positions pattern)] of a classic method, in the backbone family's module names."""
    check_preset(name)
    if name == "prompt":
        return [("prompt", "input")]
    if name == "bitfit":
        if names.bitfit_preset is None:
            raise ConfigError("--apet-preset bitfit: this backbone family has no bias terms")
        return [("param", names.bitfit_preset)]
    if name == "lora":
        return [("lowrank", names.query_value)]
    return [("plug", names.houlsby), ("param", names.layer_norms)]
