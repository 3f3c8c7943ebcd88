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
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from infoprompt.errors import ConfigError
from infoprompt.methods.registry import METHODS

FORMAT = "peft"
HEAD_FILE = "infoprompt_head.safetensors"
META_FILE = "infoprompt_export.json"

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


def _no_peft(method_name: str) -> str:
    entry = METHODS.entries.get(method_name)
    return (entry.no_peft if entry else None) or "no peft equivalent is known"


def check_exportable(method_name: str) -> None:
    """Refuse, in one line, a method peft cannot represent (before any backbone is loaded)."""
    entry = METHODS.entries.get(method_name)
    if entry is not None and entry.peft_type in EXPORTERS:
        return
    raise ConfigError(f"--format peft: method '{method_name}' cannot be exported: {_no_peft(method_name)} "
                      f"(exportable: {', '.join(sorted(n for n, e in METHODS.entries.items() if e.peft_type in EXPORTERS))})")


def export_peft(checkpoint: str | Path, output: str | Path, backbone=None) -> Path:
    """Write `output/adapter_config.json` + `adapter_model.safetensors` (peft) and our head beside them."""
    from infoprompt.api import load
    from infoprompt.atomic_files import atomic_write_json
    from infoprompt.training.checkpoint import read_checkpoint_config, save_tensors

    record = read_checkpoint_config(checkpoint)
    if record["method"] == "peft":  # peft's own model, layout and head: peft's folder as it is (export/interop.py)
        from infoprompt.export.interop import export_interop

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
    from infoprompt.export.interop import write_export_card

    write_export_card(output, checkpoint, record, method)
    return output


# -- the other way: start a run from a peft adapter folder (`--init-from-peft DIR`) -----------------

def check_peft_init(folder: str | Path, method_name: str) -> dict:
    """The folder's adapter config, if `method_name` can start from it; else a one-line ConfigError.
    Cheap (reads one JSON file), so it runs before any data or backbone is loaded."""
    import json

    path = Path(folder) / "adapter_config.json"
    if not path.is_file():
        raise ConfigError(f"--init-from-peft: {path}: missing (not a peft adapter folder)")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"--init-from-peft: {path}: not valid JSON ({err})") from None
    entry = METHODS.entries.get(method_name)
    if entry is None or not entry.peft_init:
        raise ConfigError(f"--init-from-peft: method '{method_name}' cannot start from a peft adapter: "
                          f"{_no_peft(method_name)}")
    if config.get("peft_type") != entry.peft_type:
        raise ConfigError(f"--init-from-peft: {path} holds a {config.get('peft_type')} adapter; method "
                          f"'{method_name}' starts from {entry.peft_type}")
    return config


def _lora_targets(method) -> dict[str, str]:
    """peft's saved name -> our parameter name, for every LoRA tensor of the method."""
    out = {}
    for name, _ in method.named_parameters():
        if ".lora_" in name:  # backbone.<module>.lora_A.default.weight -> base_model.model.<module>.lora_A.weight
            module = name.removeprefix("backbone.").replace(".default.", ".")
            out["base_model.model." + module] = name
    return out


def _lora_names(method, config: dict) -> dict[str, str]:
    cfg = method.config
    if (config.get("r"), config.get("lora_alpha")) != (cfg.lora_r, cfg.lora_alpha):
        raise ConfigError(f"--init-from-peft: the adapter has r={config.get('r')}, lora_alpha={config.get('lora_alpha')}; "
                          f"pass --lora-r {config.get('r')} --lora-alpha {config.get('lora_alpha')}")
    unsupported = [k for k in ("use_dora", "use_rslora", "rank_pattern", "alpha_pattern") if config.get(k)]
    if unsupported or config.get("bias", "none") != "none":
        raise ConfigError(f"--init-from-peft: LoRA options {unsupported or ['bias']} are not supported here")
    mapping = _lora_targets(method)
    ours = sorted({n.split(".lora_")[0].rsplit(".", 1)[-1] for n in mapping})
    theirs = config.get("target_modules") or []
    theirs = sorted(theirs) if isinstance(theirs, list) else theirs
    if theirs != ours:
        raise ConfigError(f"--init-from-peft: the adapter targets {theirs}, this run {ours}; "
                          f"pass --lora-targets {','.join(theirs) if isinstance(theirs, list) else theirs}")
    return mapping


def _prompt_names(method, config: dict) -> dict[str, str]:
    if config.get("num_virtual_tokens") != method.config.n_prompts:
        raise ConfigError(f"--init-from-peft: the adapter has {config.get('num_virtual_tokens')} virtual tokens; "
                          f"pass --n-prompts {config.get('num_virtual_tokens')}")
    return {"prompt_embeddings": "prompt"}


def _prefix_names(method, config: dict) -> dict[str, str]:
    if config.get("num_virtual_tokens") != method.config.prefix_length:
        raise ConfigError(f"--init-from-peft: the adapter has {config.get('num_virtual_tokens')} virtual tokens; "
                          f"pass --prefix-length {config.get('num_virtual_tokens')}")
    if method.config.prefix_hidden:
        raise ConfigError("--init-from-peft: peft saves a prefix as its final key/values (after any projection); "
                          "start from it with --prefix-hidden 0")
    (name,) = [n for n, _ in method.named_parameters() if n.endswith("peft_model.prompt_encoder.default.embedding.weight")]
    return {"prompt_embeddings": name}


NAME_MAPS: dict[str, Callable[[nn.Module, dict], dict[str, str]]] = {  # by peft type
    "LORA": _lora_names, "PROMPT_TUNING": _prompt_names, "PREFIX_TUNING": _prefix_names}


def init_from_peft(method, folder: str | Path) -> dict:
    """Copy a peft adapter's tensors into a freshly built method; from a folder `export_peft` wrote, also our
    head and slot vectors when the label set matches. Returns what the checkpoint record keeps of it."""
    from peft.utils import load_peft_weights
    from safetensors.torch import load_file

    folder = Path(folder)
    config = check_peft_init(folder, method.method_name)
    weights = load_peft_weights(str(folder), device="cpu")
    names = NAME_MAPS[config["peft_type"]](method, config)
    missing, extra = sorted(set(names) - set(weights)), sorted(set(weights) - set(names))
    if missing or extra:
        raise ConfigError(f"--init-from-peft: {folder}: tensors do not match this run (missing {missing[:2]}, "
                          f"unexpected {extra[:2]})")
    params = dict(method.named_parameters())
    copies = {names[k]: v for k, v in weights.items()}
    head = False
    meta = folder / META_FILE
    if (folder / HEAD_FILE).is_file() and meta.is_file():  # written by `export_peft`
        import json

        if json.loads(meta.read_text(encoding="utf-8")).get("label_names") == method.task.label_names:
            saved = load_file(str(folder / HEAD_FILE))
            if method.head is not None and "class_embeddings" in saved:
                copies.update({"head.class_embeddings": saved["class_embeddings"], "head.bias": saved["bias"]})
            if "slot_prompts" in saved:
                copies["prompt"] = saved["slot_prompts"]
            head = True
    for name, value in copies.items():
        if value.shape != params[name].shape:
            raise ConfigError(f"--init-from-peft: tensor '{name}' has shape {tuple(value.shape)}, this run needs "
                              f"{tuple(params[name].shape)} (another backbone or size)")
    with torch.no_grad():
        for name, value in copies.items():
            params[name].copy_(value)
    return {"folder": str(folder), "peft_type": config["peft_type"], "head": head}
