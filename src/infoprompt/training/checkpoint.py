"""Checkpoints: trainable tensors as safetensors plus one JSON file; never pickle.

Layout of a checkpoint directory: `model.safetensors` (the method's trainable parameters and
buffers, never the backbone) and `config.json` (method, its config, task, template, backbone
fingerprint, metrics, and the SHA-256 of the tensor file). Each file is written to a temporary
name and moved into place atomically, tensors first, so `config.json` is the commit record: a
reader that finds it also finds the matching tensors, and a torn or edited tensor file is caught
by the hash.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from infoprompt.atomic_files import atomic_write_bytes, atomic_write_json  # noqa: F401  (re-exported)
from infoprompt.errors import CheckpointError

FORMAT_VERSION = 1
TENSORS = "model.safetensors"
CONFIG = "config.json"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> str:
    """Atomically save a flat tensor dict as safetensors; returns the file's SHA-256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, tmp, metadata=metadata)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        digest = _sha256(Path(tmp))
        os.replace(tmp, path)
        return digest
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_checkpoint(directory: str | Path, method, meta: dict) -> Path:
    """Save `method.trainable_state_dict()` and `meta` (plus method name/config/task) atomically."""
    directory = Path(directory)
    digest = save_tensors(directory / TENSORS, method.trainable_state_dict(), {"format": "infoprompt"})
    record = {
        "format_version": FORMAT_VERSION,
        "method": method.method_name,
        "method_config": method.config.to_dict(),
        "task": method.task.to_dict(),
        "readout": method.readout,
        "backbone": {"name": method.backbone_info.name, **method.backbone_info.fingerprint()},
        "tensors_sha256": digest,
        **meta,
    }
    atomic_write_json(directory / CONFIG, record)
    return directory


def read_checkpoint_config(directory: str | Path) -> dict:
    directory = Path(directory)
    path = directory / CONFIG
    if not directory.is_dir():
        raise CheckpointError(f"{directory}: checkpoint directory not found")
    if not path.is_file():
        raise CheckpointError(f"{path}: missing (not a checkpoint directory, or the run never saved one)")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path}: corrupted JSON ({err})") from None
    if not isinstance(record, dict) or record.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: not an infoprompt checkpoint of format {FORMAT_VERSION}")
    for key in ("method", "method_config", "task", "backbone", "tensors_sha256"):
        if key not in record:
            raise CheckpointError(f"{path}: field '{key}' missing")
    return record


def load_tensors(directory: str | Path, expected_sha256: str | None = None) -> dict[str, torch.Tensor]:
    path = Path(directory) / TENSORS
    if not path.is_file():
        raise CheckpointError(f"{path}: missing")
    if expected_sha256 is not None and _sha256(path) != expected_sha256:
        raise CheckpointError(f"{path}: contents do not match the hash in {CONFIG} (truncated or corrupted)")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path}: cannot read safetensors ({err})") from None


def check_backbone(record: dict, backbone) -> None:
    """Refuse a checkpoint made for another backbone, with the first difference named."""
    saved = record["backbone"]
    current = backbone.fingerprint()
    for key in ("model_type", "hidden_size", "vocab_size", "num_layers", "embedding_digest", "family"):
        if key in saved and saved[key] != current[key]:
            raise CheckpointError(
                f"checkpoint was trained on backbone '{saved.get('name')}' ({key}={saved[key]}), "
                f"but the backbone given is '{backbone.name}' ({key}={current[key]})"
            )


def restore_tensors(directory: str | Path, method, record: dict) -> None:
    """Copy a checkpoint's verified tensors into `method`, built from `record` (see `infoprompt.run`).

    The method must already hold every module the record implies (e.g. the XPrompt masker when
    `record["pruning"]` is set): names and shapes must match exactly, or nothing is loaded."""
    tensors = load_tensors(directory, record["tensors_sha256"])
    expected = method.trainable_state_dict()
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        raise CheckpointError(f"{directory}: tensors do not match method '{record['method']}' (missing {missing[:3]}, unexpected {extra[:3]})")
    for name, value in tensors.items():
        if value.shape != expected[name].shape:
            raise CheckpointError(
                f"{directory}: tensor '{name}' has shape {tuple(value.shape)}, expected {tuple(expected[name].shape)} "
                "(different hidden size, prompt count or label set)"
            )
    state = dict(method.named_parameters())
    state.update(dict(method.named_buffers()))
    with torch.no_grad():
        for name, value in tensors.items():
            state[name].copy_(value)
    method.eval()


def load_checkpoint(directory: str | Path, backbone=None):
    """Rebuild the method from a checkpoint: returns (method, record). Loads the backbone if not given.

    The rebuild is the run assembly's (`infoprompt.run.assemble_run`), the path that trained it; this
    module only verifies and copies tensors (`restore_tensors`)."""
    from infoprompt.run import assemble_run  # run.py sits above training/: imported on use

    run = assemble_run(checkpoint=directory, backbone=backbone, splits=())
    return run.method, run.record
