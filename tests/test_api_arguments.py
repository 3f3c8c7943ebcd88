"""Python API calls with arguments of the wrong type fail with one ConfigError naming the call and argument (issue 25)."""

from __future__ import annotations

import numpy as np
import pytest

from infoprompt import api
from infoprompt.config import TrainConfig
from infoprompt.errors import ConfigError


@pytest.mark.parametrize("call, message", [
    (lambda: api.train("sst2"), "train: cfg must be an infoprompt.TrainConfig, got str"),
    (lambda: api.train(TrainConfig(), backbone="minilm"), "train: backbone must be an infoprompt Backbone"),
    (lambda: api.load(None), "load: checkpoint must be a path (str or os.PathLike), got None"),
    (lambda: api.load(5), "load: checkpoint must be a path (str or os.PathLike), got int"),
    (lambda: api.evaluate(["run"]), "evaluate: checkpoint must be a path (str or os.PathLike), got list"),
    (lambda: api.evaluate("run", dev_file=3), "evaluate: dev_file must be a path (str or os.PathLike), got int"),
    (lambda: api.predict(5, "in.csv"), "predict: checkpoint must be a path (str or os.PathLike), got int"),
    (lambda: api.predict_file("run", "in.csv", output_file=1.5), "predict: output_file must be a path"),
])
def test_wrong_argument_types_are_one_line(call, message):
    with pytest.raises(ConfigError) as err:
        call()
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_numpy_scalars_are_numbers():
    cfg = TrainConfig(epochs=np.int64(3), lr=np.float32(0.5), seed=np.uint32(7))
    assert (cfg.epochs, cfg.seed) == (3, 7) and type(cfg.epochs) is int and type(cfg.lr) is float
