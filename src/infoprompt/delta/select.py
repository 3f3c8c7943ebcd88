"""Make a chosen subset of a model's existing parameters trainable (BitFit, and APET's subsets)."""

from __future__ import annotations

from torch import nn

from infoprompt.delta.insert import matching_names
from infoprompt.errors import ConfigError


def mark_trainable(model: nn.Module, pattern: str, exclude: str | None = None) -> int:
    """Set requires_grad on every parameter whose name fully matches `pattern` and not `exclude`.

    Returns the number of scalar parameters in the selection (the exact budget it adds on a frozen
    model). Parameters outside the selection are left as they are, so selections compose.
    """
    names = [name for name, _ in model.named_parameters()]
    chosen = set(matching_names(names, pattern, "parameter"))
    if exclude is not None:
        chosen -= set(matching_names(names, exclude, "parameter", required=False))
        if not chosen:
            raise ConfigError(f"every parameter matching '{pattern}' is excluded by '{exclude}'")
    count = 0
    for name, param in model.named_parameters():
        if name in chosen:
            param.requires_grad_(True)
            count += param.numel()
    return count
