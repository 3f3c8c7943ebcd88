"""The checkpoint keeper: the run directory's resume state, and what a run that failed leaves behind.

The kept checkpoint itself is written by the caller's `on_best` (the API saves it); the keeper saves
and restores the resume state (`training.resume`) and says, when training diverges, whether a kept
checkpoint is on disk.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from infoprompt.atomic_files import atomic_write_bytes
from infoprompt.prompting.template import Feature
from infoprompt.rundir import CONFIG, METRICS_LOG
from infoprompt.training.config import TrainerConfig
from infoprompt.training.records import truncate_log
from infoprompt.training.resume import (
    clear_training_state,
    data_digests,
    has_training_state,
    load_training_state,
    save_training_state,
)
from infoprompt.training.selection import resolve_patience
from infoprompt.training.state import LoopPosition


def state_config(config: TrainerConfig, resume_config: dict | None, train_features: list[Feature],
                 dev_features: list[Feature]) -> dict:
    """What a saved resume state must agree with. Options that do not change the numbers are left out,
    and fp32 precision is left implicit so states saved before `precision` existed still resume; the
    examples are compared by content, not only by their row counts."""
    free = ("progress", "device", "save_every", "compile")
    # Values older states lack: they were saved before the option existed, under the behaviour named here
    # (states saved before issue 17 selected on, and reported, the full dev split and never stopped early).
    implicit = {"precision": "fp32", "optimizer": "adamw", "bucket_batches": 0, "select_on": "dev", "patience": 0,
                "eval_subsample": None, "grad_accum": 1, "max_steps": None}
    resolved = {**asdict(config), "patience": resolve_patience(config.select_on, config.patience)}
    trainer = {k: v for k, v in resolved.items() if k not in free and implicit.get(k, object()) != v}
    record = json.loads(json.dumps({**(resume_config or {}), "n_train": len(train_features),
                                    "n_dev": len(dev_features), "trainer": trainer}))
    record.update(data_digests(train_features, dev_features))
    return record


class Keeper:
    """Saves and restores one run directory's resume state (rank 0 writes; every rank restores)."""

    def __init__(self, run_dir: Path, method, optimizer, scheduler, config: dict, main: bool, saves: bool):
        self.run_dir, self.method, self.optimizer, self.scheduler = Path(run_dir), method, optimizer, scheduler
        self.config, self.main, self.saves = config, main, saves

    def start(self, resume: bool) -> LoopPosition:
        """The position to start from: the saved one under `resume` (the log cut back to it), else a fresh run,
        which never mixes its log or resume state with an older run's."""
        if resume and has_training_state(self.run_dir):
            pos = load_training_state(self.run_dir, self.method, self.optimizer, self.scheduler, self.config)
            if self.main:
                truncate_log(self.run_dir / METRICS_LOG, pos.step, closing=pos.finished)
            return pos
        if self.main:
            # Replaced, not unlinked and recreated: a new inode tells watchers (fault_injection) the new log.
            atomic_write_bytes(self.run_dir / METRICS_LOG, b"")
            clear_training_state(self.run_dir)
        return LoopPosition()

    def save(self, pos: LoopPosition) -> None:
        if self.main:
            save_training_state(self.run_dir, self.method, self.optimizer, self.scheduler, pos, self.config)

    def kept_checkpoint(self, best_step: int) -> str:
        """What a diverged run leaves behind, as it is on disk: the checkpoint of this run's best
        evaluation, or the plain fact that there is none (before the first evaluation, or nothing saves)."""
        record = self.run_dir / CONFIG
        if self.saves and best_step >= 0 and record.is_file():
            return f"the last good checkpoint (step {best_step}) is kept: {record}"
        return "no checkpoint was saved (no evaluation had finished yet); lower --lr or check the settings"
