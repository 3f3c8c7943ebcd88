"""One optimizer step, and the order of the training rows it takes them from.

A step is forward, finiteness check, backward, gradient sum over ranks (multi-process only), clipping and
the optimizer's update (`train_step`; `accumulated_step` for --grad-accum micro-batches). `TrainSteps`
binds them to a run's training features for the loop; `epoch_order` and `bucketed_order` are pure
functions of (seed, epoch), so a resumed run rebuilds any epoch's order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import torch

from infoprompt.methods.base import MethodOutput
from infoprompt.prompting.batches import to_device
from infoprompt.prompting.template import Feature, collate
from infoprompt.training.config import TrainerConfig
from infoprompt.training.inference import autocast


class GradientReducer(Protocol):
    """What a step needs of `training.distributed.GradientSync` (which raises this module's NonFiniteLoss, so
    the step names its interface instead of importing it): this rank's share of a batch, the weighted sum."""

    def shard(self, rows: list[int]) -> tuple[list[int], float]: ...

    def reduce(self, params: list[torch.nn.Parameter], losses: dict[str, torch.Tensor], weight: float,
               bad: str | None) -> dict[str, torch.Tensor]: ...


class NonFiniteLoss(Exception):
    """A loss term is NaN or infinite (on this rank or, in a multi-process run, on any rank)."""

    what = "loss term"

    def __init__(self, name: str, value: float):
        super().__init__(name)
        self.name, self.value = name, value


class NonFiniteGradient(NonFiniteLoss):
    """The loss was finite but its gradient is not: caught before the optimizer step writes NaN into
    the parameters (which would only surface as a NaN loss one step later, far from its cause)."""

    what = "the gradient of"


def first_nonfinite_gradient(method, params: list[torch.nn.Parameter]) -> str:
    """The name of the first trainable parameter whose gradient holds a NaN or inf (the slow path, on failure only)."""
    names = {id(p): n for n, p in method.named_parameters()} if hasattr(method, "named_parameters") else {}
    for i, p in enumerate(params):
        if p.grad is not None and not torch.isfinite(p.grad).all():
            return names.get(id(p), f"parameter #{i}")
    return "a parameter"


def train_step(method, batch: dict, optimizer: torch.optim.Optimizer, params: list[torch.nn.Parameter],
               config: TrainerConfig, sync: GradientReducer | None = None, weight: float = 1.0):
    """One optimizer step on a collated batch already on the device: forward, finiteness check, backward,
    gradient sum over ranks (multi-process only), clipping, AdamW. Returns (MethodOutput, total loss).

    `infoprompt bench` times exactly this function, so the benchmark measures the step `fit` runs.
    """
    return accumulated_step(method, [(batch, 1.0)], optimizer, params, config, sync, weight)


def accumulated_step(method, micro_batches: list[tuple[dict, float]], optimizer: torch.optim.Optimizer,
                     params: list[torch.nn.Parameter], config: TrainerConfig, sync: GradientReducer | None = None,
                     weight: float = 1.0):
    """One optimizer step over `micro_batches` [(batch, share)]: each micro-batch's loss is scaled by its share
    of the step's examples before its backward (--grad-accum), so the summed gradient is the gradient of the
    step's mean loss, as one batch of all its examples would give. One micro-batch of share 1 is `train_step`
    exactly (nothing is scaled). Returns (MethodOutput with the share-weighted loss terms, total loss)."""
    optimizer.zero_grad(set_to_none=True)
    out, bad, terms = None, None, {}
    for batch, share in micro_batches:
        with autocast(next(iter(params)).device if params else torch.device("cpu"), config.precision):
            out = method(batch)
        bad = next((name for name, value in out.losses.items() if not torch.isfinite(value).all()), None)
        if bad is not None and sync is None:
            raise NonFiniteLoss(bad, out.losses[bad].item())
        if bad is not None:
            break
        loss = out.total()
        (loss if share == 1.0 else loss * share).backward()
        for name, value in out.losses.items():
            part = value.detach() if share == 1.0 else value.detach() * share
            terms[name] = part if name not in terms else terms[name] + part
    if len(micro_batches) > 1 and bad is None:
        out = MethodOutput(out.logits, terms, out.weights)
        loss = out.total()
    elif bad is not None:
        loss = out.total()
    if sync is not None:
        out.losses = sync.reduce(params, out.losses, weight, bad)
        loss = sum(out.weights.get(name, 1.0) * value for name, value in out.losses.items())
    # The norm is needed anyway for clipping (max_norm=inf clips nothing: a factor of exactly 1.0); one
    # finiteness check per step stops a NaN gradient before it reaches the parameters.
    norm = torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm or float("inf"))
    if bad is None and not torch.isfinite(norm):
        raise NonFiniteGradient(first_nonfinite_gradient(method, params), norm.item())
    optimizer.step()
    return out, loss


