"""What a backbone family is: every fact about one kind of backbone that the rest of the toolkit needs.

Methods, packing, APET, adapters and pruning ask the backbone's family; none of them branches on a
backbone kind. A family owns:

- loading (`load`): which Auto class, keeping the LM head where there is one; safetensors only when
  the caller asks for safe loading (GGUF files are not pickle and stay allowed);
- the body (`body`): the module that turns input embeddings into hidden states; prompts enter through
  `inputs_embeds`, so the backbone's own code runs unmodified;
- where Z is read (`readouts`, `read`): mask state, answer-cue state, decoder state or pooled text;
- the LM head (`lm_features`, `verbalizer_rows`, `score_labels`): the features the output projection
  reads, its output rows of the verbalizer tokens, and label likelihoods;
- the module-name map (`module_map`) that adapters, LoRA targets, BitFit and APET presets use;
- packing (`packs`, `position_offset`) and whether token types exist (`uses_token_types`);
- the template (`make_template`): the encoder Template or the text-to-text GenerativeTemplate.

A new family is one module with a subclass and one `@register_family(name)` line (infoprompt.families.registry)
(docs/families.md shows a worked example).
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from infoprompt.errors import ConfigError


@dataclass(frozen=True)
class ModuleMap:
    """Regular expressions over the backbone's own module / parameter names (matched with re.fullmatch).

    `biases` is None where the family has no bias terms (BitFit is then meaningless, and says so).
    """

    attention_output: str  # module: projection after self-attention (Houlsby adapter, 1st site)
    ffn_output: str  # module: feed-forward output projection (Houlsby adapter, 2nd site)
    query_value: str  # module: the query and value projections (LoRA's paper setting)
    layer_norms: str  # parameter: the norms inside the layers (trained with adapters)
    biases: str | None  # parameter: every bias on the readout's path (BitFit)
    bitfit_preset: str | None  # parameter: APET's BitFit preset positions
    off_readout: str | None = None  # parameter: never on the readout's path (BERT's pooler)

    @property
    def houlsby(self) -> str:
        return f"({self.attention_output}|{self.ffn_output})"


@dataclass
class Reading:
    """What one backbone pass gives a method: Z (B, D), and what label scoring continues from.

    `first`: the first token's state (IDPG's `cls` generator input), where the family has one.
    `state`: family-private (a decoder cache, encoder outputs) for `score_labels`.
    """

    z: torch.Tensor
    first: torch.Tensor | None = None
    state: object = None


class StopForward(Exception):
    """Raised by a hook to stop a forward pass and hand back a tensor it saw (`Family.lower_states`)."""

    def __init__(self, states: torch.Tensor):
        super().__init__()
        self.states = states


class PassThrough(nn.Module):
    """Stands in for a body's embedding module during the upper pass: its `inputs_embeds` are already hidden
    states entering layer K, so no position or token-type embedding may be added again."""

    def forward(self, *args, inputs_embeds: torch.Tensor | None = None, **kwargs) -> torch.Tensor:
        return inputs_embeds


class StopBeforeProjection(Exception):
    """Raised by a hook to stop an LM head right before its vocabulary projection (see `head_features`)."""

    def __init__(self, features: torch.Tensor):
        super().__init__()
        self.features = features


class Family:
    """Base class; subclasses fill in the class attributes and override what differs."""

    name: ClassVar[str] = "base"
    kind: ClassVar[str] = "encoder"  # encoder | causal | seq2seq: the template and generation follow it
    auto_class: ClassVar[str] = "AutoModel"
    has_lm_head: ClassVar[bool] = False
    packs: ClassVar[bool] = True  # padding-free packing (infoprompt.packing) may be used
    first_token_state: ClassVar[bool] = True  # Reading.first exists (IDPG's `cls` generator input)
    generates: ClassVar[bool] = False  # greedy decoding can stand in for label scores (evaluate --generate)
    readouts: ClassVar[tuple[str, ...]] = ()
    answer_readout: ClassVar[str | None] = None  # the readout at which the LM predicts the label word
    readout_descriptions: ClassVar[dict[str, str]] = {}
    # Late prompts (`--prompt-layer`): where the body keeps its numbered layers (tried in order), or why not.
    layer_paths: ClassVar[tuple[str, ...]] = ()
    layer_split_refusal: ClassVar[str] = "this family's layers cannot be run in two pieces"

    # -- which checkpoints and models belong here ------------------------------------------------
    @classmethod
    def claims(cls, config) -> bool:
        """True if a checkpoint with this (Hugging Face) config should load as this family."""
        raise NotImplementedError

    @classmethod
    def claims_model(cls, model: nn.Module) -> bool:
        """True if an already built model (tests, a user's own model) belongs to this family."""
        raise NotImplementedError

    # -- loading -------------------------------------------------------------------------------
    def load(self, resolved: str, *, safe: bool = False):
        """(model, tokenizer) from a hub id, a folder or a .gguf file."""
        import transformers

        auto = getattr(transformers, self.auto_class)
        kwargs: dict = {}
        if str(resolved).endswith(".gguf"):  # GGUF is a tensor format, not pickle: allowed when safe
            path = Path(resolved)
            resolved, kwargs = str(path.parent), {"gguf_file": path.name}
        tokenizer = transformers.AutoTokenizer.from_pretrained(resolved, **kwargs)
        if safe and "gguf_file" not in kwargs:
            kwargs["use_safetensors"] = True  # a checkpoint-named backbone is never unpickled
        model = auto.from_pretrained(resolved, **kwargs)
        return model, tokenizer

    def prepare_tokenizer(self, tokenizer) -> None:
        """Make the tokenizer usable for padded batches (generative families pad with EOS)."""

    # -- structure -----------------------------------------------------------------------------
    def body(self, model: nn.Module) -> nn.Module:
        """The module mapping `inputs_embeds` to `last_hidden_state` (what packing and prefixes wrap)."""
        return model

    def replace_body(self, model: nn.Module, body: nn.Module) -> nn.Module:
        """Put a wrapped body back; returns the model to run."""
        return body

    def input_embeddings(self, model: nn.Module) -> nn.Module:
        return self.body(model).get_input_embeddings()

    def tuning_scope(self, model: nn.Module) -> nn.Module:
        """The module whose weights delta methods placed by position (APET) may touch: the body, so an LM
        head stays the pretrained one."""
        return self.body(model)

    def uses_token_types(self, model: nn.Module) -> bool:
        return getattr(model.config, "type_vocab_size", 0) > 1

    def position_offset(self, model: nn.Module) -> int:
        """Where the body's own position ids start: RoBERTa-style embeddings count from padding_idx + 1."""
        embeddings = getattr(self.body(model), "embeddings", None)
        padding_idx = getattr(embeddings, "padding_idx", None)
        return int(padding_idx) + 1 if padding_idx is not None else 0

    def module_map(self, model: nn.Module) -> ModuleMap:
        raise NotImplementedError

    # -- readout -------------------------------------------------------------------------------
    def resolve_readout(self, choice: str, has_mlm_head: bool) -> str:
        if choice == "auto":
            return self.default_readout(has_mlm_head)
        if choice not in self.readouts:
            raise ConfigError(f"--readout {choice} does not apply to the {self.name} family "
                              f"(choose from: auto, {', '.join(self.readouts)})")
        return choice

    def default_readout(self, has_mlm_head: bool) -> str:
        return self.readouts[0]

    def describe_readout(self, readout: str) -> str:
        """For run summaries: where Z was read, in words."""
        return f"{readout}: {self.readout_descriptions.get(readout, readout)}"

    def read(self, model: nn.Module, embeds: torch.Tensor, batch: dict, readout: str, *, packer=None,
             share_prefix: bool = True) -> Reading:
        """Run the backbone on `embeds` (B, L, D) laid out as `batch` says; return Z and scoring state.

        `batch` holds attention_mask, mask_pos, and optionally token_type_ids and prompt_index.
        `share_prefix`: the method allows reusing one key/value cache across rows (no per-row prefixes)."""
        raise NotImplementedError

    # -- late prompts: the body run in two pieces (layers 1..K-1, then K..N) -----------------------
    def _layer_owner(self, model: nn.Module) -> tuple[nn.Module, str, nn.ModuleList]:
        """(parent module, attribute, its ModuleList of layers) for the body's numbered layers."""
        for path in self.layer_paths:
            *parents, name = path.split(".")
            owner = self.body(model)
            for part in parents:
                owner = getattr(owner, part, None)
            stack = getattr(owner, name, None) if owner is not None else None
            if isinstance(stack, nn.ModuleList):
                return owner, name, stack
        why = self.layer_split_refusal if not self.layer_paths else \
            f"'{type(self.body(model)).__name__}' keeps no layer list at {' or '.join(self.layer_paths)}"
        raise ConfigError(f"late prompts (--method late, --prompt-layer) do not apply to the {self.name} family: {why}")

    def num_layers(self, model: nn.Module) -> int:
        return len(self._layer_owner(model)[2])

    def lower_states(self, model: nn.Module, embeds: torch.Tensor, batch: dict, k: int) -> torch.Tensor:
        """(B, L, D) hidden states entering layer k (1-indexed) for input embeddings `embeds` laid out as `batch`.

        The body's own forward runs (its embeddings, its mask construction) and a pre-hook on layer k stops it
        there, so layers k..N never run and nothing below k is re-implemented here."""
        layer = self._layer_owner(model)[2][k - 1]

        def stop(module, args, kwargs):
            raise StopForward(args[0] if args else kwargs["hidden_states"])

        handle = layer.register_forward_pre_hook(stop, with_kwargs=True)
        try:
            self.read(model, embeds, batch, self.readouts[0], share_prefix=False)
        except StopForward as caught:
            return caught.states
        finally:
            handle.remove()
        raise ConfigError(f"the backbone never reached its layer {k}")

    def upper_read(self, model: nn.Module, hidden: torch.Tensor, batch: dict, k: int, readout: str, *,
                   packer=None) -> Reading:
        """Run layers k..N on `hidden` (B, L, D), the states entering layer k laid out as `batch` says, and
        read Z as `read` does: the body's forward with its layer list cut to k..N and its embeddings bypassed
        (so packing's restarted position ids are ignored: the positions are already in the states)."""
        body = self.body(model)
        owner, name, stack = self._layer_owner(model)
        embeddings = getattr(body, "embeddings", None)
        setattr(owner, name, nn.ModuleList(list(stack)[k - 1:]))
        if isinstance(embeddings, nn.Module):
            body.embeddings = PassThrough()
        try:
            return self.read(model, hidden, batch, readout, packer=packer, share_prefix=False)
        finally:
            setattr(owner, name, stack)
            if isinstance(embeddings, nn.Module):
                body.embeddings = embeddings

    # -- LM head ---------------------------------------------------------------------------------
    def lm_head(self, model: nn.Module) -> nn.Linear:
        head = model.get_output_embeddings() if self.has_lm_head else None
        if head is None:
            raise ConfigError(f"the {self.name} family has no language-model head (use a masked-LM, causal-LM "
                              "or seq2seq checkpoint for label likelihoods)")
        return head

    def verbalizer_rows(self, model: nn.Module, first_ids: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """(C, D) output-projection rows and (C,) biases of each label's first token (copies)."""
        head = self.lm_head(model)
        ids = torch.tensor(first_ids, dtype=torch.long, device=head.weight.device)
        weight = head.weight.detach()[ids].clone()
        bias = head.bias.detach()[ids].clone() if getattr(head, "bias", None) is not None \
            else torch.zeros(len(first_ids), dtype=weight.dtype, device=weight.device)
        return weight, bias

    def label_candidates(self, template, tokenizer, words: list[str]) -> list[list[int]]:
        """Token ids of each label's answer, as the LM would produce it at the readout position."""
        raise ConfigError(f"the {self.name} family has no language-model head to score labels with")

    def score_labels(self, model: nn.Module, reading: Reading, candidates: list[list[int]]) -> torch.Tensor:
        """(B, C) summed log-likelihood of each candidate continuing from `reading`."""
        raise ConfigError(f"the {self.name} family has no language-model head to score labels with")

    # -- template ------------------------------------------------------------------------------
    def make_template(self, tokenizer, n_prompts: int, *, layout: str, max_length: int, task):
        from infoprompt.prompting.template import Template

        return Template(tokenizer, n_prompts, layout=layout, max_length=max_length)


@functools.cache
def _cache_keyword_of(forward_owner: type) -> str:
    params = inspect.signature(forward_owner.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def cache_keyword(model: nn.Module) -> str:
    """The keyword a model's forward takes its key/value cache by. Recent transformers renamed
    `past_key_values` to `cache` (5.24 has `cache`, 5.17 still `past_key_values`; 5.24 warns that the old
    name goes in 5.40) and our floor admits both, so the signature is asked once per model class."""
    return _cache_keyword_of(type(model))


def returned_cache(output) -> object:
    """The key/value cache a model returned, under either name (see `cache_keyword`)."""
    cache = getattr(output, "cache", None)
    return cache if cache is not None else output.past_key_values


def first_token_logprobs(logits: torch.Tensor, candidates: list[list[int]]) -> torch.Tensor:
    """(B, V) next-token logits -> (B, C) log-probability of each candidate's first token."""
    ids = torch.tensor([c[0] for c in candidates], dtype=torch.long, device=logits.device)
    return F.log_softmax(logits.float(), -1)[:, ids]


def head_features(head: nn.Module, projection: nn.Module, hidden: torch.Tensor) -> torch.Tensor:
    """The input the LM head's vocabulary projection would receive for `hidden` (the head's transform).

    A pre-hook stops the head right before the projection, so the (B, V) vocabulary logits are never
    computed when only the features are wanted; a head that is the projection itself returns `hidden`."""
    if head is projection:
        return hidden

    def stop(module, args):
        raise StopBeforeProjection(args[0])

    handle = projection.register_forward_pre_hook(stop)
    try:
        head(hidden)
    except StopBeforeProjection as caught:
        return caught.features
    finally:
        handle.remove()
    raise ConfigError("the LM head never reached its output projection")


class HeadedFamily(Family):
    """A family whose model is an LM head around a body kept under `model.base_model_prefix` (BERT's `bert`,
    Llama's `model`): the body is what packing and prefixes wrap, and a wrapped body is put back in place."""

    def body(self, model: nn.Module) -> nn.Module:
        return model.base_model

    def replace_body(self, model: nn.Module, body: nn.Module) -> nn.Module:
        setattr(model, model.base_model_prefix, body)
        return model

    def input_embeddings(self, model: nn.Module) -> nn.Module:
        return model.get_input_embeddings()

