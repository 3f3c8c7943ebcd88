from collections import Counter

import pytest

from infoprompt.data.example import Example
from infoprompt.data.sampling import sample_few_shot
from infoprompt.errors import ConfigError

POOL = [Example(f"text {i}", label=int(i % 5 == 0)) for i in range(200)]  # 40 positives, 160 negatives


def test_same_seed_same_draw_and_different_seed_differs():
    a = sample_few_shot(POOL, 32, seed=3)
    assert a == sample_few_shot(POOL, 32, seed=3)
    assert a != sample_few_shot(POOL, 32, seed=4)
    assert len(set(a)) == 32


def test_stratified_keeps_class_balance():
    counts = Counter(e.label for e in sample_few_shot(POOL, 64, seed=0, stratified=True))
    assert counts == {0: 32, 1: 32}
    odd = Counter(e.label for e in sample_few_shot(POOL, 65, seed=0, stratified=True))
    assert sorted(odd.values()) == [32, 33]


def test_too_many_shots_is_a_clear_error():
    with pytest.raises(ConfigError, match="--shots 500 is more than the 200"):
        sample_few_shot(POOL, 500, seed=0)
    with pytest.raises(ConfigError, match="class 1 has only 40"):
        sample_few_shot(POOL, 100, seed=0, stratified=True)
