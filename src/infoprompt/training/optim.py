"""Optimizer and learning-rate schedule: AdamW or Adafactor over a method's parameter groups."""

from __future__ import annotations

from collections.abc import Callable

import torch

from infoprompt.training.config import TrainerConfig


def make_optimizer(params: list[torch.nn.Parameter] | list[dict], config: TrainerConfig) -> torch.optim.Optimizer:
    """AdamW, or Adafactor as XPrompt/Lester use it: the given learning rate, constant unless
    --schedule says otherwise (relative_step=False, scale_parameter=False, warmup_init=False), and
    --weight-decay (XPrompt: 1e-5, lr 0.3). `params` may be parameter groups (a method's `param_groups`)."""
    if config.optimizer == "adafactor":
        from transformers.optimization import Adafactor

        return Adafactor(params, lr=config.lr, weight_decay=config.weight_decay, scale_parameter=False,
                         relative_step=False, warmup_init=False)
    return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)


def method_optimizer(method, config: TrainerConfig) -> tuple[list[torch.nn.Parameter], torch.optim.Optimizer]:
    """The method's trainable parameters and the optimizer over its `param_groups`, which must hold each of
    them exactly once (a parameter left out would silently never train)."""
    params = [p for p in method.parameters() if p.requires_grad]
    groups = method.param_groups(config.lr, config.weight_decay)
    grouped = [id(p) for group in groups for p in group["params"]]
    if sorted(grouped) != sorted(id(p) for p in params):
        raise RuntimeError(f"{type(method).__name__}.param_groups must hold every trainable parameter exactly once")
    return params, make_optimizer(groups, config)


def lr_lambda(cfg: TrainerConfig, total_steps: int) -> Callable[[int], float]:
    """The learning-rate factor of each step: linear warm-up over `warmup_ratio` of the steps, then constant
    or a linear decay to 0 at the last step (`schedule`)."""
    warmup = int(cfg.warmup_ratio * total_steps)

    def factor(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        if cfg.schedule == "linear":
            return max(0.0, (total_steps - step) / max(1, total_steps - warmup))
        return 1.0

    return factor


def make_scheduler(optimizer: torch.optim.Optimizer, config: TrainerConfig,
                   total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """The run's schedule over `total_steps` optimizer steps (see `lr_lambda`)."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(config, total_steps))
