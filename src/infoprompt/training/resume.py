"""Resumable training state: everything `fit` needs to continue a killed run bit-for-bit.

A run directory's `resume/` folder holds `state.safetensors` (the method's trainable tensors,
the optimizer's tensors, RNG states, and any run-time state a method exports, e.g. the prompt-free
cache) and `state.json` (step counters, best metrics, scheduler state, the optimizer's scalar
state, the training config, the content digests of the training and dev examples, and the SHA-256 of
the tensor file), sealed like a checkpoint record (`record_sha256`). A save is one atomic step
(`checkpoint.commit_pair`: tensors pending, then the sealed `state.json` as the commit point), so a
`kill -9` at any moment leaves either the previous state or the new one, never a mix; an edited
`state.json` is refused as a whole.

Why bit-for-bit: `--resume` promises the same final metric as an uninterrupted run with the same
seed. That holds only if the data order, every RNG stream, the optimizer moments and the cached
prompt-free encodings (whose float rounding depends on the batch they were first computed in)
are all restored, not recomputed.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import numpy as np
import torch

from infoprompt.errors import CheckpointError, ConfigError
from infoprompt.rundir import RESUME_DIR, STATE_JSON, STATE_TENSORS
from infoprompt.training.checkpoint import (
    PENDING,
    _sha256,
    commit_pair,
    committed_tensor_file,
    read_tensor_file,
    record_digest,
    seal_record,
    tensor_bytes,
)
from infoprompt.training.state import LoopPosition

STATE_VERSION = 2  # 2: sealed (record_sha256), written by commit_pair; 1: unsealed


def _rng_tensors() -> dict[str, torch.Tensor]:
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = state
    return tensors


def _python_rng() -> dict:
    version, state, gauss = random.getstate()
    np_state = np.random.get_state()
    return {
        "python": [version, list(state), gauss],
        "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
    }


def _restore_rng(tensors: dict[str, torch.Tensor], saved: dict) -> None:
    torch.set_rng_state(tensors["rng.torch"])
    cuda_states = [tensors[k] for k in sorted(k for k in tensors if k.startswith("rng.cuda."))]
    if cuda_states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda_states)
    version, state, gauss = saved["python"]
    random.setstate((version, tuple(state), gauss))
    name, keys, pos, has_gauss, cached = saved["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))


def _split_optimizer(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Optimizer state as flat tensors (for safetensors) plus a JSON-able remainder; no pickle."""
    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict] = {}
    for pid, slots in state["state"].items():
        for key, value in slots.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{pid}.{key}"] = value
            else:
                scalars.setdefault(str(pid), {})[key] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _join_optimizer(tensors: dict[str, torch.Tensor], saved: dict) -> dict:
    state: dict[int, dict] = {}
    for name, value in tensors.items():
        if name.startswith("optim."):
            _, pid, key = name.split(".", 2)
            state.setdefault(int(pid), {})[key] = value
    for pid, slots in saved["scalars"].items():
        state.setdefault(int(pid), {}).update(slots)
    return {"state": state, "param_groups": saved["param_groups"]}


def save_training_state(run_dir: Path, method, optimizer, scheduler, position: LoopPosition, config: dict) -> None:
    """Write the resume state for `run_dir` atomically (tensors first, then the JSON record)."""
    folder = Path(run_dir) / RESUME_DIR
    tensors = {f"param.{k}": v for k, v in method.trainable_state_dict().items()}
    optim_tensors, optim_rest = _split_optimizer(optimizer)
    tensors.update(optim_tensors)
    tensors.update(_rng_tensors())
    tensors.update({f"run.{k}": v for k, v in method.export_run_state().items()})
    data = tensor_bytes(tensors, {"format": "infoprompt-resume"})
    record = {
        "version": STATE_VERSION,
        "tensors_sha256": hashlib.sha256(data).hexdigest(),
        "position": position.__dict__,
        "optimizer": optim_rest,
        "scheduler": scheduler.state_dict(),
        "rng": _python_rng(),
        "config": config,
    }
    folder.mkdir(parents=True, exist_ok=True)
    commit_pair(folder, STATE_TENSORS, data, STATE_JSON, seal_record(json.loads(json.dumps(record))))


DATA_DIGESTS = ("train_sha256", "dev_sha256")


