"""Evaluation batches: features collated by length and moved to a device, once, for repeated scoring.

They sit here, beside `collate`, because both the training loop (dev evaluations) and free generation
(`infoprompt.generative.generation`) score features in these batches.
"""

from __future__ import annotations

import torch

from infoprompt.prompting.template import Feature, collate, pad_token_id


def to_device(batch: dict, device: torch.device) -> dict:
    """A collated batch with every tensor on `device` (other values as they are)."""
    return {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}


def eval_batches(method, features: list[Feature], batch_size: int, device: str | torch.device = "cpu") -> list:
    """[(rows, batch on device)] for `features`, formed by length to cut padding; built once, reused per evaluation."""
    device = torch.device(device)
    pad_id = pad_token_id(method.backbone_info.tokenizer)
    order = sorted(range(len(features)), key=lambda i: len(features[i].input_ids))
    out = []
    for start in range(0, len(order), batch_size):
        rows = order[start: start + batch_size]
        batch = collate([features[i] for i in rows], pad_id)
        batch.pop("labels", None)
        out.append((rows, to_device(batch, device)))
    return out
