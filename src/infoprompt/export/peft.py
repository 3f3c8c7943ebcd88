"""Export a checkpoint as a peft adapter folder that `PeftModel.from_pretrained(base, DIR)` loads.

Written with peft's own `get_peft_model(...).save_pretrained(...)`, so `adapter_config.json` and
`adapter_model.safetensors` are exactly what peft writes for the same adapter; we only copy our trained
tensors into the peft model before saving. The base is the plain backbone (`AutoModel`), the class
`infoprompt` itself loads encoders with.

What peft has no place for travels beside it: our classification head (class embeddings + bias, read
from the hidden state at the run's readout position) and, for LoRA and prefix runs, the frozen
template slot vectors, in `infoprompt_head.safetensors`, described by `infoprompt_export.json`
(docs/interop.md). peft's `modules_to_save` cannot hold the head: it saves copies of modules that
exist in the base model, and a plain `AutoModel` has no classifier (and a `...ForSequenceClassification`
head reads the pooler, not our readout).

Mapping (method -> peft type):
- `lora`   -> LORA: identical hidden states on the same input embeddings.
- `prompt` -> PROMPT_TUNING: the same prompt vectors, `num_virtual_tokens` = n_prompts. peft prepends
  them before the whole input ([P]*n [CLS] text); our template puts them after [CLS]. The vectors are
  the same, the placement is peft's.
- `residual` -> PROMPT_TUNING, as `prompt`: its checkpoint already holds the folded prompt P'.
- `prefix` -> PREFIX_TUNING: the same per-layer key/values (the method trains through peft already).
Each method declares its peft type (`peft_type`, `peft_init`) or why it has none (`no_peft`) in its registry
entry (infoprompt.methods.registry); export refuses a method without one, with that reason.
The other way, a run started from a peft folder (`--init-from-peft`), is `methods/peft_init.py`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from infoprompt.errors import ConfigError
from infoprompt.export.interop import export_interop, write_export_card
from infoprompt.methods.peft_init import (  # noqa: F401  (init_from_peft: public here too)
    HEAD_FILE,
    META_FILE,
    init_from_peft,
    no_peft_reason,
)
from infoprompt.methods.registry import METHODS

FORMAT = "peft"

def _base_name(method) -> str:
    """The id or local path `from_pretrained` finds the base under (aliases such as 'minilm' resolved)."""
    from infoprompt.backbones import ALIASES

    name = method.backbone_info.name
    return ALIASES[name]() if name in ALIASES else name


def _fresh_base(method) -> nn.Module:
    """A structural copy of the pristine backbone (weights shared, modules new) for peft to wrap in place."""
    from infoprompt.methods.finetune import copy_for_tuning

    return copy_for_tuning(method.backbone_info.model, None)


def _wrap(method, peft_config) -> nn.Module:
    from peft import get_peft_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # transformers' deprecation noise inside peft
        return get_peft_model(_fresh_base(method), peft_config)


def _lora(method) -> tuple[nn.Module, dict[str, torch.Tensor]]:
    from peft import LoraConfig

    cfg = method.config
    tuned = {n: p for n, p in method.backbone.named_parameters() if ".lora_" in n}
    # The modules LoRA was actually injected into (peft resolved empty --lora-targets to its model-type default).
    targets = sorted({n.split(".lora_")[0].rsplit(".", 1)[-1] for n in tuned})
    peft_model = _wrap(method, LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=0.0,
                                          target_modules=targets, bias="none"))
    own = dict(peft_model.base_model.model.named_parameters())
    with torch.no_grad():
        for name, value in tuned.items():
            own[name].copy_(value)
    return peft_model, {"slot_prompts": method.prompt.detach()}


def _prompt(method) -> tuple[nn.Module, dict[str, torch.Tensor]]:
    from peft import PromptTuningConfig, TaskType

    if method.config.layout != "prefix":
        raise ConfigError(f"--format peft: this prompt run uses layout '{method.config.layout}'; peft's prompt "
                          "tuning only prepends (layout 'prefix')")
    # after any XPrompt pruning mask; prompt_values() is P' for a residual run (folded: `prompt` itself)
    prompt = method.mask_prompts(method.prompt_values().detach().unsqueeze(0))[0]
    base = method.backbone_info.model.config
    peft_model = _wrap(method, PromptTuningConfig(
        task_type=TaskType.FEATURE_EXTRACTION, num_virtual_tokens=prompt.shape[0], token_dim=prompt.shape[1],
        num_transformer_submodules=1, num_attention_heads=base.num_attention_heads,
        num_layers=base.num_hidden_layers))
    with torch.no_grad():
        peft_model.prompt_encoder["default"].embedding.weight.copy_(prompt)
    return peft_model, {}


def _prefix(method) -> tuple[nn.Module, dict[str, torch.Tensor]]:
    # The method already runs a peft PrefixTuning model (infoprompt.delta.PrefixedEncoder, in the family's
    # body: the encoder itself, or an MLM's encoder under its head): save that one.
    return method.family.body(method.backbone).peft_model, {"slot_prompts": method.prompt.detach()}


EXPORTERS: dict[str, Callable] = {"LORA": _lora, "PROMPT_TUNING": _prompt, "PREFIX_TUNING": _prefix}  # by peft type


def check_exportable(method_name: str) -> None:
    """Refuse, in one line, a method peft cannot represent (before any backbone is loaded)."""
    entry = METHODS.entries.get(method_name)
    if entry is not None and entry.peft_type in EXPORTERS:
        return
    raise ConfigError(f"--format peft: method '{method_name}' cannot be exported: {no_peft_reason(method_name)} "
                      f"(exportable: {', '.join(sorted(n for n, e in METHODS.entries.items() if e.peft_type in EXPORTERS))})")


def export_peft(checkpoint: str | Path, output: str | Path, backbone=None) -> Path:
    """Write `output/adapter_config.json` + `adapter_model.safetensors` (peft) and our head beside them."""
    from infoprompt.api import load
    from infoprompt.atomic_files import atomic_write_json
    from infoprompt.training.checkpoint import read_checkpoint_config, save_tensors

    record = read_checkpoint_config(checkpoint)
    if record["method"] == "peft":  # peft's own model, layout and head: peft's folder as it is (export/interop.py)
        return export_interop(load(checkpoint, backbone), output, checkpoint)
    check_exportable(record["method"])
    model = load(checkpoint, backbone)
    method = model.method
    if method.backbone_info.kind != "encoder":
        raise ConfigError("--format peft: only encoder backbones are exported so far")
    peft_model, extra = EXPORTERS[METHODS.entry(record["method"]).peft_type](method)
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    config = peft_model.peft_config["default"]
    config.base_model_name_or_path = _base_name(method)
    peft_model.save_pretrained(str(output), save_embedding_layers=False)  # we never change the vocabulary
    head = dict(extra)
    if method.head is not None:  # --predict head; under --predict label the base model's own LM head scores
        head.update({"class_embeddings": method.head.class_embeddings.detach(), "bias": method.head.bias.detach()})
    if head:
        save_tensors(output / HEAD_FILE, head, {"format": "infoprompt-head"})
    atomic_write_json(output / META_FILE, {
        "method": record["method"], "peft_type": str(config.peft_type.value), "base_model": _base_name(method),
        "base_class": method.family.auto_class, "family": method.family.name, "predict": method.predict,
        "readout": method.readout, "template": record["template"], "label_names": method.task.label_names,
        "verbalizer": method.task.verbalizer, "task": method.task.name,
        "head": "logits = z @ class_embeddings.T + bias, z = the family's reading at the readout"
                if method.head is not None else None,
        "slot_prompts": "frozen template slot vectors (LoRA/prefix runs), in the template's prompt slots"
                        if extra else None,
        "method_config": record["method_config"], "task_spec": record["task"],  # for export/interop.load_export
    })
    write_export_card(output, checkpoint, record, method)
    return output
