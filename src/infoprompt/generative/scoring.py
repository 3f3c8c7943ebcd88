"""The label-likelihood readout: each label's verbalizer string scored by its log-likelihood under the LM.

This is the generative counterpart of the encoders' readout + class head (architecture.md, "Seams"):
any method that produces input embeddings with its prompts in place gets (B, C) logits from it, so
the training loop, metrics and XPrompt's importance scoring run unchanged.

Scoring rule: `sums[b, c]` = Σ_t log p(w_c,t | input, w_c,<t) over the label's tokens (causal: the
tokens that continue the cue; seq2seq: the decoder target, with its </s>). Logits are these sums
divided by the label's token count (`mean`, length-normalised, the default: labels of different
lengths compete fairly) or the plain sums (`sum`).
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

SCORES = ("mean", "sum")


@dataclass
class LabelScores:
    sums: torch.Tensor  # (B, C) summed token log-likelihood of each label string
    lengths: torch.Tensor  # (C,) its token count

    def logits(self, score: str = "mean") -> torch.Tensor:
        return self.sums / self.lengths.to(self.sums.dtype) if score == "mean" else self.sums

    def gold_nll(self, labels: torch.Tensor) -> torch.Tensor:
        """The LM loss of the gold verbalizer: its mean per-token NLL, averaged over the batch."""
        rows = torch.arange(labels.shape[0], device=labels.device)
        return -(self.sums[rows, labels] / self.lengths[labels].to(self.sums.dtype)).mean()


def left_align(embeds: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded (B, L, D) inputs -> left-padded, so that what follows the input is one column for all rows."""
    length = embeds.shape[1]
    shift = length - mask.sum(1)
    index = (torch.arange(length, device=mask.device).unsqueeze(0) - shift.unsqueeze(1)) % length
    return embeds.gather(1, index.unsqueeze(-1).expand(-1, -1, embeds.shape[-1])), mask.gather(1, index)


def position_ids(mask: torch.Tensor) -> torch.Tensor:
    """Positions that start at 0 on each row's first real token (left padding does not shift them)."""
    return (mask.long().cumsum(-1) - 1).clamp(min=0)


class LabelScorer:
    """Scores C candidate token sequences for a causal or seq2seq LM. Holds no parameters."""

    def __init__(self, kind: str, candidates: list[list[int]], pad_id: int = 0):
        self.kind, self.candidates, self.pad_id = kind, [list(c) for c in candidates], pad_id
        self.width = max(len(c) for c in self.candidates)

    def _candidate_tensors(self, device) -> tuple[torch.Tensor, torch.Tensor]:
        ids = torch.full((len(self.candidates), self.width), self.pad_id, dtype=torch.long, device=device)
        keep = torch.zeros_like(ids, dtype=torch.bool)
        for c, tokens in enumerate(self.candidates):
            ids[c, :len(tokens)] = torch.tensor(tokens, device=device)
            keep[c, :len(tokens)] = True
        return ids, keep

    def lengths(self, device) -> torch.Tensor:
        return torch.tensor([len(c) for c in self.candidates], device=device)

    def __call__(self, model: nn.Module, embeds: torch.Tensor, mask: torch.Tensor) -> LabelScores:
        sums = self._seq2seq(model, embeds, mask) if self.kind == "seq2seq" else self._causal(model, embeds, mask)
        return LabelScores(sums, self.lengths(embeds.device))

    def _causal(self, model: nn.Module, embeds: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        embeds, mask = left_align(embeds, mask)
        ids, keep = self._candidate_tensors(embeds.device)
        if self.width == 1:  # single-token labels: one pass, the next-token distribution after the cue
            logits = causal_logits(model, embeds, mask, keep_last=1)[:, -1]
            return F.log_softmax(logits.float(), -1)[:, ids[:, 0]]
        # Every label appended after every input: (C*B, L+K) sequences, label-major.
        (n_labels, width), batch = ids.shape, embeds.shape[0]
        label_embeds = model.get_input_embeddings()(ids).to(embeds.dtype)
        full = torch.cat([embeds.unsqueeze(0).expand(n_labels, -1, -1, -1),
                          label_embeds.unsqueeze(1).expand(-1, batch, -1, -1)], 2).flatten(0, 1)
        full_mask = torch.cat([mask.unsqueeze(0).expand(n_labels, -1, -1),
                               keep.to(mask.dtype).unsqueeze(1).expand(-1, batch, -1)], 2).flatten(0, 1)
        logits = causal_logits(model, full, full_mask, keep_last=width + 1)[:, -(width + 1):-1]
        targets = ids.unsqueeze(1).expand(-1, batch, -1).flatten(0, 1)
        token_lp = F.log_softmax(logits.float(), -1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
        token_lp = token_lp * keep.unsqueeze(1).expand(-1, batch, -1).flatten(0, 1)
        return token_lp.sum(-1).view(n_labels, batch).t()

    def _seq2seq(self, model: nn.Module, embeds: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        encoded = model.get_encoder()(inputs_embeds=embeds, attention_mask=mask, return_dict=True)
        columns = []
        for tokens in self.candidates:  # the encoder runs once; the decoder once per label (C is small)
            labels = torch.tensor(tokens, device=embeds.device).unsqueeze(0).expand(embeds.shape[0], -1)
            decoder_ids = model.prepare_decoder_input_ids_from_labels(labels=labels)
            logits = model(encoder_outputs=encoded, attention_mask=mask, decoder_input_ids=decoder_ids).logits
            columns.append(F.log_softmax(logits.float(), -1).gather(-1, labels.unsqueeze(-1)).squeeze(-1).sum(-1))
        return torch.stack(columns, 1)


def causal_logits(model: nn.Module, embeds: torch.Tensor, mask: torch.Tensor, keep_last: int) -> torch.Tensor:
    """Logits of a causal LM on left-padded inputs; only the last `keep_last` positions where the model
    supports `logits_to_keep` (a (B, L, V) tensor over a 49k vocabulary is the memory bottleneck)."""
    kwargs = {"logits_to_keep": keep_last} if "logits_to_keep" in _forward_params(type(model)) else {}
    return model(inputs_embeds=embeds, attention_mask=mask, position_ids=position_ids(mask), **kwargs).logits


@functools.cache
def _forward_params(model_class: type) -> frozenset[str]:
    return frozenset(inspect.signature(model_class.forward).parameters)
