"""WARP-style templates: one mask token and prompt slots around the sentence(s).

Layouts (np prompt tokens are shared out over the slot markers in order, one each per round, so
np=1 fills the first marker and np=4 fills the four markers of the paper's template):

- `warp`, single:  <s> [P] sentence [P] <mask> [P] [P] </s>
- `warp`, pair:    <s> [P] sentence1 [P] <mask> [P] </s></s> sentence2 [P] </s>
- `prefix` (Lester prompt tuning): <s> [P]*np sentence <mask> </s> (pair: ... </s></s> sentence2 </s>)

Special tokens are learnt from the tokenizer itself (see `SpecialLayout`), so `[CLS]/[SEP]` and
`<s>/</s>` tokenizers both work. Truncation shortens only the text (longest segment first):
the mask and every prompt slot always survive. Each Feature also carries the prompt-free sequence
(the same template with the slots removed, mask kept), which IDPG and InfoPrompt encode as Φ(X).

Examples with entity spans (see `prompting.entities`) use the single-sentence layout:
- relation (spans e1, e2): `<s> [P] ... @ e1 @ ... # e2 # ... [P] <mask> [P] [P] </s>`
- entity typing (one span): `<s> [P] left [P] <mask> span right [P] [P] </s>` (mask right before it)
Their truncation never removes an entity, its markers, the mask or a slot; it drops the tokens
farthest from the entities first.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from infoprompt.data.example import Example
from infoprompt.errors import ConfigError, DataError
from infoprompt.prompting.entities import keep_near, layout_spans, token_regions


def pad_token_id(tokenizer) -> int:
    """The tokenizer's pad id, 0 when it has none (GPT-style tokenizers)."""
    return getattr(tokenizer, "pad_token_id", 0) or 0


LAYOUTS = ("warp", "prefix")
_MASK = -1_000_000  # sentinel for the mask; prompt slot i is the sentinel -(i+1)


@dataclass(frozen=True)
class SpecialLayout:
    """Where a tokenizer puts its special tokens around one or two segments, and their type ids.

    Learnt once by encoding two probe words: transformers 5 no longer exposes
    `build_inputs_with_special_tokens` on every tokenizer, and probing works for any of them.
    """

    single: tuple[tuple[int, ...], tuple[int, ...]]  # (before, after)
    pair: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]  # (before, between, after)
    single_types: tuple[int, int, int]  # type id of: before, segment, after
    pair_types: tuple[int, int, int, int, int]  # before, segment a, between, segment b, after

    @classmethod
    def probe(cls, tokenizer) -> SpecialLayout:
        a = tokenizer("hello", add_special_tokens=False)["input_ids"]
        b = tokenizer("world", add_special_tokens=False)["input_ids"]
        one = tokenizer("hello")
        two = tokenizer("hello", "world")
        ids1, ids2 = one["input_ids"], two["input_ids"]
        i = _find(ids1, a)
        j = _find(ids2, a)
        k = _find(ids2, b, start=j + len(a))
        t1 = one.get("token_type_ids") or [0] * len(ids1)
        t2 = two.get("token_type_ids") or [0] * len(ids2)
        return cls(
            single=(tuple(ids1[:i]), tuple(ids1[i + len(a):])),
            pair=(tuple(ids2[:j]), tuple(ids2[j + len(a):k]), tuple(ids2[k + len(b):])),
            single_types=(t1[0], t1[i], t1[-1]),
            pair_types=(t2[0], t2[j], t2[j + len(a)] if k > j + len(a) else t2[k], t2[k], t2[-1]),
        )

    def build(self, seg_a: list[int], seg_b: list[int] | None) -> tuple[list[int], list[int]]:
        if seg_b is None:
            before, after = self.single
            tb, ta, tafter = self.single_types
            ids = [*before, *seg_a, *after]
            return ids, [tb] * len(before) + [ta] * len(seg_a) + [tafter] * len(after)
        before, between, after = self.pair
        tb, ta, tbetween, tsb, tafter = self.pair_types
        ids = [*before, *seg_a, *between, *seg_b, *after]
        types = [tb] * len(before) + [ta] * len(seg_a) + [tbetween] * len(between)
        return ids, types + [tsb] * len(seg_b) + [tafter] * len(after)

    def count(self, pair: bool) -> int:
        return sum(map(len, self.pair)) if pair else sum(map(len, self.single))


def _find(haystack: list[int], needle: list[int], start: int = 0) -> int:
    for i in range(start, len(haystack) - len(needle) + 1):
        if haystack[i:i + len(needle)] == needle:
            return i
    raise ConfigError("cannot work out the tokenizer's special-token layout")