def micro_batches(rows: list[int], size: int) -> list[tuple[list[int], float]]:
    """`rows` cut into micro-batches of at most `size` rows, each with its share of the rows (--grad-accum)."""
    return [(rows[i:i + size], len(rows[i:i + size]) / len(rows)) for i in range(0, len(rows), size)]


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    """The shuffled example order of one epoch, a pure function of (seed, epoch).

    Written by hand instead of a shuffling DataLoader so that a resumed run can rebuild any epoch's
    order and skip the batches already done, without replaying a generator's history.
    """
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=generator).tolist()


def bucketed_order(order: list[int], lengths: list[int], batch_size: int, window: int, seed: int,
                   epoch: int) -> list[int]:
    """`order` regrouped so that each batch holds examples of similar length (less padding, fewer FLOPs).

    The shuffled order is cut into windows of `window` batches; each window is sorted by length and cut
    into batches; the full batches are then shuffled (a second pure function of (seed, epoch), so a
    resumed run rebuilds the same batches) and a short last batch stays last. Every example is still
    seen once per epoch; what changes is which examples share a batch, hence the run's numbers, which
    is why it is opt-in (`--bucket-batches N`). On 256-shot SST-2 with batch 8 it cuts the padded
    tokens per epoch from about 1.85x the real ones to about 1.1x (docs/performance.md).
    """
    if window <= 0:
        return order
    span = window * batch_size
    batches: list[list[int]] = []
    for start in range(0, len(order), span):
        chunk = sorted(order[start:start + span], key=lambda i: lengths[i])  # stable: ties keep the shuffle
        batches += [chunk[j:j + batch_size] for j in range(0, len(chunk), batch_size)]
    tail = [batches.pop()] if batches and len(batches[-1]) < batch_size else []
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch + 500_009)
    shuffled = [batches[b] for b in torch.randperm(len(batches), generator=generator).tolist()] + tail
    return [i for batch in shuffled for i in batch]


@dataclass
class TrainSteps:
    """The loop's optimizer steps over one run's training features: each epoch's row order, and one step on
    the rows of a batch position (this rank's share of them in a multi-process run)."""

    method: object
    features: list[Feature]
    config: TrainerConfig
    optimizer: torch.optim.Optimizer
    params: list[torch.nn.Parameter]
    device: torch.device
    pad_id: int
    sync: GradientReducer | None = None  # a multi-process run's GradientSync
    lengths: list[int] = field(init=False)

    def __post_init__(self) -> None:
        config = self.config  # the lengths once, not per epoch
        self.lengths = [len(f.input_ids) for f in self.features] if config.bucket_batches else []

    def order(self, epoch: int) -> list[int]:
        """The training rows of `epoch` in the order the steps take them (--bucket-batches regroups them)."""
        config = self.config
        order = epoch_order(len(self.features), config.seed, epoch)
        if config.bucket_batches:
            order = bucketed_order(order, self.lengths, config.batch_size, config.bucket_batches, config.seed, epoch)
        return order

    def step(self, order: list[int], batch_in_epoch: int):
        """One optimizer step on batch `batch_in_epoch` of `order`: one batch, or --grad-accum micro-batches of
        batch_size rows. Returns (MethodOutput, total loss); a non-finite loss or gradient raises NonFiniteLoss."""
        config, features, pad_id = self.config, self.features, self.pad_id
        step_rows = config.batch_size * config.grad_accum  # examples per optimizer step
        rows = order[batch_in_epoch * step_rows:(batch_in_epoch + 1) * step_rows]
        rows, weight = self.sync.shard(rows) if self.sync is not None else (rows, 1.0)
        if config.grad_accum == 1:
            batch = to_device(collate([features[i] for i in rows], pad_id), self.device)
            return train_step(self.method, batch, self.optimizer, self.params, config, self.sync, weight)
        micro = [(to_device(collate([features[i] for i in part], pad_id), self.device), share)
                 for part, share in micro_batches(rows, config.batch_size)]
        return accumulated_step(self.method, micro, self.optimizer, self.params, config, self.sync, weight)
