"""LM-BFF's SST-5, CR and MPQA on the real files: sizes, labels, the fixed dev hold-out and the official draws."""

from __future__ import annotations

from collections import Counter

import pytest

from infoprompt.data.lmbff import DEV_SIZE, OFFICIAL_SEEDS, official_draw
from infoprompt.data.readers import BadRowPolicy
from infoprompt.data.tasks import CONVERGENCE_LEVELS, get_task, load_split
from infoprompt.errors import ConfigError

SIZES = {"sst5": (8544, 2210, 5), "cr": (1775, 2000, 2), "mpqa": (8606, 2000, 2)}


@pytest.fixture(scope="module")
def data_dir(shared_data):
    if not (shared_data / "lmbff").is_dir():
        pytest.skip("LM-BFF files not found")
    return shared_data


@pytest.mark.parametrize("name", sorted(SIZES))
def test_splits_have_the_published_sizes_and_a_fixed_disjoint_dev_hold_out(data_dir, name):
    task = get_task(name)
    rows, test_rows, labels = SIZES[name]
    train, dev, test = (load_split(task, split, data_dir) for split in ("train", "dev", "test"))
    assert task.has_test and task.num_labels == labels and len(task.verbalizer) == labels
    assert len(test) == test_rows and len(dev) == DEV_SIZE and len(train) == rows - DEV_SIZE
    assert not {e.source for e in train} & {e.source for e in dev}
    assert dev == load_split(task, "dev", data_dir)  # the same for every run
    assert set(Counter(e.label for e in test)) == set(range(labels))
    majority = max(Counter(e.label for e in dev).values()) / len(dev)
    assert majority < CONVERGENCE_LEVELS[name]  # the level sits above always predicting the dev majority class


def test_verbalizers_are_lm_bffs(data_dir):
    assert get_task("sst5").verbalizer == ["terrible", "bad", "okay", "good", "great"]
    assert get_task("cr").verbalizer == get_task("mpqa").verbalizer == ["terrible", "great"]


def test_first_rows_and_empty_sentences_are_read_as_shipped(data_dir):
    test = load_split(get_task("cr"), "test", data_dir)
    assert test[0].label == 0 and test[0].text_a.startswith("weaknesses are minor : the feel")
    assert test[768].text_a == " " and test[768].source.endswith("cr/test.csv:769")  # LM-BFF keeps it


def test_official_draw_reads_the_seeds_k_shot_files(data_dir):
    draw = official_draw("cr", 42, data_dir, BadRowPolicy())
    assert {split: len(rows) for split, rows in draw.items()} == {"train": 32, "dev": 32}
    assert all(e.source.startswith(str(data_dir / "lmbff/cr/k-shot/16-42/train.csv:")) for e in draw["train"])
    assert all("/k-shot/16-42/dev.csv:" in e.source for e in draw["dev"])
    assert Counter(e.label for e in draw["train"]) == {0: 16, 1: 16}
    assert [e.source.rsplit(":", 1)[1] for e in draw["train"][:3]] == ["1", "2", "3"]  # in file order
    assert Counter(e.label for e in official_draw("sst5", 13, data_dir, BadRowPolicy())["dev"]) == {i: 16 for i in range(5)}


def test_official_draw_refuses_other_seeds_and_tasks(data_dir):
    assert OFFICIAL_SEEDS == (13, 21, 42, 87, 100)
    with pytest.raises(ConfigError, match=r"--seed 7 is not one of LM-BFF's draws \(13, 21, 42, 87, 100\)"):
        official_draw("sst5", 7, data_dir, BadRowPolicy())
    with pytest.raises(ConfigError, match="task 'sst2' has no official LM-BFF draws"):
        official_draw("sst2", 13, data_dir, BadRowPolicy())


def test_missing_data_dir_is_a_one_line_error(tmp_path):
    with pytest.raises(ConfigError, match="sst5 reads LM-BFF's files: give --data-dir"):
        load_split(get_task("sst5"), "train", None)
    with pytest.raises(ConfigError, match="no LM-BFF 'mpqa' folder under"):
        load_split(get_task("mpqa"), "test", tmp_path)
