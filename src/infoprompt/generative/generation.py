"""Free generation for evaluation: greedy decoding from [P; X], then the text mapped to a label.

Mapping: the generated text, lower-cased and stripped of leading spaces/punctuation, matches a
label when it starts with that label's verbalizer word followed by a non-letter (or the end); the
longest matching word wins. Text that matches no label is *unmatched*: it counts as wrong (for the
metrics it is replaced by a label other than the gold one) and the count is reported.
"""

from __future__ import annotations

import re

import torch

from infoprompt.evaluation.metrics import compute_metrics
from infoprompt.generative.scoring import left_align
from infoprompt.prompting.batches import eval_batches
from infoprompt.prompting.template import Feature

_LEADING = re.compile(r"^[\s\W_]+")


def text_to_label(text: str, verbalizer: list[str]) -> int | None:
    """The label whose verbalizer word the text starts with (longest first), or None."""
    text = _LEADING.sub("", text.lower())
    best: int | None = None
    for i, word in enumerate(verbalizer):
        word = word.lower().strip()
        if text.startswith(word) and (len(text) == len(word) or not text[len(word)].isalnum()):
            if best is None or len(word) > len(verbalizer[best].strip()):
                best = i
    return best


@torch.inference_mode()
def generate_ids(method, batch: dict, max_new_tokens: int) -> torch.Tensor:
    """Greedy continuations (B, T) of a collated batch (prompts in place, any pruning mask applied).

    Causal LMs return only the new tokens (generation from `inputs_embeds`); seq2seq LMs start with
    the decoder start token."""
    embeds, mask = method.embed(batch, method.prompts(batch)), batch["attention_mask"]
    if method.family.kind == "causal":  # generation appends after the last column: inputs must be left-padded
        embeds, mask = left_align(embeds, mask)
    return method.backbone.generate(inputs_embeds=embeds, attention_mask=mask, max_new_tokens=max_new_tokens,
                                    do_sample=False, num_beams=1,
                                    pad_token_id=method.backbone_info.tokenizer.pad_token_id)


def generate_texts(method, batch: dict, max_new_tokens: int) -> list[str]:
    return method.backbone_info.tokenizer.batch_decode(generate_ids(method, batch, max_new_tokens),
                                                       skip_special_tokens=True)


def generate_predictions(method, features: list[Feature], *, batch_size: int = 16, device="cpu",
                         max_new_tokens: int | None = None) -> tuple[list[int | None], list[str]]:
    """(label or None per feature, generated text per feature), in the features' order."""
    max_new_tokens = max_new_tokens or max(len(c) for c in method.candidates) + 2
    texts: list[str] = [""] * len(features)
    was_training = method.training
    method.eval()
    try:
        for rows, batch in eval_batches(method, features, batch_size, device):
            for i, text in zip(rows, generate_texts(method, batch, max_new_tokens)):
                texts[i] = text
    finally:
        method.train(was_training)
    return [text_to_label(t, method.task.verbalizer) for t in texts], texts


def evaluate_generation(method, features: list[Feature], metrics: list[str] | None = None, **kwargs) -> dict:
    """The task's metrics on free generation, plus `unmatched` (texts that named no label, counted wrong)."""
    metrics = metrics or method.task.metrics
    labels, _ = generate_predictions(method, features, **kwargs)
    n_labels = method.task.num_labels
    gold = [f.label for f in features]
    predictions = [p if p is not None else (y + 1) % n_labels for p, y in zip(labels, gold)]
    groups = [f.group for f in features]
    scores = compute_metrics(metrics, gold, predictions, groups if any(groups) else None)
    return {**scores, "unmatched": sum(p is None for p in labels)}
