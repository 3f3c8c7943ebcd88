import json
import os
import stat

import pytest
import torch

from infoprompt.api import load
from infoprompt.data.example import Example
from infoprompt.data.tasks import get_task
from infoprompt.errors import CheckpointError, InfoPromptError
from infoprompt.methods import build_method
from infoprompt.testing import load_checkpoint, make_tiny_backbone
from infoprompt.training.checkpoint import read_checkpoint_config, save_checkpoint, seal_record

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
    from infoprompt.training.inference import predict_logits

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
    (tmp_path / "config.json").write_text(json.dumps(seal_record(record)))  # resealed: reaches the shape check
    with pytest.raises(CheckpointError, match=r"implies tensor 'head.bias' of shape \[3\], but model.safetensors holds \[2\]"):
        load_checkpoint(tmp_path, tiny_bert)


def test_an_edited_record_is_refused_before_use(tmp_path, tiny_bert):
    save_checkpoint(tmp_path, trained(tiny_bert), META)
    record = json.loads((tmp_path / "config.json").read_text())
    record["backbone"]["name"] = "/somewhere/else"  # not resealed: the record hash catches it
    (tmp_path / "config.json").write_text(json.dumps(record))
    with pytest.raises(CheckpointError, match="do not match its 'record_sha256'"):
        read_checkpoint_config(tmp_path)


def test_the_backbone_fingerprint_is_mandatory(tmp_path, tiny_bert):
    save_checkpoint(tmp_path, trained(tiny_bert), META)
    record = json.loads((tmp_path / "config.json").read_text())
    del record["backbone"]["embedding_digest"]
    (tmp_path / "config.json").write_text(json.dumps(seal_record(record)))
    with pytest.raises(CheckpointError, match="'backbone.embedding_digest' missing"):
        load_checkpoint(tmp_path, tiny_bert)


def test_absurd_sizes_are_refused_before_allocation(tmp_path, tiny_bert):
    """n_prompts=1e12 (an 8 TB prompt in fp32 at this width times 64): refused by the meta-device build."""
    save_checkpoint(tmp_path, trained(tiny_bert), META)
    record = json.loads((tmp_path / "config.json").read_text())
    record["method_config"]["n_prompts"] = 10**12
    (tmp_path / "config.json").write_text(json.dumps(seal_record(record)))
    with pytest.raises(CheckpointError, match="nothing was allocated"):
        load_checkpoint(tmp_path, tiny_bert)


def test_record_shapes_must_match_the_tensor_header(tmp_path, tiny_bert):
    save_checkpoint(tmp_path, trained(tiny_bert), META)
    record = json.loads((tmp_path / "config.json").read_text())
    name = next(iter(record["tensor_shapes"]))
    record["tensor_shapes"][name] = [10**12]
    (tmp_path / "config.json").write_text(json.dumps(seal_record(record)))
    with pytest.raises(CheckpointError, match="'tensor_shapes' does not match"):
        read_checkpoint_config(tmp_path)


def test_written_files_follow_the_umask(tmp_path, tiny_bert):
    old = os.umask(0o027)
    try:
        save_checkpoint(tmp_path, trained(tiny_bert), META)
    finally:
        os.umask(old)
    for name in ("config.json", "model.safetensors"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o640, name


def test_non_finite_metrics_are_written_as_valid_json(tmp_path, tiny_bert):
    save_checkpoint(tmp_path, trained(tiny_bert), {**META, "dev_metrics": {"accuracy": float("nan")}})
    text = (tmp_path / "config.json").read_text()
    assert "NaN" not in text and json.loads(text)["dev_metrics"] == {"accuracy": None}
    read_checkpoint_config(tmp_path)  # and the sealed record still verifies


class _Pwned:
    """Unpickling this runs `open(marker, 'w')`: if the marker exists, a pickle was executed."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_planted_pickle_in_the_backbone_named_by_a_checkpoint_never_runs(tmp_path, tiny_bert, tiny_model_dir,
                                                                               monkeypatch):
    """The record names a backbone folder holding only pytorch_model.bin (a code-running pickle):
    loading refuses it (safetensors only) and the pickle is never executed."""
    import pickle
    import shutil

    planted = tmp_path / "planted"
    shutil.copytree(tiny_model_dir, planted)
    for weights in planted.glob("*.safetensors"):
        weights.unlink()
    marker = tmp_path / "PWNED"
    (planted / "pytorch_model.bin").write_bytes(pickle.dumps(_Pwned(marker)))
    ckpt = tmp_path / "ckpt"
    save_checkpoint(ckpt, trained(tiny_bert), META)
    record = json.loads((ckpt / "config.json").read_text())
    record["backbone"]["name"] = str(planted)
    (ckpt / "config.json").write_text(json.dumps(seal_record(record)))
    calls = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: calls.append(a) or real_load(*a, **k))
    with pytest.raises(InfoPromptError, match="model.safetensors"):
        load_checkpoint(ckpt)
    assert not calls and not marker.exists()  # torch.load was never reached
    # The spy works: loading the same folder as a training backbone does reach torch.load, whose
    # weights_only default (torch>=2.6, the floor in pyproject.toml) refuses the pickle: one line, no code run.
    from infoprompt.backbones import load_backbone

    with pytest.raises(InfoPromptError, match="cannot load backbone"):
        load_backbone(str(planted))
    assert calls and not marker.exists()
