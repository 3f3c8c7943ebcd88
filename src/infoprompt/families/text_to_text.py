"""What the generative families (causal LM, seq2seq) share: they read text-to-text templates, pad with EOS
when the tokenizer has no pad token, and have no token types or position offsets to pack around."""

from __future__ import annotations

from torch import nn

from infoprompt.errors import ConfigError
from infoprompt.families.base import Family


def ensure_pad_token(tokenizer) -> None:
    """Batches are padded (and padding is masked out): a tokenizer without a pad token pads with EOS."""
    if tokenizer.pad_token_id is None:
        if tokenizer.eos_token is None:
            raise ConfigError("the backbone's tokenizer has neither a pad nor an EOS token")
        tokenizer.pad_token = tokenizer.eos_token


class TextToTextFamily(Family):
    """A family whose model continues a text-to-text prompt with the label word (infoprompt.generative)."""

    def prepare_tokenizer(self, tokenizer) -> None:
        ensure_pad_token(tokenizer)

    def uses_token_types(self, model: nn.Module) -> bool:
        return False

    def position_offset(self, model: nn.Module) -> int:
        return 0

    def make_template(self, tokenizer, n_prompts, *, layout, max_length, task):
        from infoprompt.generative.formats import task_format
        from infoprompt.generative.template import GenerativeTemplate

        return GenerativeTemplate(tokenizer, n_prompts, kind=self.kind, fmt=task_format(task), layout=layout,
                                  max_length=max_length)

    def label_candidates(self, template, tokenizer, words: list[str]) -> list[list[int]]:
        return [template.answer_ids(w) for w in words]
