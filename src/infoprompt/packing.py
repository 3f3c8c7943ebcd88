"""Padding-free encoder passes: the batch's examples packed end to end into a few rows.

A shuffled few-shot batch pads every example to its longest one; on 256-shot SST-2 with batch 8 half
of the tokens the encoder sees are padding (8,824 padded vs 4,657 real per epoch). Packing puts the
examples' real tokens side by side in `ceil(total / (2 × longest))` rows (each row at most twice the
longest example, so attention stays cheap), restarts the position ids at every example and gives the
encoder a block-diagonal attention mask, so no token attends across examples. The hidden states are
then scattered back to the usual (B, L, D) layout, and readout, heads and losses run unchanged. The
batch's composition is untouched (unlike length bucketing), so the training trajectory is the padded
one up to float rounding (measured: 8e-7 largest difference in MiniLM's hidden states).

This is what Hugging Face's `DataCollatorWithFlattening` does for FlashAttention-2 on GPUs; here it
is done with a dense block mask, which any attention implementation (eager, SDPA) accepts, so it
also pays on CPU. Measured on MiniLM, 2 CPU cores, one epoch of the 256-shot SST-2 run's 32
shuffled batches through `train_step`: 3.19 s packed against 4.49 s padded, medians of 5
interleaved repeats (`python benchmarks/packing_step.py --data-dir ../shared/data`).

Packing is used only where it is known to be exact:
- the method must allow it (`PromptMethod.packing_safe`: not for key/value prefixes, which attach
  per row);
- the batch must waste at least `MIN_PADDING_SAVING` of its tokens (sorted evaluation batches
  waste ~5 %, so evaluation stays on the padded path and its numbers do not move);
- on first use, a self-check runs the batch both ways (fp32, no dropout) and turns packing off,
  with the reason recorded, if they differ or the encoder refuses a 4D mask (older transformers,
  unusual encoders). The check costs one extra forward pass per run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from infoprompt.errors import ConfigError

PACKING_MODES = ("auto", "off")
MIN_PADDING_SAVING = 0.2  # pack only when it removes >= 20% of the tokens: below that the gain is noise
ROW_CAPACITY = 2  # a packed row holds up to 2x the longest example (attention cost ~ row length^2)
CHECK_TOLERANCE = 1e-4  # relative: fp32 packed vs padded differ by ~1e-6


@dataclass
class PackPlan:
    """Where each real token goes: `dest[k]` is the flat (row * T + column) slot of the k-th real token."""

    rows: int
    width: int
    dest: torch.Tensor  # (N,) long, real tokens in (example, position) order
    source: torch.Tensor  # (N,) long, flat index of those tokens in the (B * L) padded layout
    positions: torch.Tensor  # (rows, width) long, restarting at 0 for every example (padding: 0)
    segments: torch.Tensor  # (rows, width) long, the example each slot holds (-1: padding)


def plan_packing(lengths: list[int], padded_width: int | None = None, device: torch.device | str = "cpu") -> PackPlan:
    """Assign examples (longest first) to the currently shortest of `ceil(total / (2 × longest))` rows.

    `padded_width`: the L of the (B, L) padded batch the tokens come from (default: the longest length).
    """
    total, longest = sum(lengths), max(lengths)
    rows = max(1, math.ceil(total / (ROW_CAPACITY * longest)))
    fill = [0] * rows
    row_of, offset_of = [0] * len(lengths), [0] * len(lengths)
    for i in sorted(range(len(lengths)), key=lambda i: (-lengths[i], i)):
        r = fill.index(min(fill))
        row_of[i], offset_of[i] = r, fill[r]
        fill[r] += lengths[i]
    width = max(fill)
    lens = torch.tensor(lengths, dtype=torch.long)
    example = torch.repeat_interleave(torch.arange(len(lengths)), lens)
    position = torch.arange(total) - torch.repeat_interleave(lens.cumsum(0) - lens, lens)
    dest = torch.tensor(row_of)[example] * width + torch.tensor(offset_of)[example] + position
    padded_width = padded_width or longest
    source = example * padded_width + position
    positions = torch.zeros(rows * width, dtype=torch.long).index_copy(0, dest, position).view(rows, width)
    segments = torch.full((rows * width,), -1, dtype=torch.long).index_copy(0, dest, example).view(rows, width)
    return PackPlan(rows, width, dest.to(device), source.to(device), positions.to(device), segments.to(device))


def block_mask(segments: torch.Tensor, attn_implementation: str, dtype: torch.dtype) -> torch.Tensor:
    """(rows, 1, T, T) mask: a token sees its own example only; a padding slot sees just itself.

    Boolean (True = attend) for SDPA-style kernels; additive (0 / dtype min) for eager attention,
    which adds the mask to the scores. Every query keeps at least one key, so no softmax row is empty.
    """
    valid = segments >= 0
    allowed = (segments.unsqueeze(-1) == segments.unsqueeze(-2)) & valid.unsqueeze(-2)
    eye = torch.eye(segments.shape[-1], dtype=torch.bool, device=segments.device)
    allowed = allowed | (~valid).unsqueeze(-1) & eye
    if attn_implementation == "eager":
        return torch.zeros(allowed.shape, dtype=dtype, device=segments.device) \
            .masked_fill(~allowed, torch.finfo(dtype).min).unsqueeze(1)
    return allowed.unsqueeze(1)


def is_right_padded(attention_mask: torch.Tensor, lengths: torch.Tensor) -> bool:
    """Every row is `lengths[i]` ones then zeros (our collate's layout); packing assumes it."""
    columns = torch.arange(attention_mask.shape[1], device=attention_mask.device).unsqueeze(0)
    return bool(torch.equal(attention_mask.bool(), columns < lengths.unsqueeze(1)))


class Packer:
    """Runs a frozen encoder padded or packed; remembers whether packing is on for this model and why not."""

    def __init__(self, mode: str = "auto"):
        if mode not in PACKING_MODES:
            raise ConfigError(f"--packing must be one of {PACKING_MODES}, got '{mode}'")
        self.status = "off: --packing off" if mode == "off" else "unchecked"
        self.packed_batches = 0

    def report(self) -> str:
        """For the run summary: on (with how many batches were packed), or off and why."""
        if self.status == "on":
            return f"on ({self.packed_batches} batches packed)"
        if self.status == "unchecked":
            return "auto: no batch wasted enough padding to pack"
        return self.status

    def disable(self, reason: str) -> None:
        self.status = f"off: {reason}"

    def hidden_states(self, model: nn.Module, embeds: torch.Tensor, attention_mask: torch.Tensor,
                      token_type_ids: torch.Tensor | None, position_offset: int = 0) -> torch.Tensor:
        """(B, L, D) last hidden states, as `model(inputs_embeds=…)` returns them at every real token.

        `position_offset`: where the model's own position ids start (the backbone family knows:
        RoBERTa-style embeddings count from padding_idx + 1)."""
        if self.status.startswith("off"):
            return _padded(model, embeds, attention_mask, token_type_ids)
        lengths = attention_mask.sum(1)  # once per batch: the worth-it test and the plan share it
        if not _worth_it(attention_mask, lengths):
            return _padded(model, embeds, attention_mask, token_type_ids)
        lengths = lengths.tolist()
        if self.status == "unchecked":
            self._self_check(model, embeds, attention_mask, token_type_ids, lengths, position_offset)
            if self.status.startswith("off"):
                return _padded(model, embeds, attention_mask, token_type_ids)
        self.packed_batches += 1
        return _packed(model, embeds, token_type_ids, lengths, position_offset)

    def _self_check(self, model, embeds, attention_mask, token_type_ids, lengths: list[int], offset: int = 0) -> None:
        was_training = model.training
        model.eval()  # no dropout: both passes must see the same function
        try:
            with torch.no_grad(), torch.autocast(embeds.device.type, enabled=False):
                x = embeds.detach().float()
                padded = _padded(model, x, attention_mask, token_type_ids)
                packed = _packed(model, x, token_type_ids, lengths, offset)
        except Exception as err:  # an encoder that refuses a 4D mask or position ids: fall back, say why
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            self.disable(f"the encoder rejected a packed batch ({type(err).__name__}: {first[:120]})")
            return
        finally:
            model.train(was_training)
        keep = attention_mask.bool()
        diff = (padded[keep] - packed[keep]).abs().max().item()
        scale = padded[keep].abs().max().item()
        if not math.isfinite(diff) or diff > CHECK_TOLERANCE * (1.0 + scale):
            self.disable(f"packed and padded hidden states differ by {diff:.3g}")
        else:
            self.status = "on"


def _worth_it(attention_mask: torch.Tensor, lengths: torch.Tensor) -> bool:
    real = int(lengths.sum())
    return 0 < real <= (1 - MIN_PADDING_SAVING) * attention_mask.numel() and is_right_padded(attention_mask, lengths)


def _padded(model, embeds, attention_mask, token_type_ids) -> torch.Tensor:
    kwargs = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
    return model(inputs_embeds=embeds, attention_mask=attention_mask, **kwargs).last_hidden_state


def _packed(model, embeds, token_type_ids, lengths: list[int], position_offset: int = 0) -> torch.Tensor:
    batch, length, dim = embeds.shape
    plan = plan_packing(lengths, length, embeds.device)
    flat = embeds.reshape(batch * length, dim).index_select(0, plan.source)
    packed = embeds.new_zeros(plan.rows * plan.width, dim).index_copy(0, plan.dest, flat)
    kwargs = {}
    if token_type_ids is not None:
        types = token_type_ids.reshape(-1).index_select(0, plan.source)
        kwargs["token_type_ids"] = torch.zeros(plan.rows * plan.width, dtype=types.dtype, device=types.device) \
            .index_copy(0, plan.dest, types).view(plan.rows, plan.width)
    attn = getattr(getattr(model, "config", None), "_attn_implementation", "sdpa") or "sdpa"
    hidden = model(
        inputs_embeds=packed.view(plan.rows, plan.width, dim),
        attention_mask=block_mask(plan.segments, attn, embeds.dtype),
        position_ids=plan.positions + position_offset,
        **kwargs,
    ).last_hidden_state
    real = hidden.reshape(plan.rows * plan.width, -1).index_select(0, plan.dest)
    return real.new_zeros(batch * length, real.shape[-1]).index_copy(0, plan.source, real).view(batch, length, -1)
