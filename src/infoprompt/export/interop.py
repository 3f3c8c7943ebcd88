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
from infoprompt.export.peft import META_FILE

# Backbone aliases whose weights are a public hub model (the offline package ships a copy of it).
HUB_IDS = {"minilm": "sentence-transformers/all-MiniLM-L6-v2", "smollm2": "HuggingFaceTB/SmolLM2-135M-Instruct"}
# Aliases whose offline copy is not bit-equal to the hub model (a user loading the hub id gets other numbers).
NOT_EXACT = {"smollm2": "our copy is the Q4_1 GGUF, dequantised; the hub id holds the full-precision weights"}


def hub_id(backbone_name: str) -> str:
    """The id `from_pretrained` should find the base under: the hub id of an alias, else the name as given
    (a hub id or a local folder; never the absolute site-packages path of an alias)."""
    return HUB_IDS.get(backbone_name, backbone_name)


def export_interop(model, output: str | Path) -> Path:
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
