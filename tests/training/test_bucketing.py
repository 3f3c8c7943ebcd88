"""Length-bucketed training batches (`--bucket-batches`): same examples, less padding, reproducible, resumable."""

from __future__ import annotations

import random

import pytest

from infoprompt.errors import ConfigError
from infoprompt.training.config import TrainerConfig
from infoprompt.training.steps import bucketed_order, epoch_order


def _padding(order: list[int], lengths: list[int], batch: int) -> float:
    """Padded tokens / real tokens when `order` is cut into batches padded to their longest row."""
    padded = sum(max(lengths[i] for i in order[s:s + batch]) * len(order[s:s + batch]) for s in range(0, len(order), batch))
    return padded / sum(lengths)


@pytest.mark.parametrize("n, batch, window", [(256, 8, 16), (101, 8, 4), (7, 8, 16), (64, 1, 3)])
def test_every_example_once_per_epoch_with_batches_that_stay_whole(n, batch, window):
    lengths = [random.Random(i).randint(3, 60) for i in range(n)]
    order = epoch_order(n, seed=3, epoch=1)
    bucketed = bucketed_order(order, lengths, batch, window, seed=3, epoch=1)
    assert sorted(bucketed) == list(range(n))
    # the loop slices the order every `batch` rows: only the very last batch may be short
    cuts = [bucketed[s:s + batch] for s in range(0, n, batch)]
    assert all(len(c) == batch for c in cuts[:-1])


def test_less_padding_deterministic_and_different_per_epoch():
    lengths = [random.Random(i).randint(3, 60) for i in range(256)]
    runs = [bucketed_order(epoch_order(256, 0, e), lengths, 8, 16, 0, e) for e in (0, 0, 1)]
    assert runs[0] == runs[1] and runs[0] != runs[2]
    plain = _padding(epoch_order(256, 0, 0), lengths, 8)
    assert _padding(runs[0], lengths, 8) < 0.75 * plain  # measured here: ~1.1x against ~1.7x


def test_off_by_default_and_negative_refused():
    order = epoch_order(20, 0, 0)
    assert bucketed_order(order, [1] * 20, 8, 0, 0, 0) is order
    assert TrainerConfig().bucket_batches == 0
    with pytest.raises(ConfigError, match="--bucket-batches"):
        TrainerConfig(bucket_batches=-1).validate()
