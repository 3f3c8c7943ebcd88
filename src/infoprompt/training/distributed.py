"""Data parallelism over the processes a launcher started: one weighted all-reduce of the gradients per step."""

from __future__ import annotations

import os

import torch

from infoprompt.training.steps import NonFiniteLoss


class GradientSync:
    """Data parallelism over the processes `accelerate launch` (or torchrun) started.

    Each rank runs its contiguous share of every global batch; `reduce` then sums the gradients,
    each rank's weighted by its share of the batch's examples, so every rank applies the same
    update: the gradient of the global batch's mean loss, as a single process would compute it
    (up to float summation order). Hand-written instead of wrapping the method in
    DistributedDataParallel because the trainable tensors of prompt methods are tiny (one
    flattened all-reduce per step beats DDP's hooks and buckets), because uneven or empty shards
    (a last batch smaller than the world size) must be weighted exactly, and because parameters
    that get no gradient (a method's unused branch) must stay gradient-free, as in one process.
    The process group itself comes from accelerate (`PartialState`), which reads the launcher's
    environment and picks gloo on CPU and NCCL on GPUs.
    """

    def __init__(self, device: str):
        from accelerate import PartialState

        state = PartialState(cpu=torch.device(device).type == "cpu")
        self.rank, self.world, self.device = state.process_index, state.num_processes, state.device
        if self.device.type == "cpu" and "OMP_NUM_THREADS" not in os.environ:  # processes on one host share its cores
            local = int(os.environ.get("LOCAL_WORLD_SIZE", self.world))
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // max(1, local)))

    @staticmethod
    def active() -> bool:
        """True when started by a multi-process launcher (WORLD_SIZE > 1)."""
        return int(os.environ.get("WORLD_SIZE", "1")) > 1

    def shard(self, rows: list[int]) -> tuple[list[int], float]:
        return shard_rows(rows, self.rank, self.world)

    def reduce(self, params: list[torch.nn.Parameter], losses: dict[str, torch.Tensor], weight: float,
               bad: str | None) -> dict[str, torch.Tensor]:
        """Weighted sum of gradients and loss terms over ranks, in one all-reduce; raises NonFiniteLoss on every
        rank if any rank saw a non-finite loss."""
        import torch.distributed as dist

        device = params[0].device
        has = torch.tensor([float(p.grad is not None) for p in params], device=device)
        grads = [(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1).float() * weight for p in params]
        terms = torch.stack([v.detach().float().reshape(()) for v in losses.values()]) * weight
        flag = torch.tensor([0.0 if bad is None else 1.0], device=device)
        flat = torch.cat([*grads, terms.to(device), has, flag])
        dist.all_reduce(flat)
        if flat[-1] > 0:
            raise NonFiniteLoss(bad or "a loss term on another rank", float("nan"))
        offset = 0
        for p in params:
            n = p.numel()
            p.grad = flat[offset: offset + n].view_as(p).to(p.dtype).clone()
            offset += n
        terms = flat[offset: offset + len(losses)]
        offset += len(losses)
        for p, got in zip(params, flat[offset: offset + len(params)].tolist()):
            if got == 0:
                p.grad = None  # no rank computed a gradient: AdamW must skip it, as in one process
        return {name: terms[i] for i, name in enumerate(losses)}

    def check_in_sync(self, params: list[torch.nn.Parameter]) -> None:
        """Raise if this rank's trainable tensors differ from rank 0's (they must be bit-identical)."""
        import torch.distributed as dist

        mine = torch.cat([p.detach().reshape(-1).float() for p in params])
        reference = mine.clone()
        dist.broadcast(reference, src=0)
        if not torch.equal(mine, reference):
            raise RuntimeError(f"rank {self.rank}: trainable tensors drifted from rank 0's "
                               f"(max difference {(mine - reference).abs().max().item():.3g})")

    def share(self, obj):
        """Rank 0's `obj` on every rank."""
        import torch.distributed as dist

        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        import torch.distributed as dist

        dist.barrier()


def shard_rows(rows: list[int], rank: int, world: int) -> tuple[list[int], float]:
    """Rank `rank`'s contiguous share of a global batch, and its weight (its share of the examples).

    An empty share runs the batch's first example with weight 0, so every rank still takes part in
    the collective operations.
    """
    base, extra = divmod(len(rows), world)
    start = rank * base + min(rank, extra)
    mine = rows[start: start + base + (1 if rank < extra else 0)]
    return (mine, len(mine) / len(rows)) if mine else (rows[:1], 0.0)
