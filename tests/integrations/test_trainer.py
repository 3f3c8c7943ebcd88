"""`infoprompt.integrations.transformers`: a method trained by `transformers.Trainer` reloads in our API."""

from __future__ import annotations

import json

import pytest
import torch

from infoprompt.api import load
from infoprompt.data.example import Example
from infoprompt.data.tasks import get_task
from infoprompt.methods import build_method
from infoprompt.training.inference import predict_logits

transformers = pytest.importorskip("transformers")
from infoprompt.integrations.transformers import (  # noqa: E402
    FINAL_DIR,
    Collator,
    InfoPromptCallback,
    MethodModel,
    metrics_function,
)

TEXTS = [("a great movie with a wonderful cast", 1), ("a terrible film , boring and long", 0),
         ("this is positive", 1), ("this is negative", 0), ("the plot is thin but fun", 1),
         ("boring and long", 0), ("wonderful cast", 1), ("a terrible film", 0)]


def _trainer(tmp_path, backbone, method_name: str = "infoprompt", **overrides):
    task = get_task("sst2")
    torch.manual_seed(0)
    method = build_method(method_name, backbone, task, {"n_prompts": 2})
    template = method.make_template(32)
    train = template.encode([Example(t, label=y) for t, y in TEXTS])
    dev = template.encode([Example(t, label=1 - y if i % 3 == 0 else y) for i, (t, y) in enumerate(TEXTS)])
    model = MethodModel(method, max_length=32)
    args = transformers.TrainingArguments(
        str(tmp_path / "out"), per_device_train_batch_size=4, per_device_eval_batch_size=8, num_train_epochs=3,
        learning_rate=0.05, eval_strategy="epoch", save_strategy="epoch", load_best_model_at_end=True,
        metric_for_best_model="accuracy", logging_steps=1, report_to=[], use_cpu=True, seed=0,
        save_total_limit=None, **overrides)
    trainer = transformers.Trainer(model=model, args=args, train_dataset=train, eval_dataset=dev,
                                   data_collator=Collator(template), compute_metrics=metrics_function(task),
                                   callbacks=[InfoPromptCallback(model)])
    return trainer, model, dev


def test_trainer_best_checkpoint_reloads_with_identical_logits(tmp_path, tiny_bert):
    trainer, model, dev = _trainer(tmp_path, tiny_bert)
    trainer.train()
    best = trainer.state.best_model_checkpoint
    assert best is not None
    ours = predict_logits(model.method, dev, 8)
    final = load(tmp_path / "out" / FINAL_DIR, tiny_bert)
    assert torch.equal(predict_logits(final.method, dev, 8), ours)
    kept = load(best, tiny_bert)  # the Trainer's own best folder is our checkpoint too
    assert torch.equal(predict_logits(kept.method, dev, 8), ours)
    # Trainer checkpoints hold the trainable tensors only: no backbone weight in any saved file.
    from safetensors.torch import load_file

    saved = load_file(f"{best}/model.safetensors")
    assert saved and not any(k.startswith("backbone.") for k in saved)
    assert set(saved) == set(model.method.trainable_state_dict())
    record = json.loads((tmp_path / "out" / FINAL_DIR / "config.json").read_text())
    assert record["step"] == int(best.rsplit("-", 1)[-1])
    # the named loss terms sit beside the Trainer's loss
    logged = [r for r in trainer.state.log_history if "loss" in r]
    assert logged and all("loss/pred" in r and "loss/rep" in r for r in logged)


def test_trainer_metrics_come_from_our_registry(tmp_path, tiny_bert):
    trainer, model, dev = _trainer(tmp_path, tiny_bert, "prompt")
    scores = trainer.evaluate()
    predictions = predict_logits(model.method, dev, 8).argmax(-1).tolist()
    expected = sum(int(p == f.label) for p, f in zip(predictions, dev)) / len(dev)
    assert scores["eval_accuracy"] == pytest.approx(expected)


def test_collator_encodes_text_rows(tiny_bert):
    method = build_method("prompt", tiny_bert, get_task("sst2"), {"n_prompts": 2})
    template = method.make_template(32)
    rows = [{"sentence": "a great movie", "label": 1}, {"sentence": "boring", "label": 0}]
    batch = Collator(template)(rows)
    same = Collator(template)(template.encode([Example("a great movie", label=1), Example("boring", label=0)]))
    assert torch.equal(batch["input_ids"], same["input_ids"]) and batch["labels"].tolist() == [1, 0]
    with pytest.raises(ValueError, match="needs its text"):
        Collator(template)([{"label": 1}])
