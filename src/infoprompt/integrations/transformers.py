"""Train our methods under `transformers.Trainer`, and keep our small sealed checkpoints.

    from transformers import Trainer, TrainingArguments
    from infoprompt.integrations.transformers import (Collator, InfoPromptCallback, MethodModel,
                                                      metrics_function)

    method = build_method("infoprompt", backbone, task)
    template = method.make_template(128)
    model = MethodModel(method, max_length=128)
    trainer = Trainer(model=model, args=TrainingArguments("out", eval_strategy="epoch", save_strategy="epoch",
                                                          load_best_model_at_end=True,
                                                          metric_for_best_model="accuracy"),
                      train_dataset=template.encode(train), eval_dataset=template.encode(dev),
                      data_collator=Collator(template), compute_metrics=metrics_function(task),
                      callbacks=[InfoPromptCallback(model)])
    trainer.train()
    load("out/infoprompt")          # the kept weights, in our API

Why each part exists:
- `MethodModel` gives `Trainer` the `forward(**batch) -> {"loss", "logits"}` it expects, names `labels`
  in its signature (so `label_names` need not be given), and states only the trainable tensors in its
  `state_dict`: the Trainer's checkpoints then hold the prompt (kilobytes), not the frozen backbone,
  and `load_best_model_at_end` restores exactly those tensors.
- `InfoPromptCallback` writes our sealed checkpoint (training/checkpoint.py, loadable by
  `infoprompt.api.load`) into every Trainer checkpoint folder and, at the end, into `output_dir/infoprompt`;
  it also puts the method's named loss terms (`loss/pred`, `loss/rep`, ...) beside the Trainer's `loss`.
- `Collator` pads our features (or encodes Examples / dicts of the task's text fields first); pass
  `remove_unused_columns=False` when the train set is a `datasets.Dataset` of text rows.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback

from infoprompt.data.example import Example
from infoprompt.data.tasks import TaskSpec
from infoprompt.evaluation.metrics import compute_metrics
from infoprompt.prompting.template import Feature, Template, collate
from infoprompt.training.checkpoint import save_checkpoint

# The folder under `output_dir` that holds the kept weights as our checkpoint at the end of training.
FINAL_DIR = "infoprompt"


class MethodModel(torch.nn.Module):
    """A method (build_method's nn.Module) as a `Trainer` model: forward(**batch) -> {"loss", "logits"}."""

    accepts_loss_kwargs = False  # the Trainer scales the loss for gradient accumulation itself

    def __init__(self, method: torch.nn.Module, max_length: int = 128, eval_batch_size: int = 64):
        super().__init__()
        self.method = method
        self.max_length, self.eval_batch_size = max_length, eval_batch_size
        self._terms: dict[str, list[float]] = {}

    def forward(self, labels: torch.Tensor | None = None, **batch: Any) -> dict[str, torch.Tensor]:
        batch.pop("num_items_in_batch", None)
        if labels is not None:
            batch["labels"] = labels
        out = self.method(batch)
        result = {"logits": out.logits}
        if labels is not None:
            result["loss"] = out.total()
            if self.training:
                for name, value in out.losses.items():
                    self._terms.setdefault(name, []).append(float(value.detach()))
        return result

    def pop_loss_terms(self) -> dict[str, float]:
        """The mean of each named loss term since the last call (what the Trainer's `loss` is made of)."""
        terms = {f"loss/{name}": sum(values) / len(values) for name, values in self._terms.items() if values}
        self._terms = {}
        return terms

    # -- what the Trainer saves and restores: the method's trainable tensors only -------------------------
    def state_dict(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        return {name: value.detach().clone() for name, value in self.method.trainable_state_dict().items()}

    def load_state_dict(self, state_dict: dict[str, torch.Tensor], strict: bool = True, assign: bool = False):
        expected = self.method.trainable_state_dict()
        missing = sorted(set(expected) - set(state_dict))
        unexpected = sorted(set(state_dict) - set(expected))
        if strict and (missing or unexpected):
            raise RuntimeError(f"trainable tensors do not match: missing {missing[:3]}, unexpected {unexpected[:3]}")
        targets = {**dict(self.method.named_parameters()), **dict(self.method.named_buffers())}
        with torch.no_grad():
            for name, value in state_dict.items():
                if name in expected:
                    targets[name].copy_(value)
        return torch.nn.modules.module._IncompatibleKeys(missing, unexpected)

    def save(self, directory: str | Path, **meta: Any) -> Path:
        """Our sealed checkpoint of the current weights (loadable by `infoprompt.api.load`)."""
        layout = getattr(self.method.config, "layout", None)
        record = {"template": {"max_length": self.max_length, "layout": layout},
                  "eval_batch_size": self.eval_batch_size, "trained_with": "transformers.Trainer", **meta}
        return save_checkpoint(Path(directory), self.method, record)


class Collator:
    """Pads a list of our features into one batch (Examples, or dicts of the task's text fields and `label`,
    are encoded by the template first)."""

    def __init__(self, template: Template):
        self.template = template

    def __call__(self, rows: list) -> dict:
        features = [row if isinstance(row, Feature) else None for row in rows]
        todo = [i for i, f in enumerate(features) if f is None]
        if todo:
            encoded = self.template.encode([_example(rows[i]) for i in todo])
            for i, feature in zip(todo, encoded):
                features[i] = feature
        return collate(features, self.template.pad_id)


def _example(row: Any) -> Example:
    if isinstance(row, Example):
        return row
    if isinstance(row, dict):
        texts = [row[k] for k in ("text_a", "text_b", "sentence", "sentence1", "sentence2", "text") if row.get(k)]
        if not texts:
            raise ValueError(f"a row needs its text (text_a/text_b, sentence, sentence1/sentence2 or text): {row}")
        return Example(texts[0], texts[1] if len(texts) > 1 else None, label=row.get("label"))
    raise TypeError(f"the collator takes features, Examples or dicts, not {type(row).__name__}")


def metrics_function(task: TaskSpec) -> Callable[[Any], dict[str, float]]:
    """`compute_metrics` for the Trainer: the task's own metrics from our registry on the argmax of the logits."""

    def compute(eval_pred) -> dict[str, float]:
        logits, labels = eval_pred.predictions, eval_pred.label_ids
        logits = logits[0] if isinstance(logits, tuple) else logits
        predictions = torch.as_tensor(logits).argmax(-1).tolist()
        return compute_metrics(task.metrics, [int(y) for y in labels], predictions)

    return compute


class InfoPromptCallback(TrainerCallback):
    """Our checkpoint in every Trainer checkpoint folder and in `output_dir/infoprompt` at the end (the kept
    weights: the best ones under `load_best_model_at_end`), and the named loss terms in the logs."""

    def __init__(self, model: MethodModel, directory: str | Path | None = None):
        self.model, self.directory = model, directory

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs is not None and "loss" in logs:
            terms = self.model.pop_loss_terms()
            logs.update(terms)
            if state.log_history and state.log_history[-1].get("loss") == logs["loss"]:
                state.log_history[-1].update(terms)

    def on_save(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            self.model.save(folder, step=state.global_step, dev_metrics=_last_eval(state))

    def on_train_end(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            best = state.best_model_checkpoint
            step = int(best.rsplit("-", 1)[-1]) if best and args.load_best_model_at_end else state.global_step
            folder = Path(self.directory) if self.directory else Path(args.output_dir) / FINAL_DIR
            self.model.save(folder, step=step, dev_metrics=_last_eval(state, step))


def _last_eval(state, step: int | None = None) -> dict[str, float]:
    """The metrics of the evaluation at `step` (default: the latest), without the Trainer's `eval_` prefix."""
    evals = [r for r in state.log_history if any(k.startswith("eval_") for k in r)
             and (step is None or r.get("step") == step)]
    if not evals:
        return {}
    return {k[5:]: v for k, v in evals[-1].items() if k.startswith("eval_") and isinstance(v, (int, float))
            and k not in ("eval_runtime", "eval_samples_per_second", "eval_steps_per_second", "eval_loss")}
