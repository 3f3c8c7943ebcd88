"""Every run records what produced its numbers: versions, threads and peak memory (issue 23, item 6)."""

from importlib import metadata

from infoprompt.api import cost_fields
from infoprompt.environment import package_versions, peak_device_mb, peak_rss_mb
from infoprompt.training.config import TrainerConfig
from infoprompt.training.state import steps_per_epoch


def test_package_versions_names_the_installed_torch_and_transformers():
    versions = package_versions()
    assert versions["torch"] == metadata.version("torch")
    assert versions["transformers"] == metadata.version("transformers")
    assert versions["python"].count(".") == 2
    assert int(versions["torch_threads"]) >= 1


def test_missing_package_is_recorded_as_none(monkeypatch):
    monkeypatch.setattr("infoprompt.environment.RECORDED_PACKAGES", ("no-such-distribution-xyz",))
    assert package_versions()["no-such-distribution-xyz"] is None


def test_peak_memory_is_positive_and_device_memory_only_on_cuda():
    assert peak_rss_mb() > 10  # a Python process with torch imported holds far more than 10 MiB
    assert peak_device_mb("cpu") is None


def test_cost_fields_average_seconds_over_the_epochs_run():
    # 10 rows in batches of 4 -> 3 steps per epoch; 6 steps = 2 epochs; 3 s -> 1.5 s per epoch
    config = TrainerConfig(batch_size=4)
    assert steps_per_epoch(10, config) == 3 and steps_per_epoch(10, TrainerConfig(batch_size=2, grad_accum=2)) == 3
    fields = cost_fields(steps=6, per_epoch=steps_per_epoch(10, config), train_seconds=3.0, device="cpu")
    assert fields["seconds_per_epoch"] == 1.5
    assert fields["peak_device_mb"] is None and fields["environment"]["torch"]
