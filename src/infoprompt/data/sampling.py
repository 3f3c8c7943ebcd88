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
