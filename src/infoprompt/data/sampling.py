"""Seeded few-shot draws. The same (examples, n, seed, stratified) always gives the same subset."""

from __future__ import annotations

import random
from collections import defaultdict

from infoprompt.data.example import Example
from infoprompt.errors import ConfigError


def sample_few_shot(
    examples: list[Example], n: int, seed: int, *, stratified: bool = False
) -> list[Example]:
    """Draw `n` examples. Stratified: equal share per class, the remainder to randomly chosen classes.

    The draw order is returned (not the file order) so the subset is a pure function of the seed.
    """
    if n <= 0:
        raise ConfigError(f"--shots must be positive, got {n}")
    if n > len(examples):
        raise ConfigError(f"--shots {n} is more than the {len(examples)} training examples available")
    rng = random.Random(seed)
    if not stratified:
        return rng.sample(examples, n)
    by_label: dict[int, list[Example]] = defaultdict(list)
    for ex in examples:
        by_label[ex.label].append(ex)
    labels = sorted(by_label, key=lambda x: (x is None, x))
    quota = {label: n // len(labels) for label in labels}
    for label in rng.sample(labels, n % len(labels)):
        quota[label] += 1
    short = [label for label in labels if quota[label] > len(by_label[label])]
    if short:
        raise ConfigError(
            f"--stratified --shots {n}: class {short[0]} has only {len(by_label[short[0]])} examples "
            f"for a quota of {quota[short[0]]}"
        )
    chosen = [ex for label in labels for ex in rng.sample(by_label[label], quota[label])]
    rng.shuffle(chosen)
    return chosen


def draw_per_class(examples: list[Example], k: int, rng: random.Random, *, exclude: frozenset[int] = frozenset(),
                   what: str = "training") -> list[int]:
    """Positions of `k` examples per class (classes in label order, each drawn with `rng`), none in `exclude`."""
    by_label: dict[int, list[int]] = defaultdict(list)
    for i, ex in enumerate(examples):
        if i not in exclude:
            by_label[ex.label].append(i)
    for label in sorted(by_label, key=lambda x: (x is None, x)):
        if len(by_label[label]) < k:
            raise ConfigError(f"--shots-per-class {k}: class {label} has only {len(by_label[label])} examples "
                              f"left for the {what} draw")
    return [i for label in sorted(by_label, key=lambda x: (x is None, x)) for i in rng.sample(by_label[label], k)]


def sample_per_class(examples: list[Example], k: int, seed: int) -> list[Example]:
    """`k` examples per class (LM-BFF's k-shot), in a seeded order: a pure function of (examples, k, seed)."""
    rng = random.Random(seed)
    chosen = [examples[i] for i in draw_per_class(examples, k, rng)]
    rng.shuffle(chosen)
    return chosen


def few_shot_draws(examples: list[Example], k: int, seed: int) -> tuple[list[Example], list[Example]]:
    """(training draw, dev draw) of `k` per class each, disjoint, for the few-shot protocol (LM-BFF).

    The training draw is exactly `sample_per_class(examples, k, seed)`, so a run under another protocol with
    the same --shots-per-class and --seed trains on the same examples; the dev draw comes from the rows left,
    with its own generator seeded by the seed. Disjoint by position: two rows with equal text stay two rows."""
    rng = random.Random(seed)
    train_rows = draw_per_class(examples, k, rng)
    train = [examples[i] for i in train_rows]
    rng.shuffle(train)
    dev_rng = random.Random(f"few-shot dev draw {seed}")
    dev = [examples[i] for i in draw_per_class(examples, k, dev_rng, exclude=frozenset(train_rows), what="dev")]
    dev_rng.shuffle(dev)
    return train, dev
