"""Checkpoints: trainable tensors as safetensors plus one JSON file; never pickle.

Layout of a checkpoint directory: `model.safetensors` (the method's trainable parameters and
buffers, never the backbone) and `config.json` (method, its config, task, template, backbone
fingerprint, metrics, the SHA-256 of the tensor file, the tensors' shapes, and the SHA-256 of the
record itself). A save is one atomic step (`commit_pair`): the tensors go to `.pending/<sha256>`, then
`config.json` (naming that hash) replaces the old record in one rename, the commit point, then the
tensors are renamed into place; a reader that finds the record's tensors still pending reads them there.
So a kill at any instant leaves the previous complete checkpoint or the new one, never a mix, and
checkpoints written before this scheme (no `.pending`) read exactly as before.

Verify before use: `read_checkpoint_config` checks the record against its own hash, the tensor file
against the record's hash, and the tensor file's header against the recorded shapes before any value
in the record is acted on (no backbone is loaded, nothing is allocated from an unverified number);
`check_backbone` then requires the full backbone fingerprint, and `check_shapes` builds the method on PyTorch's
"meta" device (shapes only, no memory) to compare the sizes the config implies with the saved
shapes, so a config claiming `n_prompts=1e12` is refused before any allocation.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save, save_file  # noqa: F401

from infoprompt.atomic_files import (
    atomic_write_bytes,
    atomic_write_json,
    finite_json,
    fsync_dir,
)
from infoprompt.errors import CheckpointError
from infoprompt.rundir import CONFIG, PENDING, TENSORS

FORMAT_VERSION = 1


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tensor_bytes(tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> bytes:
    """A flat tensor dict serialised as safetensors (the same bytes `save_file` writes)."""
    return save({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, metadata=metadata)


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> str:
    """Atomically save a flat tensor dict as safetensors; returns the file's SHA-256.

    Serialised in memory and written by our own temp-and-rename, so a full disk is a plain OSError
    (ENOSPC: one line) rather than a safetensors error, and a symlink at `path` is replaced, not followed."""
    data = tensor_bytes(tensors, metadata)
    atomic_write_bytes(Path(path), data)
    return hashlib.sha256(data).hexdigest()


def commit_pair(folder: Path, tensor_name: str, data: bytes, record_name: str, record: dict) -> None:
    """Replace a (tensor file, JSON record) pair so that a kill at any instant leaves a complete pair.

    1. the tensors go to `folder/.pending/<sha256>.safetensors` (the old pair is untouched);
    2. the record, naming that hash, replaces the old one in one rename: the commit point;
    3. the pending tensors are renamed over the old tensor file.
    A reader that finds the record's hash only in `.pending` (a kill between 2 and 3) reads it there
    (`committed_tensor_file`), so before 2 the previous pair is read, from 2 on the new one."""
    pending = folder / PENDING / f"{record['tensors_sha256']}.safetensors"
    atomic_write_bytes(pending, data)
    atomic_write_json(folder / record_name, record)
    os.replace(pending, folder / tensor_name)
    fsync_dir(folder)
    for stale in (folder / PENDING).glob("*"):  # a kill between steps leaves older pending files behind
        stale.unlink(missing_ok=True)
    try:
        (folder / PENDING).rmdir()
    except OSError:
        pass


def committed_tensor_file(folder: Path, tensor_name: str, sha256: str) -> Path:
    """The tensor file a committed record names: in place, or still pending (see `commit_pair`)."""
    path = folder / tensor_name
    if path.is_file() and _sha256(path) == sha256:
        return path
    pending = folder / PENDING / f"{sha256}.safetensors"
    if pending.is_file() and _sha256(pending) == sha256:
        return pending
    return path


def record_digest(record: dict) -> str:
    """SHA-256 of a record's canonical JSON, its own `record_sha256` field left out."""
    body = {k: v for k, v in record.items() if k != "record_sha256"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def seal_record(record: dict) -> dict:
    """`record` with `record_sha256` set (any tool that rewrites a config.json must reseal it)."""
    return {**record, "record_sha256": record_digest(record)}


def save_checkpoint(directory: str | Path, method, meta: dict) -> Path:
    """Save `method.checkpoint_state()` (its tensors and config: a residual prompt folded) and `meta` (plus method
    name/task) as one atomic step (`commit_pair`): a kill at any instant leaves the previous checkpoint or this one,
    loadable."""
    directory = Path(directory)
    tensors, method_config = method.checkpoint_state()
    data = tensor_bytes(tensors, {"format": "infoprompt"})
    record = {
        "format_version": FORMAT_VERSION,
        "method": method.method_name,
        "method_config": method_config.to_dict(),
        "task": method.task.to_dict(),
        "readout": method.readout,
        "backbone": {"name": method.backbone_info.name, **method.backbone_info.fingerprint()},
        "tensors_sha256": hashlib.sha256(data).hexdigest(),
        "tensor_shapes": {name: list(value.shape) for name, value in tensors.items()},
        **meta,
    }
    commit_pair(directory, TENSORS, data, CONFIG, seal_record(finite_json(json.loads(json.dumps(record, default=str)))))
    return directory


def read_checkpoint_config(directory: str | Path) -> dict:
    """The checkpoint's record, verified (record hash, tensor hash, tensor shapes) before it is returned."""
    directory = Path(directory)
    path = directory / CONFIG
    if directory.exists() and not directory.is_dir():
        raise CheckpointError(f"{directory}: is a file; a checkpoint is a directory ({CONFIG}, {TENSORS})")
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
    path = committed_tensor_file(Path(directory), TENSORS, record["tensors_sha256"])
    if not path.is_file():
        raise CheckpointError(f"{path}: missing")
    if _sha256(path) != record["tensors_sha256"]:
        raise CheckpointError(f"{path}: contents do not match the hash in {CONFIG} (truncated or corrupted)")
    with _readable(path):
        with safe_open(str(path), framework="pt") as handle:
            shapes = {name: list(handle.get_slice(name).get_shape()) for name in handle.keys()}
    recorded = record.get("tensor_shapes")
    if recorded is not None and recorded != shapes:
        raise CheckpointError(f"{directory / CONFIG}: field 'tensor_shapes' does not match {TENSORS}")
    record["tensor_shapes"] = shapes


def load_tensors(directory: str | Path, expected_sha256: str | None = None) -> dict[str, torch.Tensor]:
    path = Path(directory) / TENSORS
    if expected_sha256 is not None:
        path = committed_tensor_file(Path(directory), TENSORS, expected_sha256)
    if not path.is_file():
        raise CheckpointError(f"{path}: missing")
    if expected_sha256 is not None and _sha256(path) != expected_sha256:
        raise CheckpointError(f"{path}: contents do not match the hash in {CONFIG} (truncated or corrupted)")
    return read_tensor_file(path)


def read_tensor_file(path: Path) -> dict[str, torch.Tensor]:
    """Every tensor of a safetensors file; a malformed one (a garbage or truncated header, a header length
    beyond the file, offsets or shapes that do not fit) is one CheckpointError naming the file."""
    with _readable(path):
        return load_file(str(path))


@contextlib.contextmanager
def _readable(path: Path) -> Iterator[None]:
    """safetensors' own errors while reading `path` (its header is parsed by the library, never by hand)
    as one CheckpointError naming the file."""
    try:
        yield
    except (SafetensorError, OSError, ValueError, OverflowError) as err:
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise CheckpointError(f"{path}: cannot read safetensors ({reason})") from None


FINGERPRINT_KEYS = ("model_type", "hidden_size", "vocab_size", "num_layers", "embedding_digest")
DIGEST_KEYS = {"weights_digest": "its weights are not the same (digest of every weight)",
               "tokenizer_digest": "its tokenizer is not the same (vocabulary or special tokens)"}


def check_backbone(record: dict, backbone) -> None:
    """Refuse a checkpoint made for another backbone (the whole fingerprint is required)."""
    saved = record["backbone"]
    current = backbone.fingerprint()
    missing = [key for key in FINGERPRINT_KEYS if not isinstance(saved, dict) or key not in saved]
    if missing:
        raise CheckpointError(f"checkpoint field 'backbone.{missing[0]}' missing: the backbone fingerprint is "
                              "required to load a checkpoint")
    # "family": recorded since backbone families; the two digests since issue 25 (older records lack them
    # and are checked on what they hold, the first embedding rows included)
    for key in (*FINGERPRINT_KEYS, "family", *DIGEST_KEYS):
        if key in saved and saved[key] != current.get(key):
            what = DIGEST_KEYS.get(key, f"{key}={saved[key]} vs {current.get(key)}")
            raise CheckpointError(
                f"checkpoint was trained on backbone '{saved.get('name')}', but the backbone given ('{backbone.name}') "
                f"differs: {what}; load it onto the backbone it was trained on"
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

