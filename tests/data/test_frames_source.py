"""The task source: the narrow value data/ receives of a run's config, and its one set of custom-task checks."""

from dataclasses import FrozenInstanceError, fields

import pytest

from infoprompt.config import TrainConfig
from infoprompt.data.readers import BadRowPolicy
from infoprompt.data.source import TaskSource, check_source, source_task
from infoprompt.errors import ConfigError
from infoprompt.run import LEGACY_DEFAULTS, SAVED_RUN_FIELDS, resume_config


def test_a_task_source_is_a_frozen_part_of_the_run_config():
    names = {f.name for f in fields(TaskSource)}
    assert names < {f.name for f in fields(TrainConfig)} and len(names) < len(fields(TrainConfig)) / 2
    source = TrainConfig(task="custom", text_fields=["a", "b"], shots=8, seed=3).task_source()
    assert source.text_fields == ("a", "b") and source.shots == 8 and source.seed == 3
    with pytest.raises(FrozenInstanceError):
        source.task = "sst2"


@pytest.mark.parametrize("given, message", [
    (dict(task="custom", header=False, task_kind="typing"), "--no-header is for CSV/TSV files"),
    (dict(task="sst2", header=False), "--no-header are for --task custom"),
    (dict(task="sst2", train_file="t.csv"), "are for --task custom"),
    (dict(task="sst2", text_fields=("t",)), "task 'sst2' reads its own fields"),
    (dict(task="custom", train_file="t.csv"), "--task custom needs --train-file and --dev-file"),
    (dict(task="custom", train_file="t", dev_file="d", task_kind="relation", label_field="y"), "--task-kind text"),
    (dict(task="custom", train_file="t", dev_file="d"), "--task custom needs --text-fields"),
    (dict(task="sst2", train_data=[{"t": "a"}]), "in-memory data is for task='custom'"),
    (dict(task="custom", train_data=[{"t": "a"}], dev_file="d"), "give either files"),
    (dict(task="custom", train_data=[{"t": "a"}]), "needs both train_data and dev_data"),
    (dict(task="custom", train_data=[{"t": "a"}], dev_data=[{"t": "b"}]), "needs text_fields"),
])
def test_the_custom_task_checks_live_in_one_place(given, message):
    with pytest.raises(ConfigError, match=message):
        check_source(TaskSource(**given))
    with pytest.raises(ConfigError, match=message):  # the task is never resolved past them
        source_task(TaskSource(**given), BadRowPolicy())


def test_one_table_gives_the_legacy_values_and_the_fields_free_on_resume():
    assert LEGACY_DEFAULTS["packing"] == "off" and "device" not in LEGACY_DEFAULTS
    assert set(LEGACY_DEFAULTS) < set(SAVED_RUN_FIELDS)
    kept = resume_config(TrainConfig(device="cpu", packing="off", grad_accum=2))
    assert "device" not in kept and "packing" not in kept and kept["grad_accum"] == 2
