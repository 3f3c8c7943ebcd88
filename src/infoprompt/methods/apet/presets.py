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

# preset -> [(op, positions pattern)]; patterns follow BERT/RoBERTa names, like the baselines'.
PRESETS: dict[str, list[tuple[str, str]]] = {
    "prompt": [("prompt", "input")],
    "bitfit": [("param", r"(.*layer\.\d+\..*\.bias|embeddings\.LayerNorm\.bias)")],
    "lora": [("lowrank", r".*layer\.\d+\.attention\.self\.(query|value)")],
    "adapter": [("plug", r".*layer\.\d+\.(attention\.output|output)\.dense"),
                ("param", r".*layer\.\d+\..*LayerNorm\.(weight|bias)")],
}


def preset_parts(name: str) -> list[tuple[str, str]]:
    if name not in PRESETS:
        raise ConfigError(f"--apet-preset must be one of {sorted(PRESETS)}, got '{name}'")
    return PRESETS[name]
