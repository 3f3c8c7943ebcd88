"""Start a run from a peft adapter folder (`--init-from-peft DIR`): read the folder into a built method.

`api.train` calls this on the freshly built method, and `export/` reads back the folders it wrote
with it, so it lives below both. The folder is peft's own (`adapter_config.json` + weights); a
folder `infoprompt export` wrote also carries our head and slot vectors (`HEAD_FILE`, described by
`META_FILE`), which are copied too when the label set matches.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from infoprompt.data.readers import unique_keys
from infoprompt.errors import ConfigError
from infoprompt.methods.registry import METHODS

HEAD_FILE = "infoprompt_head.safetensors"
META_FILE = "infoprompt_export.json"

def no_peft_reason(method_name: str) -> str:
    """Why a method has no peft equivalent, as its registry entry says (export and --init-from-peft refuse with it)."""
    entry = METHODS.entries.get(method_name)
    return (entry.no_peft if entry else None) or "no peft equivalent is known"


def check_peft_init(folder: str | Path, method_name: str) -> dict:
    """The folder's adapter config, if `method_name` can start from it; else a one-line ConfigError.
    Cheap (reads one JSON file), so it runs before any data or backbone is loaded."""
    path = Path(folder) / "adapter_config.json"
    if not path.is_file():
        raise ConfigError(f"--init-from-peft: {path}: missing (not a peft adapter folder)")
    try:
        config = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=unique_keys)
    except (ValueError, UnicodeDecodeError) as err:  # JSONDecodeError is a ValueError, as is a key given twice
        raise ConfigError(f"--init-from-peft: {path}: not valid JSON ({err})") from None
    entry = METHODS.entries.get(method_name)
    if entry is None or not entry.peft_init:
        raise ConfigError(f"--init-from-peft: method '{method_name}' cannot start from a peft adapter: "
                          f"{no_peft_reason(method_name)}")
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
