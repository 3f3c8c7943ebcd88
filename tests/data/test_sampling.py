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


def test_few_shot_draws_are_disjoint_balanced_and_seeded():
    from infoprompt.data.sampling import few_shot_draws, sample_per_class

    pool = POOL + [Example("text 0", label=1)]  # equal text, another row: still drawable
    train, dev = few_shot_draws(pool, 16, seed=13)
    assert Counter(e.label for e in train) == {0: 16, 1: 16} == Counter(e.label for e in dev)
    assert not {id(e) for e in train} & {id(e) for e in dev}
    assert (train, dev) == few_shot_draws(pool, 16, seed=13) and dev != few_shot_draws(pool, 16, seed=21)[1]
    assert train == sample_per_class(pool, 16, seed=13)  # the same training rows as under any other protocol
    with pytest.raises(ConfigError, match="class 1 has only 11 examples left for the dev draw"):
        few_shot_draws(pool, 30, seed=0)
