"""`--init-from-peft DIR`: a run starts from a peft adapter (one of ours exported, or one peft made)."""

from __future__ import annotations

import copy
import json

import pytest
import torch

from infoprompt.api import TrainConfig, train
from infoprompt.data.tasks import get_task
from infoprompt.errors import ConfigError
from infoprompt.export.peft import export_peft, init_from_peft
from infoprompt.methods import build_method
from infoprompt.training.checkpoint import save_checkpoint

peft = pytest.importorskip("peft")


def _exported(tmp_path, backbone, name: str, options: dict):
    torch.manual_seed(1)
    method = build_method(name, backbone, get_task("sst2"), {"n_prompts": 3, **options})
    with torch.no_grad():
        for p in method.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.5)
    save_checkpoint(tmp_path / "run", method, {"template": {"max_length": 32, "layout": method.config.layout}})
    return method, export_peft(tmp_path / "run", tmp_path / "adapter", backbone=backbone)


@pytest.mark.parametrize("family", ["encoder", "mlm"])
@pytest.mark.parametrize("name,options", [("lora", {}), ("prompt", {}), ("prefix", {"prefix_length": 4})])
def test_export_then_init_restores_every_trained_tensor(tmp_path, tiny_bert, tiny_mlm, name, options, family):
    backbone = tiny_bert if family == "encoder" else tiny_mlm
    original, folder = _exported(tmp_path, backbone, name, options)
    fresh = build_method(name, backbone, get_task("sst2"), {"n_prompts": 3, "seed": 7, **options})
    # same labels: our side file comes along (class head, slot vectors) wherever the run has one
    assert init_from_peft(fresh, folder)["head"] is (fresh.head is not None or name != "prompt")
    want, got = original.trainable_state_dict(), fresh.trainable_state_dict()
    assert set(want) == set(got)
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=0, atol=0, msg=key)


def test_a_lora_adapter_made_by_peft_gives_peft_hidden_states(tmp_path, tiny_bert):
    torch.manual_seed(3)
    theirs = peft.get_peft_model(copy.deepcopy(tiny_bert.model), peft.LoraConfig(r=4, lora_alpha=8, target_modules=["query", "value"]))
    with torch.no_grad():
        for n, p in theirs.named_parameters():
            if "lora_B" in n:
                p.normal_()
    theirs.save_pretrained(str(tmp_path / "adapter"))
    ours = build_method("lora", tiny_bert, get_task("sst2"), {"lora_r": 4, "lora_alpha": 8})
    assert init_from_peft(ours, tmp_path / "adapter") == {"folder": str(tmp_path / "adapter"), "peft_type": "LORA",
                                                            "head": False}
    ids = tiny_bert.tokenizer(["a great movie", "a terrible film"], return_tensors="pt", padding=True)
    with torch.no_grad():
        torch.testing.assert_close(ours.eval().backbone(**ids).last_hidden_state,
                                   theirs.eval()(**ids).last_hidden_state, rtol=0, atol=1e-5)


def test_mismatched_adapters_are_one_line_errors(tmp_path, tiny_bert):
    _, folder = _exported(tmp_path, tiny_bert, "lora", {})
    with pytest.raises(ConfigError, match=r"r=8, lora_alpha=8; pass --lora-r 8 --lora-alpha 8"):
        init_from_peft(build_method("lora", tiny_bert, get_task("sst2"), {"lora_r": 4}), folder)
    with pytest.raises(ConfigError, match=r"holds a LORA adapter; method 'prompt' starts from PROMPT_TUNING"):
        init_from_peft(build_method("prompt", tiny_bert, get_task("sst2")), folder)
    with pytest.raises(ConfigError, match=r"adapter_config.json: missing"):
        train(TrainConfig(task="sst2", method="lora", init_from_peft=str(tmp_path / "nowhere")), backbone=tiny_bert)


def test_training_starts_from_the_adapter_and_records_it(tmp_path, tiny_bert):
    _, folder = _exported(tmp_path, tiny_bert, "prompt", {})
    rows = [{"text": t, "label": y} for t, y in [("great", "a"), ("bad", "b"), ("fun", "a"), ("dull", "b")]]
    cfg = TrainConfig(task="custom", method="prompt", text_fields=["text"], train_data=rows, dev_data=rows,
                      n_prompts=3, epochs=1, batch_size=4, output=str(tmp_path / "out"), progress=False,
                      save_every=None, init_from_peft=str(folder))
    train(cfg, backbone=tiny_bert)
    record = json.loads((tmp_path / "out" / "config.json").read_text())
    assert record["init_from_peft"] == {"folder": str(folder), "peft_type": "PROMPT_TUNING", "head": False}


def test_an_adapter_config_with_a_key_given_twice_is_refused(tmp_path):
    from infoprompt.methods.peft_init import check_peft_init

    (tmp_path / "adapter_config.json").write_text('{"peft_type": "LORA", "r": 8, "r": 16}', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"adapter_config.json: not valid JSON \(field 'r' is given twice"):
        check_peft_init(tmp_path, "lora")