def features_digest(features) -> str:
    """SHA-256 of encoded examples (token ids, labels, groups): what a resumed run must train and select on.
    Content, not counts: a training file edited in place, or swapped for another of the same size, differs."""
    digest = hashlib.sha256()
    for feature in features:
        digest.update(json.dumps([list(map(int, feature.input_ids)), getattr(feature, "label", None),
                                  getattr(feature, "group", None)], default=str).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def data_digests(train_features, dev_features) -> dict[str, str]:
    """The resume record's content digests of the training and dev examples."""
    return {"train_sha256": features_digest(train_features), "dev_sha256": features_digest(dev_features)}


def has_training_state(run_dir: Path) -> bool:
    return (Path(run_dir) / RESUME_DIR / STATE_JSON).is_file()


def clear_training_state(run_dir: Path) -> None:
    """Remove a run directory's resume state (a fresh run must not inherit an older run's state)."""
    folder = Path(run_dir) / RESUME_DIR
    for name in (STATE_JSON, STATE_TENSORS):  # the commit record first, so a half-removal reads as "none"
        (folder / name).unlink(missing_ok=True)
    for stale in (folder / PENDING).glob("*"):
        stale.unlink(missing_ok=True)


def load_training_state(run_dir: Path, method, optimizer, scheduler, config: dict) -> LoopPosition:
    """Restore method, optimizer, scheduler and RNG from `run_dir`; return where the loop stands."""
    folder = Path(run_dir) / RESUME_DIR
    path = folder / STATE_JSON
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:
        raise CheckpointError(f"{path}: unreadable resume state ({err})") from None
    if not isinstance(record, dict) or record.get("version") not in (1, STATE_VERSION):
        version = record.get("version") if isinstance(record, dict) else None
        raise CheckpointError(f"{path}: resume state of version {version}, expected {STATE_VERSION}")
    if record["version"] >= 2 and record.get("record_sha256") != record_digest(record):
        raise CheckpointError(f"{path}: contents do not match its 'record_sha256' (edited or corrupted); "
                              "nothing in it was used: rerun without --resume (or with --overwrite)")
    if not isinstance(record.get("config"), dict):
        raise CheckpointError(f"{path}: field 'config' missing or not an object")
    saved_config = dict(record["config"])
    for key in DATA_DIGESTS:  # states saved before the digests existed: checked on the row counts alone
        if key not in saved_config:
            config = {k: v for k, v in config.items() if k != key}
    record["config"] = saved_config
    differing = sorted(k for k in set(config) | set(record["config"]) if config.get(k) != record["config"].get(k))
    if differing:
        key = differing[0]
        if key in DATA_DIGESTS:
            split = "training" if key == "train_sha256" else "dev"
            raise ConfigError(f"--resume: the {split} examples differ from those {path} was saved with (content "
                              "digest); resume on the original files or use a new --output")
        raise ConfigError(
            f"--resume: {path} was saved with {key}={record['config'].get(key)!r}, this run has {key}={config.get(key)!r}; "
            "resume with the original settings or use a new --output"
        )
    tensor_path = committed_tensor_file(folder, STATE_TENSORS, str(record.get("tensors_sha256")))
    if not tensor_path.is_file() or _sha256(tensor_path) != record["tensors_sha256"]:
        raise CheckpointError(f"{tensor_path}: missing, truncated or corrupted (hash differs from {STATE_JSON})")
    tensors = read_tensor_file(tensor_path)
    params = {k[len("param."):]: v for k, v in tensors.items() if k.startswith("param.")}
    expected = method.trainable_state_dict()
    if set(params) != set(expected):
        raise CheckpointError(f"{tensor_path}: tensors do not match this method (was the method or its options changed?)")
    live = dict(method.named_parameters())
    live.update(dict(method.named_buffers()))
    with torch.no_grad():
        for name, value in params.items():
            live[name].copy_(value)
    method.import_run_state({k[len("run."):]: v for k, v in tensors.items() if k.startswith("run.")})
    optimizer.load_state_dict(_join_optimizer(tensors, record["optimizer"]))
    scheduler.load_state_dict(record["scheduler"])
    _restore_rng(tensors, record["rng"])
    return LoopPosition(**record["position"])
