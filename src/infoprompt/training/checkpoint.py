"""Checkpoints: trainable tensors as safetensors plus one JSON file; never pickle.

Layout of a checkpoint directory: `model.safetensors` (the method's trainable parameters and
buffers, never the backbone) and `config.json` (method, its config, task, template, backbone
fingerprint, metrics, the SHA-256 of the tensor file, the tensors' shapes, and the SHA-256 of the
record itself). Each file is written to a temporary name and moved into place atomically, tensors
first, so `config.json` is the commit record: a reader that finds it also finds the matching tensors.

Verify before use: `read_checkpoint_config` checks the record against its own hash, the tensor file
against the record's hash, and the tensor file's header against the recorded shapes before any value
in the record is acted on (no backbone is loaded, nothing is allocated from an unverified number);
`check_backbone` then requires the full backbone fingerprint, and `check_shapes` builds the method on PyTorch's
"meta" device (shapes only, no memory) to compare the sizes the config implies with the saved
shapes, so a config claiming `n_prompts=1e12` is refused before any allocation.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from infoprompt.atomic_files import atomic_write_bytes, atomic_write_json, current_umask, finite_json, make_temp  # noqa: F401
from infoprompt.errors import CheckpointError

FORMAT_VERSION = 1
TENSORS = "model.safetensors"
CONFIG = "config.json"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> str:
    """Atomically save a flat tensor dict as safetensors; returns the file's SHA-256."""
    fd, tmp = make_temp(path)
    os.close(fd)
    try:
        save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, tmp, metadata=metadata)
        os.chmod(tmp, 0o666 & ~current_umask())  # save_file recreates the file: set the umask's mode again
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        digest = _sha256(Path(tmp))
        os.replace(tmp, path)
        return digest
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def record_digest(record: dict) -> str:
    """SHA-256 of a record's canonical JSON, its own `record_sha256` field left out."""
    body = {k: v for k, v in record.items() if k != "record_sha256"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def seal_record(record: dict) -> dict:
    """`record` with `record_sha256` set (any tool that rewrites a config.json must reseal it)."""
    return {**record, "record_sha256": record_digest(record)}


def save_checkpoint(directory: str | Path, method, meta: dict) -> Path:
    """Save `method.checkpoint_state()` (its tensors and config) and `meta` (plus method name/task) atomically."""
    directory = Path(directory)
    tensors, method_config = method.checkpoint_state()
    digest = save_tensors(directory / TENSORS, tensors, {"format": "infoprompt"})
    record = {
        "format_version": FORMAT_VERSION,
        "method": method.method_name,
        "method_config": method_config.to_dict(),
        "task": method.task.to_dict(),
        "readout": method.readout,
        "backbone": {"name": method.backbone_info.name, **method.backbone_info.fingerprint()},
        "tensors_sha256": digest,
        "tensor_shapes": {name: list(value.shape) for name, value in tensors.items()},
        **meta,
    }
    atomic_write_json(directory / CONFIG, seal_record(finite_json(json.loads(json.dumps(record, default=str)))))
    return directory


def read_checkpoint_config(directory: str | Path) -> dict:
    """The checkpoint's record, verified (record hash, tensor hash, tensor shapes) before it is returned."""
    directory = Path(directory)
    path = directory / CONFIG
    if directory.exists() and not directory.is_dir():
        raise CheckpointError(f"{directory}: is a file; a checkpoint is a directory (config.json, model.safetensors)")
    if not directory.is_dir():
        raise CheckpointError(f"{directory}: checkpoint directory not found")
    if not path.is_file():
        raise CheckpointError(f"{path}: missing (not a checkpoint directory, or the run never saved one)")
    try:
        record = json.loads(path.read_text(encoding="utf-8"), parse_constant=_no_constant)
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as err:
        raise CheckpointError(f"{path}: corrupted JSON ({err})") from None
    except OSError as err:
        raise CheckpointError(f"{path}: cannot read ({err.strerror or err})") from None
    if not isinstance(record, dict) or record.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: not an infoprompt checkpoint of format {FORMAT_VERSION}")
    for key in ("method", "method_config", "task", "backbone", "tensors_sha256", "record_sha256"):
        if key not in record:
            hint = " (saved by an older version without a record hash: retrain it)" if key == "record_sha256" else ""
            raise CheckpointError(f"{path}: field '{key}' missing{hint}")
    if record_digest(record) != record["record_sha256"]:
        raise CheckpointError(f"{path}: contents do not match its 'record_sha256' (edited or corrupted); "
                              "nothing in it was used")
    verify_tensor_file(directory, record)
    return record


def _no_constant(name: str):
    raise ValueError(f"bare {name} is not JSON")


def verify_tensor_file(directory: Path, record: dict) -> None:
    """The tensor file's hash matches the record, and its header's shapes match the recorded ones
    (read from the header alone, through safetensors, without loading a tensor)."""
    path = Path(directory) / TENSORS
    if not path.is_file():
        raise CheckpointError(f"{path}: missing")
    if _sha256(path) != record["tensors_sha256"]:
        raise CheckpointError(f"{path}: contents do not match the hash in {CONFIG} (truncated or corrupted)")
    try:
        with safe_open(str(path), framework="pt") as handle:
            shapes = {name: list(handle.get_slice(name).get_shape()) for name in handle.keys()}
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path}: cannot read safetensors ({err})") from None
    recorded = record.get("tensor_shapes")
    if recorded is not None and recorded != shapes:
        raise CheckpointError(f"{directory / CONFIG}: field 'tensor_shapes' does not match {TENSORS}")
    record["tensor_shapes"] = shapes


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


