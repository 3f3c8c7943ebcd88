"""The peft-exact export of a `--method peft` run: peft's own folder, loadable with no code of ours.

    from peft import AutoPeftModelForSequenceClassification
    from transformers import AutoTokenizer
    model = AutoPeftModelForSequenceClassification.from_pretrained(DIR).eval()
    tokenizer = AutoTokenizer.from_pretrained(DIR)
    logits = model(**tokenizer(texts, padding=True, return_tensors="pt")).logits

predicts what `infoprompt predict RUN` predicts (tests/export/test_interop.py: logits within 1e-5). The folder
is `PeftModel.save_pretrained` of the very model the run trained, its `base_model_name_or_path` set to the
backbone's hub id where it has one, plus the tokenizer.
"""

from __future__ import annotations

from pathlib import Path

from infoprompt.atomic_files import atomic_write_json
from infoprompt.backbones import NOT_EXACT, hub_id
from infoprompt.methods.peft_init import HEAD_FILE, META_FILE, init_from_peft
from infoprompt.report.model_card import CARD, read_card_header, write_card


def export_interop(model, output: str | Path, checkpoint: str | Path | None = None) -> Path:
    """Write `output/` from a loaded `--method peft` run (api.LoadedModel): adapter, tokenizer, README."""
    method = model.method
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    config = method.peft.peft_config["default"]
    config.base_model_name_or_path = hub_id(method.backbone_info.name)
    method.peft.save_pretrained(str(output), save_embedding_layers=False)
    method.backbone_info.tokenizer.save_pretrained(str(output))
    atomic_write_json(output / META_FILE, {
        "method": "peft", "mode": "peft-exact", "peft_type": str(config.peft_type.value),
        "base_model": hub_id(method.backbone_info.name), "base_class": "AutoModelForSequenceClassification",
        "load": "peft.AutoPeftModelForSequenceClassification.from_pretrained(DIR)",
        "padded_batches": not method.unpadded, "label_names": method.task.label_names,
        "task": method.task.name, "notes": interop_notes(method)})
    write_export_card(output, checkpoint, model.record, method)
    return output


def interop_notes(method) -> list[str]:
    """What a peft user must know to reproduce this export's predictions (the README's usage section)."""
    name = method.backbone_info.name
    notes = [f"Loads with `AutoPeftModelForSequenceClassification.from_pretrained(DIR)`; the base is "
             f"`{hub_id(name)}` with a {len(method.task.label_names)}-label sequence-classification head."]
    if len(method.task.label_names) != 2:
        notes.append(f"Pass `num_labels={len(method.task.label_names)}` to `from_pretrained` (the base config "
                     "says 2).")
    if method.unpadded:
        notes.append("Score one sentence at a time (or batches of equal length): with prompt tuning on a decoder "
                     "peft passes only embeddings (the head reads the last position) and puts the prompts before "
                     "the padding, so padded batches change the scores.")
    if name in NOT_EXACT:
        notes.append(f"Not bit-exact from the hub id: {NOT_EXACT[name]}.")
    return notes


PEFT_USAGE = """from peft import AutoPeftModelForSequenceClassification
from transformers import AutoTokenizer

model = AutoPeftModelForSequenceClassification.from_pretrained("DIR").eval()
tokenizer = AutoTokenizer.from_pretrained("DIR")
logits = model(**tokenizer(["a gripping, beautiful film"], return_tensors="pt")).logits
"""

OWN_USAGE = """from infoprompt.export.interop import load_export

model = load_export("DIR")  # transformers + peft + our template and head: what `infoprompt predict` computes
print(model.predict_texts(["a gripping, beautiful film"]))
"""


def own_layout_notes(meta: dict) -> list[str]:
    """What a peft user needs to reproduce an export of one of our own layouts (not peft's)."""
    notes = [f"The adapter is peft's {meta['peft_type']} on `{meta['base_model']}` ({meta['base_class']}), but "
             "the predictions are ours: plain peft loading does not reproduce them.",
             f"Input: our template (layout `{meta['template'].get('layout')}`, max length "
             f"{meta['template'].get('max_length')}): prompt slots and a mask token placed as in "
             "src/infoprompt/prompting/template.py, not peft's prompts-before-the-input.",
             f"Readout: `{meta['readout']}` ({meta['family']} family): where the hidden state Z is read."]
    if meta.get("head"):
        notes.append(f"Head: {meta['head']} (tensors in `{HEAD_FILE}`).")
    if meta.get("slot_prompts"):
        notes.append(f"Slots: {meta['slot_prompts']} (`slot_prompts` in `{HEAD_FILE}`).")
    notes.append("For peft-exact predictions train with `--method peft --peft-type lora|prompt|prefix|p-tuning` "
                 "(docs/interop.md).")
    return notes


def write_export_card(output: Path, checkpoint, record: dict, method) -> Path:
    """The export's README.md: the model card, with the run directory's reported score when it has one."""
    import json


    meta = json.loads((Path(output) / META_FILE).read_text(encoding="utf-8"))
    exact = meta.get("mode") == "peft-exact"
    summary = _run_summary(checkpoint)
    return write_card(output, record, summary, library="peft",
                      usage=(PEFT_USAGE if exact else OWN_USAGE).replace("DIR", str(output)),
                      notes=meta["notes"] if exact else own_layout_notes(meta))


def _run_summary(checkpoint) -> dict | None:
    """The headline fields the run directory's own README.md header recorded (None when there is none)."""

    path = Path(checkpoint) / CARD if checkpoint else None
    if path is None or not path.is_file():
        return None
    try:
        return read_card_header(path).get("infoprompt_summary")
    except (ValueError, OSError):
        return None


def load_export(folder: str | Path, backbone=None):
    """An export of one of our own layouts, rebuilt with our template and head (api.LoadedModel): the 20-line
    loader its README shows. The peft adapter, the head and the slot vectors come from the folder."""
    import json

    from infoprompt.api import LoadedModel
    from infoprompt.backbones import load_backbone
    from infoprompt.data.tasks import TaskSpec
    from infoprompt.methods import build_method

    folder = Path(folder)
    meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    backbone = backbone or load_backbone(meta["base_model"])
    task = TaskSpec.from_dict(meta["task_spec"])
    method = build_method(meta["method"], backbone, task, dict(meta["method_config"]))
    init_from_peft(method, folder)
    method.eval()
    template = method.make_template(int(meta["template"]["max_length"]))
    return LoadedModel(method, template, {"method": meta["method"], "export": str(folder)})
