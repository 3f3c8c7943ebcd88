import json

import pytest
import torch

from infoprompt.api import load
from infoprompt.data.example import Example
from infoprompt.data.tasks import get_task
from infoprompt.errors import CheckpointError
from infoprompt.methods import build_method
from infoprompt.testing import make_tiny_backbone
from infoprompt.training.checkpoint import load_checkpoint, save_checkpoint

META = {"template": {"max_length": 64, "layout": "warp"}, "eval_batch_size": 4}
TEXTS = [Example("a great movie"), Example("boring and long"), Example("fun")]


def trained(tiny_bert, name="infoprompt"):
    method = build_method(name, tiny_bert, get_task("sst2"), {"n_prompts": 3})
    with torch.no_grad():
        for p in method.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.1)  # differ from a fresh init
    return method.eval()


@pytest.mark.parametrize("name", ["prompt", "warp", "idpg", "infoprompt"])
def test_round_trip_reproduces_logits_exactly(tmp_path, tiny_bert, name):
    method = trained(tiny_bert, name)
    save_checkpoint(tmp_path, method, META)
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind
    model = load(tmp_path, backbone=tiny_bert)
    from infoprompt.training.loop import predict_logits

    features = model.template.encode(TEXTS)
    assert torch.equal(predict_logits(method, features, 4), predict_logits(model.method, features, 4))
    record = json.loads((tmp_path / "config.json").read_text())
    assert record["method"] == name and record["backbone"]["hidden_size"] == 32


def test_other_backbone_is_refused(tmp_path, tiny_bert, bert_tokenizer):
    save_checkpoint(tmp_path, trained(tiny_bert), META)
    other = make_tiny_backbone("bert", bert_tokenizer, seed=1)  # same shapes, different weights
    with pytest.raises(CheckpointError, match="embedding_digest"):
        load_checkpoint(tmp_path, other)


def test_corrupted_tensors_are_detected(tmp_path, tiny_bert):
    save_checkpoint(tmp_path, trained(tiny_bert), META)
    path = tmp_path / "model.safetensors"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="truncated or corrupted"):
        load_checkpoint(tmp_path, tiny_bert)


def test_corrupted_json_and_missing_files(tmp_path, tiny_bert):
    with pytest.raises(CheckpointError, match="missing"):
        load_checkpoint(tmp_path, tiny_bert)
    save_checkpoint(tmp_path, trained(tiny_bert), META)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="corrupted JSON"):
        load_checkpoint(tmp_path, tiny_bert)


def test_label_set_mismatch_is_refused(tmp_path, tiny_bert):
    save_checkpoint(tmp_path, trained(tiny_bert), META)
    record = json.loads((tmp_path / "config.json").read_text())
    record["task"]["label_names"] = ["a", "b", "c"]
    record["task"]["verbalizer"] = ["x", "y", "z"]
    (tmp_path / "config.json").write_text(json.dumps(record))
    with pytest.raises(CheckpointError, match="label set"):
        load_checkpoint(tmp_path, tiny_bert)
