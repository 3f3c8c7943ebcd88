"""Text-to-text templates for generative backbones, producing the toolkit's usual `Feature`s.

Causal LM:  [BOS] [P]*np body \\n cue           -> the label's verbalizer continues the cue
Seq2seq:    [P]*np body \\n cue </s>            -> the decoder generates the verbalizer (+ </s>)
(`warp` layout: the np prompts are shared over three slots: before the body, before the cue, after
the cue.) The Features are the ones `collate`, the training loop and XPrompt's importance scoring
already handle: `prompt_index` marks the slots, `mask_pos` is the last input position (the one
whose next-token distribution starts the answer). Truncation shortens only the example's texts
(the longest first, from its end); prompts, cue and special tokens always survive.
"""

from __future__ import annotations

import re
from dataclasses import replace

from infoprompt.data.example import Example
from infoprompt.errors import ConfigError
from infoprompt.generative.formats import TextFormat
from infoprompt.prompting.template import Feature, SpecialLayout, slot_counts

LAYOUTS = ("prefix", "warp")
_FIELD = re.compile(r"\{([ab])\}")


class GenerativeTemplate:
    def __init__(self, tokenizer, n_prompts: int, *, kind: str, fmt: TextFormat, layout: str = "prefix",
                 max_length: int = 256):
        if layout not in LAYOUTS:
            raise ConfigError(f"unknown template layout '{layout}' for generative backbones (choose from {LAYOUTS})")
        if kind not in ("causal", "seq2seq"):
            raise ConfigError(f"generative templates need a causal or seq2seq backbone, got '{kind}'")
        self.tokenizer, self.n_prompts, self.kind, self.fmt = tokenizer, n_prompts, kind, fmt
        self.layout, self.max_length = layout, max_length
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        before, after = SpecialLayout.probe(tokenizer).single
        # A causal LM must not see EOS before its answer; T5's encoder input ends with </s>.
        self.before, self.after = list(before), (list(after) if kind == "seq2seq" else [])
        self.cue_ids = self._ids("\n" + fmt.cue)
        self.pieces = self._split(fmt.body)  # [(literal ids, None) | (None, field name with leading space?)]

    def _ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"] if text else []

    def _split(self, body: str) -> list[tuple[list[int] | None, tuple[str, bool] | None]]:
        """Literal pieces and fields; a space before a field is tokenised with the field (BPE's 'Ġword')."""
        out: list = []
        pos = 0
        for match in _FIELD.finditer(body):
            literal = body[pos:match.start()]
            spaced = literal.endswith(" ")
            if literal.rstrip(" "):
                out.append((self._ids(literal.rstrip(" ")), None))
            out.append((None, (match.group(1), spaced)))
            pos = match.end()
        if body[pos:]:
            out.append((self._ids(body[pos:]), None))
        return out

    def answer_ids(self, word: str) -> list[int]:
        """Token ids of a verbalizer word as the answer: after the cue (causal; as the tokenizer splits
        `cue word`), or the decoder target with its EOS (seq2seq)."""
        if self.kind == "seq2seq":
            ids = [*self._ids(word), *self.after] if self._ids(word) else []
        else:
            full, base = self._ids("\n" + self.fmt.cue + " " + word), self.cue_ids
            ids = full[len(base):] if full[:len(base)] == base else self._ids(" " + word)
        if not ids:
            raise ConfigError(f"verbalizer word '{word}' tokenises to nothing")
        return ids

    # -- layout ---------------------------------------------------------------------------------
    def _slots(self) -> list[list[int]]:
        counts = slot_counts(self.n_prompts, 3) if self.layout == "warp" else [self.n_prompts, 0, 0]
        ids = iter(range(self.n_prompts))
        return [[-(next(ids) + 1) for _ in range(c)] for c in counts]

    def _budget(self) -> int:
        fixed = sum(len(ids) for ids, _ in self.pieces if ids is not None)
        budget = self.max_length - len(self.before) - len(self.after) - self.n_prompts - len(self.cue_ids) - fixed
        if budget < 1:
            raise ConfigError(f"--max-length {self.max_length} leaves no room for text after {self.n_prompts} "
                              f"prompt tokens, the format's words and the special tokens")
        return budget

    def _fields(self, example: Example) -> dict[str, list[int]]:
        if example.spans:
            raise ConfigError("generative backbones do not handle entity-span tasks (relation/typing)")
        texts = {"a": example.text_a, "b": example.text_b}
        out = {}
        for _, field in self.pieces:
            if field is not None:
                name, spaced = field
                if texts[name] is None:
                    raise ConfigError(f"{example.source or 'example'}: the format needs text_b, the example has none")
                out[name] = self._ids((" " if spaced else "") + texts[name])
        budget = self._budget()
        while sum(map(len, out.values())) > budget:
            longest = max(out, key=lambda k: len(out[k]))
            out[longest].pop()
        return out

    def encode_one(self, example: Example) -> Feature:
        fields = self._fields(example)
        first, middle, last = self._slots()
        body = [t for ids, field in self.pieces for t in (ids if ids is not None else fields[field[0]])]
        seq = [*self.before, *first, *body, *middle, *self.cue_ids, *last, *self.after]
        ids = [self.pad_id if t < 0 else t for t in seq]
        prompt_index = [-t - 1 if t < 0 else -1 for t in seq]
        keep = [i for i, p in enumerate(prompt_index) if p < 0]
        answer_pos = len(seq) - 1 - len(self.after)
        free_ids = tuple(ids[i] for i in keep)
        return Feature(
            input_ids=tuple(ids), token_type_ids=(0,) * len(ids), prompt_index=tuple(prompt_index),
            mask_pos=answer_pos, free_ids=free_ids, free_token_type_ids=(0,) * len(free_ids),
            free_mask_pos=len(free_ids) - 1 - len(self.after), label=example.label, group=example.group,
        )

    def encode(self, examples: list[Example]) -> list[Feature]:
        return [self.encode_one(e) for e in examples]

    def render(self, example: Example) -> str:
        """The input as text, prompt slots left out (for docs and debugging)."""
        feature = self.encode_one(replace(example, label=None))
        return self.tokenizer.decode([t for t, p in zip(feature.input_ids, feature.prompt_index) if p < 0])
