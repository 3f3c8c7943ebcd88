"""peft-exact interop (`--method peft`): the export loads with transformers + peft alone and predicts exactly
what `infoprompt predict` predicts (issue 26, acceptance 1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from infoprompt.api import load, predict
from infoprompt.backbones import load_backbone
from infoprompt.cli import main
from infoprompt.data.example import Example
from infoprompt.data.tasks import get_task
from infoprompt.export.interop import hub_id, load_export
from infoprompt.export.model_card import push_to_hub, read_card_header
from infoprompt.export.peft import META_FILE
from infoprompt.methods import build_method
from infoprompt.testing import tiny_llama
from infoprompt.training.checkpoint import save_checkpoint
from infoprompt.training.inference import predict_logits

peft = pytest.importorskip("peft")

TEXTS = ["a great movie with a wonderful cast", "boring", "the plot is thin but fun , and long",
         "a terrible film", "hello world"]


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory, roberta_tokenizer):
    folder = tmp_path_factory.mktemp("tiny-llama")
    tiny_llama(roberta_tokenizer).save_pretrained(folder)
    roberta_tokenizer.save_pretrained(folder)
    return folder


def _run(tmp_path, base_dir, peft_type: str):
    backbone = load_backbone(str(base_dir))  # named by its folder: the export's base_model_name_or_path
    torch.manual_seed(1)
    method = build_method("peft", backbone, get_task("sst2"), {"peft_type": peft_type, "n_prompts": 3})
    with torch.no_grad():  # move every trained tensor off its init (LoRA's B and the head start near zero)
        for p in method.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.5)
    run = tmp_path / f"run-{peft_type}"
    save_checkpoint(run, method, {"template": {"max_length": 32, "layout": "prefix"}})
    return run, backbone


def _plain_peft_logits(folder, texts, one_by_one: bool):
    """Only transformers + peft, as their docs show (one sentence at a time where the README says so)."""
    from peft import AutoPeftModelForSequenceClassification
    from transformers import AutoTokenizer

    model = AutoPeftModelForSequenceClassification.from_pretrained(str(folder)).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    with torch.no_grad():
        if one_by_one:
            return torch.cat([model(**tokenizer([text], return_tensors="pt")).logits for text in texts])
        return model(**tokenizer(texts, padding=True, return_tensors="pt")).logits


@pytest.mark.parametrize("peft_type", ["lora", "prompt", "prefix"])
@pytest.mark.parametrize("family", ["bert", "llama"])
def test_interop_export_predicts_exactly_like_us(tmp_path, tiny_model_dir, llama_dir, family, peft_type):
    base = tiny_model_dir if family == "bert" else llama_dir
    run, backbone = _run(tmp_path, base, peft_type)
    out = tmp_path / "export"
    assert main(["export", "--checkpoint", str(run), "--format", "peft", "--output", str(out)]) == 0
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str(base) and config["task_type"] == "SEQ_CLS"
    meta = json.loads((out / META_FILE).read_text())
    theirs = _plain_peft_logits(out, TEXTS, one_by_one=not meta["padded_batches"])
    model = load(run)
    ours = predict_logits(model.method, model.template.encode([Example(t) for t in TEXTS]), 64)
    assert torch.allclose(theirs, ours, atol=1e-5), (theirs - ours).abs().max()
    rows = [{"sentence": t} for t in TEXTS]
    labels = predict(run, rows)
    assert labels == [model.task.label_names[i] for i in theirs.argmax(-1).tolist()]
    assert meta["mode"] == "peft-exact" and meta["padded_batches"] == (family == "bert" or peft_type != "prompt")
    header = read_card_header(out / "README.md")  # the model card, in the Hub's format
    assert header["base_model"] == str(base) and header["library_name"] == "peft" and "peft" in header["tags"]
    assert "AutoPeftModelForSequenceClassification" in (out / "README.md").read_text()


def test_hub_id_names_the_alias_never_a_site_packages_path():
    assert hub_id("minilm") == "sentence-transformers/all-MiniLM-L6-v2"
    assert hub_id("roberta-base") == "roberta-base"


def test_own_layout_export_has_a_card_and_a_loader_that_predicts_like_us(tmp_path, tiny_model_dir):
    """A WARP-layout LoRA run: plain peft cannot reproduce it; the README says what it needs, and our loader does."""
    backbone = load_backbone(str(tiny_model_dir))
    torch.manual_seed(1)
    method = build_method("lora", backbone, get_task("sst2"), {"n_prompts": 2})
    with torch.no_grad():
        for p in method.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.5)
    run = tmp_path / "run"
    save_checkpoint(run, method, {"template": {"max_length": 32, "layout": method.config.layout}})
    out = tmp_path / "export"
    assert main(["export", "--checkpoint", str(run), "--format", "peft", "--output", str(out)]) == 0
    header = read_card_header(out / "README.md")
    assert header["base_model"] == str(tiny_model_dir) and "lora" in header["tags"]
    text = (out / "README.md").read_text()
    assert "plain peft loading does not reproduce them" in text and "load_export" in text
    ours = load(run)
    rebuilt = load_export(out)
    features = [Example(t) for t in TEXTS]
    assert torch.allclose(predict_logits(rebuilt.method, rebuilt.template.encode(features)),
                          predict_logits(ours.method, ours.template.encode(features)), atol=1e-5)


def test_push_to_hub_uploads_the_folder_offline(tmp_path):
    """No network: a stand-in for `huggingface_hub.HfApi` records what would be uploaded."""
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "README.md").write_text("---\nbase_model: x\n---\n")

    class FakeApi:
        def __init__(self):
            self.calls = []

        def create_repo(self, repo_id, private, exist_ok):
            self.calls.append(("create", repo_id, private, exist_ok))

        def upload_folder(self, repo_id, folder_path, commit_message, ignore_patterns):
            self.calls.append(("upload", repo_id, sorted(p.name for p in Path(folder_path).iterdir())))
            return type("Info", (), {"commit_url": f"https://hub.invalid/{repo_id}/commit/1"})()

    api = FakeApi()
    assert push_to_hub(folder, "me/run", api=api) == "https://hub.invalid/me/run/commit/1"
    assert api.calls == [("create", "me/run", True, True), ("upload", "me/run", ["README.md"])]


def test_trained_peft_run_exports_exactly_and_has_a_run_card(tmp_path, tiny_model_dir):
    """Trained by our loop (`--method peft --peft-type p-tuning`), exported, loaded by peft alone."""
    from infoprompt.api import TrainConfig, train

    rows = [{"sentence": t, "label": i % 2} for i, t in enumerate(TEXTS * 3)]
    cfg = TrainConfig(task="custom", method="peft", method_options={"peft_type": "p-tuning"}, train_data=rows,
                      dev_data=rows[:8], text_fields=["sentence"], backbone=str(tiny_model_dir), epochs=2,
                      batch_size=4, lr=0.01, output=str(tmp_path / "run"), progress=False, device="cpu",
                      max_length=32, select_on="last")
    result = train(cfg)
    assert read_card_header(tmp_path / "run" / "README.md")["tags"][:2] == ["infoprompt", "peft"]
    out = tmp_path / "export"
    assert main(["export", "--checkpoint", str(result.run_dir), "--format", "peft", "--output", str(out)]) == 0
    theirs = _plain_peft_logits(out, TEXTS, one_by_one=False)
    model = load(result.run_dir)
    ours = predict_logits(model.method, model.template.encode([Example(t) for t in TEXTS]), 64)
    assert torch.allclose(theirs, ours, atol=1e-5)
    card = (out / "README.md").read_text()
    assert read_card_header(out / "README.md")["model-index"][0]["results"][0]["metrics"][0]["value"] == round(
        result.summary["headline"]["value"], 6)  # the export's card repeats the run's reported score
    assert "Reported score:" in card


def test_export_push_to_hub_flag_uploads_the_written_folder(tmp_path, tiny_model_dir, monkeypatch):
    pushed = []
    monkeypatch.setattr("infoprompt.export.model_card.push_to_hub",
                        lambda folder, repo_id: pushed.append((Path(folder), repo_id)) or "url")
    run, _ = _run(tmp_path, tiny_model_dir, "lora")
    out = tmp_path / "export"
    assert main(["export", "--checkpoint", str(run), "--output", str(out), "--push-to-hub", "me/adapter"]) == 0
    assert pushed == [(out, "me/adapter")] and (out / "README.md").is_file()
