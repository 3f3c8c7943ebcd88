"""`infoprompt export --format peft`: peft loads the folder and computes what our model computes."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from safetensors.torch import load_file

from infoprompt.backbones import load_backbone
from infoprompt.cli import main
from infoprompt.data.example import Example
from infoprompt.data.tasks import get_task
from infoprompt.export.peft import HEAD_FILE, META_FILE, export_peft
from infoprompt.methods import build_method
from infoprompt.prompting import Template, collate
from infoprompt.training.checkpoint import save_checkpoint

peft = pytest.importorskip("peft")


def _save_run(tmp_path, backbone, name: str, options: dict):
    torch.manual_seed(1)
    method = build_method(name, backbone, get_task("sst2"), {"n_prompts": 3, **options})
    with torch.no_grad():  # move every trained tensor off its init (LoRA's B starts at zero)
        for p in method.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.5)
    run = tmp_path / f"run-{name}"
    save_checkpoint(run, method, {"template": {"max_length": 32, "layout": method.config.layout}})
    return method.eval(), run


def _batch(method, backbone):
    template = Template(backbone.tokenizer, method.config.n_prompts, layout=method.config.layout, max_length=32)
    features = template.encode([Example("a great movie"), Example("a terrible , boring film")])
    return collate(features, backbone.tokenizer.pad_token_id)


def _peft(base, folder):
    return peft.PeftModel.from_pretrained(copy.deepcopy(base).eval(), str(folder)).eval()


def test_lora_export_gives_our_hidden_states_and_logits(tmp_path, tiny_bert):
    method, run = _save_run(tmp_path, tiny_bert, "lora", {})
    out = export_peft(run, tmp_path / "peft", backbone=tiny_bert)
    assert json.loads((out / "adapter_config.json").read_text())["peft_type"] == "LORA"
    model = _peft(tiny_bert.model, out)
    batch = _batch(method, tiny_bert)
    with torch.no_grad():
        ids = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
        ours = method.backbone(**ids).last_hidden_state
        theirs = model(**ids).last_hidden_state
        plain = tiny_bert.model(**ids).last_hidden_state
        assert not torch.allclose(ours, plain, atol=1e-4)  # the adapter changes something
        torch.testing.assert_close(theirs, ours, rtol=0, atol=1e-5)
        # The documented mapping: slot vectors into the template's slots, head on the readout position.
        head = load_file(str(out / HEAD_FILE))
        embeds = tiny_bert.model.get_input_embeddings()(batch["input_ids"])
        slot = batch["prompt_index"]
        embeds = torch.where((slot >= 0).unsqueeze(-1), head["slot_prompts"][slot.clamp(min=0)], embeds)
        hidden = model(inputs_embeds=embeds, attention_mask=batch["attention_mask"],
                       token_type_ids=batch["token_type_ids"]).last_hidden_state
        z = hidden[torch.arange(hidden.shape[0]), batch["mask_pos"]]
        torch.testing.assert_close(z @ head["class_embeddings"].t() + head["bias"], method(batch).logits,
                                   rtol=0, atol=1e-5)
    meta = json.loads((out / META_FILE).read_text())
    assert meta["readout"] == "mask" and meta["label_names"] == ["negative", "positive"]


def test_prompt_export_is_prompt_tuning_with_our_vectors(tmp_path, tiny_bert):
    method, run = _save_run(tmp_path, tiny_bert, "prompt", {})
    out = export_peft(run, tmp_path / "peft", backbone=tiny_bert)
    model = _peft(tiny_bert.model, out)
    config = model.peft_config["default"]
    assert config.peft_type == peft.PeftType.PROMPT_TUNING and config.num_virtual_tokens == 3
    torch.testing.assert_close(model.prompt_encoder["default"].embedding.weight, method.prompt, rtol=0, atol=0)
    ids = tiny_bert.tokenizer(["a great movie", "a terrible film"], return_tensors="pt", padding=True)
    with torch.no_grad():
        theirs = model(input_ids=ids["input_ids"], attention_mask=ids["attention_mask"]).last_hidden_state
        prompted = torch.cat([method.prompt.expand(2, -1, -1), tiny_bert.model.get_input_embeddings()(ids["input_ids"])], 1)
        mask = torch.cat([torch.ones(2, 3, dtype=ids["attention_mask"].dtype), ids["attention_mask"]], 1)
        ours = tiny_bert.model(inputs_embeds=prompted, attention_mask=mask).last_hidden_state
    torch.testing.assert_close(theirs, ours, rtol=0, atol=1e-5)


@pytest.mark.parametrize("hidden", [0, 8])  # P-tuning v2's direct prefix, Li & Liang's MLP reparameterisation
def test_prefix_export_gives_our_hidden_states(tmp_path, tiny_bert, hidden):
    method, run = _save_run(tmp_path, tiny_bert, "prefix", {"prefix_length": 4, "prefix_hidden": hidden})
    out = export_peft(run, tmp_path / "peft", backbone=tiny_bert)
    model = _peft(tiny_bert.model, out)
    assert model.peft_config["default"].peft_type == peft.PeftType.PREFIX_TUNING
    assert model.peft_config["default"].num_virtual_tokens == 4
    ids = tiny_bert.tokenizer(["a great movie", "a terrible film"], return_tensors="pt", padding=True)
    with torch.no_grad():
        ours = method.backbone(input_ids=ids["input_ids"], attention_mask=ids["attention_mask"]).last_hidden_state
        theirs = model(input_ids=ids["input_ids"], attention_mask=ids["attention_mask"]).last_hidden_state
        plain = tiny_bert.model(**ids).last_hidden_state
    assert ours.shape == plain.shape and not torch.allclose(ours, plain, atol=1e-4)
    torch.testing.assert_close(theirs, ours, rtol=0, atol=1e-5)


def test_cli_exports_a_run_saved_on_a_backbone_folder(tmp_path, tiny_model_dir):
    backbone = load_backbone(str(tiny_model_dir))
    _, run = _save_run(tmp_path, backbone, "lora", {"lora_targets": "query,key,value"})
    assert main(["export", "--checkpoint", str(run), "--format", "peft", "--output", str(tmp_path / "out")]) == 0
    config = json.loads((tmp_path / "out" / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str(tiny_model_dir)
    assert sorted(config["target_modules"]) == ["key", "query", "value"]
    assert (tmp_path / "out" / "adapter_model.safetensors").is_file()


@pytest.mark.parametrize("name", ["warp", "idpg", "infoprompt", "adapter", "bitfit", "finetune"])
def test_methods_without_a_peft_equivalent_are_refused_in_one_line(tmp_path, tiny_bert, capsys, name):
    _, run = _save_run(tmp_path, tiny_bert, name, {})
    assert main(["export", "--checkpoint", str(run), "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"method '{name}' cannot be exported" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name,options", [("lora", {}), ("prefix", {"prefix_length": 4}), ("prompt", {})])
def test_masked_lm_backbones_export_onto_the_model_with_its_head(tmp_path, tiny_mlm, name, options):
    method, run = _save_run(tmp_path, tiny_mlm, name, options)
    out = export_peft(run, tmp_path / "peft", backbone=tiny_mlm)
    meta = json.loads((out / META_FILE).read_text())
    assert (meta["base_class"], meta["family"]) == ("AutoModelForMaskedLM", "mlm")
    assert meta["head"] is None and meta["predict"] == method.predict == "label"  # the LM head scores labels
    model = _peft(tiny_mlm.model, out)
    ids = tiny_mlm.tokenizer(["a great movie", "a terrible film"], return_tensors="pt", padding=True)
    ids = {"input_ids": ids["input_ids"], "attention_mask": ids["attention_mask"]}
    with torch.no_grad():
        theirs = model(**ids, output_hidden_states=True).hidden_states[-1]
        if name == "prompt":
            torch.testing.assert_close(model.prompt_encoder["default"].embedding.weight, method.prompt, rtol=0, atol=0)
            return
        ours = method.backbone(**ids, output_hidden_states=True).hidden_states[-1]
    torch.testing.assert_close(theirs, ours, rtol=0, atol=1e-5)