FINGERPRINT_KEYS = ("model_type", "hidden_size", "vocab_size", "num_layers", "embedding_digest")


def check_backbone(record: dict, backbone) -> None:
    """Refuse a checkpoint made for another backbone (the whole fingerprint is required)."""
    saved = record["backbone"]
    current = backbone.fingerprint()
    missing = [key for key in FINGERPRINT_KEYS if not isinstance(saved, dict) or key not in saved]
    if missing:
        raise CheckpointError(f"checkpoint field 'backbone.{missing[0]}' missing: the backbone fingerprint is "
                              "required to load a checkpoint")
    for key in (*FINGERPRINT_KEYS, "family"):  # "family": recorded since backbone families; older records lack it
        if key in saved and saved[key] != current[key]:
            raise CheckpointError(
                f"checkpoint was trained on backbone '{saved.get('name')}' ({key}={saved[key]}), "
                f"but the backbone given is '{backbone.name}' ({key}={current[key]})"
            )


def check_shapes(record: dict, backbone, build=None) -> None:
    """Build the method the record describes on the meta device (shapes without memory) and compare
    its trainable tensors with the saved ones: a size in the config that the weights do not back
    (a prompt count, a rank, a label set) is refused here, before the real build allocates it.

    `build`: the builder the caller itself uses (the run assembly passes its own), else `build_method`."""
    from infoprompt.backbones import Backbone
    from infoprompt.data.tasks import TaskSpec
    from infoprompt.methods import build_method

    build = build or build_method

    saved = record.get("tensor_shapes")
    if saved is None:  # not verified by read_checkpoint_config: nothing to compare with
        return
    try:
        with torch.device("meta"):
            shadow_model = type(backbone.model)(backbone.model.config)
        for param in shadow_model.parameters():
            param.requires_grad_(False)
        shadow = Backbone(backbone.name, shadow_model, backbone.tokenizer, backbone.has_mlm_head, backbone.family)
        task = TaskSpec.from_dict(record["task"])
        with torch.device("meta"):
            method = build(record["method"], shadow, task, dict(record["method_config"]))
            if record.get("pruning"):  # an XPrompt checkpoint: its masker's tensors are saved too
                method.attach_prompt_masker(int(record["pruning"]["pieces"]))
            expected = {name: list(value.shape) for name, value in method.trainable_state_dict().items()}
    except (TypeError, ValueError, KeyError) as err:
        raise CheckpointError(f"{CONFIG}: the method config does not describe a valid '{record['method']}' "
                              f"({type(err).__name__}: {err})") from None
    except (RuntimeError, NotImplementedError, AttributeError):
        return  # a model that cannot be built on the meta device: the post-build shape check still applies
    diff = sorted(set(expected) ^ set(saved)) or sorted(n for n in expected if expected[n] != saved[n])
    if diff:
        name = diff[0]
        raise CheckpointError(
            f"{CONFIG}: method config implies tensor '{name}' of shape {expected.get(name)}, but {TENSORS} holds "
            f"{saved.get(name)} (the config's sizes do not match the weights; nothing was allocated)"
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