@dataclass(frozen=True)
class Feature:
    """Token ids of one example, prompted and prompt-free, with the slot and mask positions."""

    input_ids: tuple[int, ...]
    token_type_ids: tuple[int, ...]
    prompt_index: tuple[int, ...]  # -1, or which prompt token sits at this position
    mask_pos: int
    free_ids: tuple[int, ...]
    free_token_type_ids: tuple[int, ...]
    free_mask_pos: int
    label: int | None = None
    group: str | None = None  # the Example's group (MultiRC question), for per-group metrics

    @property
    def cache_key(self) -> bytes:
        """Content address of the prompt-free input: equal keys give equal Φ(X)."""
        return torch.tensor(self.free_ids + self.free_token_type_ids, dtype=torch.int32).numpy().tobytes()


def slot_counts(n_prompts: int, n_markers: int) -> list[int]:
    """Share np prompt tokens over the markers in order (np=1 -> [1,0,0,0]; np=6 -> [2,2,1,1])."""
    return [n_prompts // n_markers + (1 if m < n_prompts % n_markers else 0) for m in range(n_markers)]


class Template:
    """Encode examples for a tokenizer with `n_prompts` slots, a mask token and safe truncation."""

    def __init__(self, tokenizer, n_prompts: int, *, layout: str = "warp", max_length: int = 128):
        if n_prompts < 0:
            raise ConfigError(f"--n-prompts must be >= 0, got {n_prompts}")
        if layout not in LAYOUTS:
            raise ConfigError(f"unknown template layout '{layout}' (choose from {LAYOUTS})")
        if tokenizer.mask_token_id is None:
            raise ConfigError("the backbone's tokenizer has no mask token; this template needs one")
        self.tokenizer = tokenizer
        self.n_prompts = n_prompts
        self.layout = layout
        self.max_length = max_length
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.specials = SpecialLayout.probe(tokenizer)

    # -- layout -------------------------------------------------------------------------------
    def _segments(
        self, a: list[int], b: list[int] | None, mask_at: int | None = None
    ) -> tuple[list[int], list[int] | None]:
        """Place text, mask sentinel and prompt sentinels (-(i+1) for prompt i) into segments.

        `mask_at` (single text only) splits the text: the mask goes right before token `mask_at`.
        """
        n_markers = 4
        counts = slot_counts(self.n_prompts, n_markers) if self.layout == "warp" else [self.n_prompts, 0, 0, 0]
        next_id = iter(range(self.n_prompts))
        slots = [[-(next(next_id) + 1) for _ in range(c)] for c in counts]
        if b is None:
            m = len(a) if mask_at is None else mask_at
            return slots[0] + a[:m] + slots[1] + [_MASK] + a[m:] + slots[2] + slots[3], None
        return slots[0] + a + slots[1] + [_MASK] + slots[2], b + slots[3]

    def _text_budget(self, pair: bool) -> int:
        """Tokens left for text after the special tokens, the prompt slots and the mask."""
        specials = self.specials.count(pair=pair)
        budget = self.max_length - specials - self.n_prompts - 1
        if budget < (2 if pair else 1):
            raise ConfigError(
                f"--max-length {self.max_length} leaves no room for text after {self.n_prompts} prompt "
                f"tokens, the mask and {specials} special tokens"
            )
        return budget

    def _truncate(self, a: list[int], b: list[int] | None) -> tuple[list[int], list[int] | None]:
        budget = self._text_budget(pair=b is not None)
        a, b = list(a), (list(b) if b is not None else None)
        while len(a) + (len(b) if b else 0) > budget:
            if b is not None and len(b) > len(a):
                b.pop()
            else:
                a.pop()
        return a, b

    def _assemble(
        self, a: list[int], b: list[int] | None, mask_at: int | None = None
    ) -> tuple[list[int], list[int], list[int], int]:
        seg_a, seg_b = self._segments(a, b, mask_at)
        ids, types = self.specials.build(seg_a, seg_b)
        prompt_index, out = [], []
        mask_pos = -1
        for pos, tok in enumerate(ids):
            if tok == _MASK:
                mask_pos = pos
                out.append(self.tokenizer.mask_token_id)
                prompt_index.append(-1)
            elif tok < 0:
                out.append(self.pad_id)
                prompt_index.append(-tok - 1)
            else:
                out.append(tok)
                prompt_index.append(-1)
        return out, types, prompt_index, mask_pos

    # -- public -------------------------------------------------------------------------------
    def encode_ids(self, a: list[int], b: list[int] | None, label: int | None = None) -> Feature:
        a, b = self._truncate(a, b)
        return self._feature(a, b, label)

    def encode_span_ids(
        self, ids: list[int], protected: list[bool], mask_at: int | None, label: int | None = None, source: str = ""
    ) -> Feature:
        """A single text whose `protected` tokens (entities with their markers) must all survive.

        `mask_at`: entity typing puts the mask right before this token (it must be protected).
        """
        budget = self._text_budget(pair=False)
        need = sum(protected)
        if need > budget:
            raise DataError(
                f"{source or 'example'}: field 'spans': the entities and their markers take {need} tokens, but "
                f"--max-length {self.max_length} leaves {budget} for text after {self.n_prompts} prompt tokens, "
                f"the mask and the special tokens"
            )
        keep = keep_near(protected, budget)
        kept_ids = [ids[i] for i in keep]
        return self._feature(kept_ids, None, label, None if mask_at is None else keep.index(mask_at))

    def _feature(self, a: list[int], b: list[int] | None, label: int | None, mask_at: int | None = None) -> Feature:
        ids, types, prompt_index, mask_pos = self._assemble(a, b, mask_at)
        keep = [i for i, p in enumerate(prompt_index) if p < 0]
        return Feature(
            input_ids=tuple(ids),
            token_type_ids=tuple(types),
            prompt_index=tuple(prompt_index),
            mask_pos=mask_pos,
            free_ids=tuple(ids[i] for i in keep),
            free_token_type_ids=tuple(types[i] for i in keep),
            free_mask_pos=keep.index(mask_pos),
            label=label,
        )

    def encode(self, examples: list[Example]) -> list[Feature]:
        """Tokenise all texts in one batched call (fast tokenizers), then lay out each example."""
        if any(e.group is not None for e in examples):  # carry the groups over (laid out without them)
            plain = self.encode([replace(e, group=None) for e in examples])
            return [replace(f, group=e.group) for f, e in zip(plain, examples)]
        spanned = [i for i, e in enumerate(examples) if e.spans]
        if not spanned:
            return self._encode_plain(examples)
        out: list[Feature | None] = [None] * len(examples)
        plain = [i for i, e in enumerate(examples) if not e.spans]
        for i, feature in zip(plain, self._encode_plain([examples[i] for i in plain])):
            out[i] = feature
        for i, feature in zip(spanned, self._encode_spans([examples[i] for i in spanned])):
            out[i] = feature
        return out

    def span_tokens(self, examples: list[Example]) -> list[tuple[list[int], list[bool], int | None]]:
        """Untruncated (ids, protected, mask_at) of span examples: what `encode_span_ids` receives."""
        if not self.tokenizer.is_fast:
            raise ConfigError("entity spans need a fast tokenizer (character offsets); this backbone's is slow")
        layouts = [layout_spans(e) for e in examples]
        encoded = self.tokenizer([lay.text for lay in layouts], add_special_tokens=False, return_offsets_mapping=True)
        out = []
        for example, lay, ids, offsets in zip(examples, layouts, encoded["input_ids"], encoded["offset_mapping"]):
            regions = token_regions(offsets, lay.regions)
            covered = frozenset().union(*regions)
            for k in range(len(lay.regions)):
                if k not in covered:
                    raise DataError(f"{example.source or 'example'}: field 'spans[{k}]': the span covers no token")
            mask_at = next(i for i, r in enumerate(regions) if 0 in r) if lay.mask_before_region else None
            out.append((list(ids), [bool(r) for r in regions], mask_at))
        return out

    def _encode_spans(self, examples: list[Example]) -> list[Feature]:
        return [
            self.encode_span_ids(ids, protected, mask_at, e.label, e.source)
            for e, (ids, protected, mask_at) in zip(examples, self.span_tokens(examples))
        ]

    def _encode_plain(self, examples: list[Example]) -> list[Feature]:
        if not examples:
            return []
        tok = self.tokenizer
        texts_a = tok([e.text_a for e in examples], add_special_tokens=False)["input_ids"]
        pair_idx = [i for i, e in enumerate(examples) if e.text_b is not None]
        texts_b: dict[int, list[int]] = {}
        if pair_idx:
            encoded = tok([examples[i].text_b for i in pair_idx], add_special_tokens=False)["input_ids"]
            texts_b = dict(zip(pair_idx, encoded))
        return [self.encode_ids(texts_a[i], texts_b.get(i), e.label) for i, e in enumerate(examples)]


def _pad(rows: list[tuple[int, ...]], value: int) -> torch.Tensor:
    width = max(len(r) for r in rows)
    out = torch.full((len(rows), width), value, dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.tensor(r, dtype=torch.long)
    return out


def collate(features: list[Feature], pad_id: int = 0) -> dict:
    """Dynamic padding to the longest sequence of the batch."""
    batch = {
        "input_ids": _pad([f.input_ids for f in features], pad_id),
        "token_type_ids": _pad([f.token_type_ids for f in features], 0),
        "attention_mask": _pad([(1,) * len(f.input_ids) for f in features], 0),
        "prompt_index": _pad([f.prompt_index for f in features], -1),
        "mask_pos": torch.tensor([f.mask_pos for f in features], dtype=torch.long),
        "free_ids": _pad([f.free_ids for f in features], pad_id),
        "free_token_type_ids": _pad([f.free_token_type_ids for f in features], 0),
        "free_attention_mask": _pad([(1,) * len(f.free_ids) for f in features], 0),
        "free_mask_pos": torch.tensor([f.free_mask_pos for f in features], dtype=torch.long),
        "cache_keys": [f.cache_key for f in features],
    }
    if all(f.label is not None for f in features):
        batch["labels"] = torch.tensor([f.label for f in features], dtype=torch.long)
    return batch
