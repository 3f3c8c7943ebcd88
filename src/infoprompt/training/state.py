"""Where the loop stands (`LoopPosition`, saved with the resume state) and what it will do (`LoopPlan`).

In the spirit of the HF Trainer's `TrainerState`: the parts of the loop (evaluator, checkpoint keeper,
log) read and update one position instead of sharing closure variables.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from infoprompt.training.config import TrainerConfig


@dataclass
class LoopPosition:
    """Where the loop stands: `step` optimizer steps done, `batch_in_epoch` of epoch `epoch` (0-based).

    Saved field for field in the resume record (`training.resume`), so a field added here changes its format."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    train_seconds: float = 0.0
    best: dict[str, float] = field(default_factory=dict)
    best_step: int = -1
    history: list[dict] = field(default_factory=list)
    finished: bool = False

    def advance(self, seconds: float) -> None:
        """One optimizer step done, which took `seconds`."""
        self.step += 1
        self.batch_in_epoch += 1
        self.train_seconds += seconds

    def keep(self, record: dict, better: bool) -> None:
        """An evaluation joins the history; when the protocol prefers it, its scores become the kept ones."""
        self.history.append(record)
        if better:
            self.best, self.best_step = record["metrics"], self.step


def steps_per_epoch(rows: int, config: TrainerConfig) -> int:
    """Optimizer steps in one pass over `rows` training examples (each step takes batch_size × grad_accum)."""
    return math.ceil(rows / (config.batch_size * config.grad_accum))


@dataclass(frozen=True)
class LoopPlan:
    """The run's length, fixed before its first step: --max-steps replaces --epochs, and the run then takes
    exactly that many optimizer steps, over as many passes as needed."""

    batches_per_epoch: int
    total_steps: int
    epochs: int

    @classmethod
    def of(cls, config: TrainerConfig, n_train: int) -> LoopPlan:
        per_epoch = steps_per_epoch(n_train, config)
        total = config.max_steps or config.epochs * per_epoch
        return cls(per_epoch, total, math.ceil(total / per_epoch) if config.max_steps else config.epochs)

    def epoch_ends(self, pos: LoopPosition) -> bool:
        """The step just done ends its epoch (its last batch, or the run's last step)."""
        return pos.batch_in_epoch == self.batches_per_epoch or pos.step == self.total_steps

    def done(self, pos: LoopPosition, stopped: bool) -> bool:
        """Nothing is left to run: every epoch and step is done, or the run stopped early."""
        return pos.epoch >= self.epochs or pos.step >= self.total_steps or stopped
