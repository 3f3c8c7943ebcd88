"""The training loop's own settings (`TrainerConfig`; the device they name is resolved by `infoprompt.devices`).

The loop knows nothing else about a run: `infoprompt.config.TrainConfig` extends this class with the
task, method and run options, and hands the loop its part field by field (`TrainerConfig.of`). Like
`infoprompt.config`, this module imports no torch at import time (the CLI's `--help` stays fast).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from infoprompt.devices import DEVICE_PATTERN
from infoprompt.errors import ConfigError
from infoprompt.schema import INT_MAX, SEED_MAX, check_fields, setting
from infoprompt.training.selection import SELECT_ON, resolve_patience


@dataclass
class TrainerConfig:
    """The training loop's settings (the loop knows nothing else about a run)."""

    epochs: int = setting(30, "passes over the training set", min=1, max=1_000_000)
    batch_size: int = setting(8, "training examples per forward pass (per optimizer step unless --grad-accum)",
                              min=1, max=1_000_000)
    grad_accum: int = setting(1, "accumulate the gradients of N batches before each optimizer step (an effective "
                                 "batch of N x --batch-size examples, in N forwards)", min=1, max=1_000_000)
    max_steps: int | None = setting(None, "stop after exactly N optimizer steps (replaces --epochs)", min=1,
                                    max=INT_MAX, default_text="--epochs passes")
    lr: float | None = setting(None, "learning rate", above=0, max=1e3,
                               default_text="the method's own: 1e-3 for prompt methods, lower for fine-tuning")
    weight_decay: float = setting(0.0, "AdamW/Adafactor weight decay", min=0, max=1e3)
    schedule: str = setting("constant", "learning-rate schedule (linear: decay to 0 at the last step)",
                            choices=("constant", "linear"))
    warmup_ratio: float = setting(0.0, "fraction of the steps spent warming the learning rate up from 0",
                                  min=0, below=1)
    max_grad_norm: float | None = setting(1.0, "clip the gradient norm to this (none: no clipping)", above=0,
                                          max=1e9)
    eval_every: int | None = setting(None, "evaluate every N steps", min=1, group="evaluation",
                                     default_text="once per epoch")
    eval_batch_size: int = setting(64, "examples per evaluation batch", min=1, max=1_000_000, group="evaluation")
    eval_subsample: int | None = setting(
        None, "score in-training evaluations on a fixed seeded subset of N dev examples (the final and the "
              "selected checkpoint's scores always use the full dev split)", min=2, group="evaluation",
        default_text="the full dev split")
    save_every: int | None = setting(200, "steps between resume-state saves (also saved after every evaluation)",
                                     min=1, group="run")
    seed: int = setting(0, "seed of the few-shot draw, the initial values and the data order", min=0, max=SEED_MAX)
    progress: bool = setting(True, "progress bars", cli=False)
    device: str = setting("auto", "auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps", group="run")
    precision: str = setting("fp32", "bf16: autocast around every forward (weights and optimizer stay fp32)",
                             choices=("fp32", "bf16"), group="run")
    compile: bool = setting(False, "torch.compile the backbone (docs/performance.md says when it pays)", group="run")
    optimizer: str = setting("adamw", "adafactor: XPrompt's settings (constant lr, no relative step/scaling)",
                             choices=("adamw", "adafactor"))
    select_on: str = setting(
        "dev-split", "which split picks the kept checkpoint; the reported score never chose itself: dev-split (a "
                     "seeded half of dev selects, the other half is reported), test (dev selects, the labelled test "
                     "split is reported), few-shot (LM-BFF: a seeded dev draw of k per class from the training pool, "
                     "disjoint from the training draw, selects; the full test split, else the full dev split, is "
                     "reported; needs --shots-per-class or --official-draw), last (no selection), dev (legacy, "
                     "optimistic: dev selects and is reported)",
        choices=SELECT_ON, group="evaluation")
    patience: int | None = setting(None, "stop after N evaluations without improvement on the selection split "
                                         "(0 = never; not with --select-on last)", min=0, group="evaluation",
                                   default_text="5, or 0 under --select-on last")
    bucket_batches: int = setting(0, "length-bucketed training batches: sort windows of N batches by length "
                                     "(faster; changes which examples share a batch; 0 = plain shuffle)",
                                  min=0, max=1_000_000)

    def __post_init__(self) -> None:
        check_fields(self)
        if not DEVICE_PATTERN.match(self.device):
            raise ConfigError(f"--device must be auto, cpu, cuda, cuda:N or mps; got '{self.device}'")
        resolve_patience(self.select_on, self.patience)  # --patience needs a selection split

    def validate(self) -> None:
        """Re-check every field (after a caller changed one in place)."""
        self.__post_init__()

    @classmethod
    def of(cls, cfg: TrainerConfig, **overrides: Any) -> TrainerConfig:
        """The loop's part of a run's config (`TrainConfig` extends this class), field by field."""
        return cls(**{**{f.name: getattr(cfg, f.name) for f in fields(cls)}, **overrides})
