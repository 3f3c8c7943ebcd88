"""Decoder-only causal LMs (Llama, SmolLM2, Qwen2, Mistral, ...), loaded with their LM head.

Z is the final (normed) hidden state at the answer cue, the last input position, whose next-token
distribution starts the label word: exactly what the LM head's output projection reads. Labels are
scored by their likelihood as continuations of the cue (`--predict label`), or Z feeds a class head
initialised from the projection's rows of the labels' first tokens (`--predict head`).

Fast scoring (the shared input is encoded once):
- rows of a batch that begin with the same embeddings (BOS, the same free prompt tokens, the
  format's opening words) share one key/value cache: that prefix runs once, as a batch of one, and
  each row runs only its own suffix on the cache. Methods that attach per-row key/value prefixes say
  so (`share_prefix=False`), and then every row runs in full;
- a multi-token label continues from the cache of the input pass (cropped back after each label),
  instead of re-running the input once per label.
Batches stay right-padded; explicit position ids keep each row's positions 0..len-1, and the 2D
attention mask hides the padding between a row's input and its label tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from infoprompt.families.base import (
    HeadedFamily,
    ModuleMap,
    Reading,
    cache_keyword,
    first_token_logprobs,
    returned_cache,
)
from infoprompt.families.registry import register_family
from infoprompt.families.text_to_text import TextToTextFamily

_CAUSAL_SUFFIXES = ("ForCausalLM", "LMHeadModel")

LLAMA_LIKE = ModuleMap(
    attention_output=r".*layers\.\d+\.self_attn\.o_proj",
    ffn_output=r".*layers\.\d+\.mlp\.down_proj",
    query_value=r".*layers\.\d+\.self_attn\.(q_proj|v_proj)",
    layer_norms=r".*layers\.\d+\..*(layernorm|norm)\.weight",
    biases=r".*layers\.\d+\..*\.bias",
    bitfit_preset=r".*layers\.\d+\..*\.bias",
)


@dataclass
class CausalState:
    cache: object | None  # key/value cache after the input pass (None: per-row prefixes, no reuse)
    mask: torch.Tensor  # (B, L) attention mask of the input pass
    embeds: torch.Tensor  # (B, L, D) inputs, for scoring without a cache
    answer_pos: torch.Tensor  # (B,) last input position of each row


def shared_prefix_length(embeds: torch.Tensor, mask: torch.Tensor, answer_pos: torch.Tensor) -> int:
    """Leading columns where every row holds the same real inputs (bit-identical embeddings)."""
    if embeds.shape[0] < 2:
        return 0
    same = (embeds == embeds[:1]).all(-1).all(0) & mask.bool().all(0)
    length = int(same.long().cumprod(0).sum())
    return min(length, int(answer_pos.min()))  # the answer position itself always runs per row


@register_family("causal", rank=20)
class CausalLM(TextToTextFamily, HeadedFamily):
    kind = "causal"
    auto_class = "AutoModelForCausalLM"
    has_lm_head = True
    packs = False  # the answer is read per row with a key/value cache instead
    first_token_state = False
    generates = True
    readouts = ("answer",)
    answer_readout = "answer"
    readout_descriptions = {"answer": "final hidden state at the answer cue (where the LM predicts the label word)"}
    layer_split_refusal = ("label scoring continues the input through every layer's key/value cache, which cached "
                           "layer-K states do not hold (prompts in the input embeddings work there)")

    @classmethod
    def claims(cls, config) -> bool:
        architectures = getattr(config, "architectures", None) or []
        return not getattr(config, "is_encoder_decoder", False) and any(a.endswith(_CAUSAL_SUFFIXES) for a in architectures)

    @classmethod
    def claims_model(cls, model: nn.Module) -> bool:
        return not getattr(model.config, "is_encoder_decoder", False) and type(model).__name__.endswith(_CAUSAL_SUFFIXES)

    def module_map(self, model: nn.Module) -> ModuleMap:
        return LLAMA_LIKE

    # -- reading -------------------------------------------------------------------------------
    def read(self, model, embeds, batch, readout, *, packer=None, share_prefix=True) -> Reading:
        body, mask, answer = self.body(model), batch["attention_mask"], batch["mask_pos"]
        batch_size, length = mask.shape
        rows = torch.arange(batch_size, device=mask.device)
        shared = shared_prefix_length(embeds, mask, answer) if share_prefix else 0
        if shared:
            head = body(inputs_embeds=embeds[:1, :shared], attention_mask=mask[:1, :shared], use_cache=True)
            cache = returned_cache(head)
            cache.batch_repeat_interleave(batch_size)
            positions = torch.arange(shared, length, device=mask.device).unsqueeze(0).expand(batch_size, -1)
            out = body(inputs_embeds=embeds[:, shared:], attention_mask=mask, position_ids=positions,
                       **{cache_keyword(body): cache}, use_cache=True)
            z = out.last_hidden_state[rows, answer - shared]
        else:
            kwargs = {"use_cache": True} if share_prefix else {}  # prefix wrappers run their own cache
            out = body(inputs_embeds=embeds, attention_mask=mask, **kwargs)
            z = out.last_hidden_state[rows, answer]
        cache = returned_cache(out) if share_prefix else None
        return Reading(z, state=CausalState(cache, mask, embeds, answer))

    def score_labels(self, model, reading: Reading, candidates: list[list[int]]) -> torch.Tensor:
        head = self.lm_head(model)
        first = first_token_logprobs(head(reading.z), candidates)
        columns = []
        for c, tokens in enumerate(candidates):
            score = first[:, c]
            if len(tokens) > 1:
                score = score + self._continuation(model, head, reading.state, tokens)
            columns.append(score)
        return torch.stack(columns, 1)

    def _continuation(self, model, head, state: CausalState, tokens: list[int]) -> torch.Tensor:
        """(B,) log-likelihood of tokens[1:] given the input and tokens[0]."""
        body = self.body(model)
        batch_size, width = state.mask.shape[0], len(tokens) - 1
        ids = torch.tensor(tokens, dtype=torch.long, device=state.mask.device)
        label_embeds = self.input_embeddings(model)(ids[:-1]).to(state.embeds.dtype).unsqueeze(0).expand(batch_size, -1, -1)
        positions = state.answer_pos.unsqueeze(1) + 1 + torch.arange(width, device=ids.device)
        ones = state.mask.new_ones(batch_size, width)
        if state.cache is not None:
            out = body(inputs_embeds=label_embeds, attention_mask=torch.cat([state.mask, ones], 1),
                       position_ids=positions, **{cache_keyword(body): state.cache}, use_cache=True)
            state.cache.crop(-width)  # back to the input's cache for the next label
            hidden = out.last_hidden_state
        else:  # per-row prefixes: run input and label together
            base = torch.arange(state.mask.shape[1], device=ids.device).unsqueeze(0).expand(batch_size, -1)
            out = body(inputs_embeds=torch.cat([state.embeds, label_embeds], 1),
                       attention_mask=torch.cat([state.mask, ones], 1), position_ids=torch.cat([base, positions], 1))
            hidden = out.last_hidden_state[:, -width:]
        logprobs = F.log_softmax(head(hidden).float(), -1)
        return logprobs.gather(-1, ids[1:].unsqueeze(0).expand(batch_size, -1).unsqueeze(-1)).squeeze(-1).sum(-1)
