"""`--method peft`: peft's own model, layout and head, so a plain peft user predicts exactly what we predict.

Our other methods put prompts in WARP's slots, read Z at our readout and score it with a class-embedding
head; peft has no place for any of that, so their peft export loads but does not predict like us
(docs/interop.md). This method instead trains exactly the model a peft user builds:

    AutoModelForSequenceClassification(backbone, num_labels=C)  ->  get_peft_model(model, <peft config>)

with `--peft-type` lora (LoraConfig), prompt (PromptTuningConfig: prompts before the whole input, as peft
places them), prefix (PrefixTuningConfig) or p-tuning (PromptEncoderConfig), task type SEQ_CLS: the
backbone's own sequence-classification head and readout (BERT: the pooler at position 0; Llama: the last
real token), trained as peft's `modules_to_save`. The inputs are the tokenizer's own encoding of the text
(no template, no mask token). `infoprompt export --format peft` saves the peft model itself, so
`AutoPeftModelForSequenceClassification.from_pretrained(DIR)` rebuilds it with no code of ours.

One peft quirk is handled as a peft user must handle it: with prompt or p-tuning on a decoder, peft passes
only `inputs_embeds` (so the classification head reads the *last position*) and puts the prompts before
any padding (so the pad count moves the text away from the prompts): a padded batch changes the scores on
either side. This method therefore runs such batches in groups of equal length, unpadded, and the
export's README tells the user to do the same.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from infoprompt.backbones import Backbone
from infoprompt.data.example import Example
from infoprompt.data.tasks import TaskSpec
from infoprompt.errors import ConfigError, DataError
from infoprompt.methods.base import Capability, MethodConfig, MethodOutput, PromptMethod, register_method
from infoprompt.packing import Packer
from infoprompt.prompting.template import Feature
from infoprompt.schema import setting

PEFT_TYPES = ("lora", "prompt", "prefix", "p-tuning")
PROMPT_LIKE = ("prompt", "p-tuning")  # peft passes inputs_embeds only: a decoder's head reads the last position


@dataclass
class PeftExactConfig(MethodConfig):
    peft_type: str = setting("lora", "the peft tuner `--method peft` trains, in peft's own layout and head: lora, "
                                     "prompt, prefix or p-tuning", choices=PEFT_TYPES, one_of=True)
    lora_r: int = setting(8, "LoRA rank (Hu et al., RoBERTa-base on GLUE: r = 8)", min=1)
    lora_alpha: int = setting(8, "LoRA scaling alpha", above=0)
    lora_targets: str = setting("", "comma-separated module names (empty: peft's default for the model type)")
    layout: str = "prefix"  # what our other code reads of it: any prompts go before the text, as peft puts them


class PlainTemplate:
    """The tokenizer's own encoding of each example (what a peft user feeds the model), as our Features."""

    def __init__(self, tokenizer, max_length: int = 128):
        self.tokenizer, self.max_length = tokenizer, max_length
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.n_prompts, self.layout = 0, "peft"

    def encode(self, examples: list[Example]) -> list[Feature]:
        out = []
        for example in examples:
            if getattr(example, "spans", None):
                raise DataError(f"{example.source}: --method peft classifies plain text; entity spans have no "
                                "place in peft's sequence-classification input")
            pair = (example.text_a, example.text_b) if example.text_b is not None else (example.text_a,)
            encoded = self.tokenizer(*pair)
            if len(encoded["input_ids"]) > self.max_length:  # the tokenizer's own truncation, only when needed
                encoded = self.tokenizer(*pair, truncation=True, max_length=self.max_length)
            ids = tuple(encoded["input_ids"])
            types = tuple(encoded.get("token_type_ids") or (0,) * len(ids))
            out.append(Feature(ids, types, (-1,) * len(ids), 0, ids, types, 0, example.label,
                               getattr(example, "group", None)))
        return out


def _peft_config(config: PeftExactConfig, hidden: int):
    import peft

    common = {"task_type": peft.TaskType.SEQ_CLS}
    if config.peft_type == "lora":
        targets = [t.strip() for t in config.lora_targets.split(",") if t.strip()] or None
        return peft.LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=0.0,
                               target_modules=targets, bias="none", **common)
    if config.peft_type == "prompt":
        init = getattr(peft.PromptTuningInit, "SAMPLE_VOCAB", peft.PromptTuningInit.RANDOM)
        return peft.PromptTuningConfig(num_virtual_tokens=config.n_prompts, prompt_tuning_init=init, **common)
    if config.peft_type == "prefix":
        return peft.PrefixTuningConfig(num_virtual_tokens=config.n_prompts, **common)
    return peft.PromptEncoderConfig(num_virtual_tokens=config.n_prompts, encoder_hidden_size=hidden, **common)


def sequence_classifier(backbone: Backbone, task: TaskSpec) -> nn.Module:
    """`AutoModelForSequenceClassification` over the backbone's own body (a structural copy: weights shared,
    modules new, so peft's in-place changes never reach the backbone); its head freshly initialised."""
    from transformers import AutoModelForSequenceClassification

    from infoprompt.methods.finetune import copy_for_tuning

    if backbone.kind not in ("encoder", "causal"):
        raise ConfigError(f"--method peft: the {backbone.kind} family has no sequence-classification model in peft")
    config = copy.deepcopy(backbone.model.config)
    config.num_labels = len(task.label_names)
    config.id2label = dict(enumerate(task.label_names))
    config.label2id = {name: i for i, name in enumerate(task.label_names)}
    config.architectures = None
    model = AutoModelForSequenceClassification.from_config(config)
    body = backbone.model.base_model if backbone.model.base_model is not backbone.model else backbone.model
    if getattr(model.base_model, "pooler", None) is not None and getattr(body, "pooler", "none") is None:
        raise ConfigError("--method peft: this encoder was loaded without its pooler (with an MLM head); the "
                          "sequence-classification head reads the pooler: load the bare encoder")
    setattr(model, model.base_model_prefix, copy_for_tuning(body, None))
    for param in model.parameters():
        param.requires_grad_(False)
    return model


@register_method("peft", PeftExactConfig, rank=13, group="peft", help="peft's own model, layout and head (docs/interop.md)",
                 test_options=None)
class PeftExact(PromptMethod):
    """peft's `PeftModelForSequenceClassification` as one of our methods (forward(batch) -> MethodOutput).

    A PromptMethod by interface only: its __init__ (slots, readout, class head) is not run, the peft model
    is the whole method."""

    method_name: ClassVar[str] = "peft"
    default_layout: ClassVar[str] = "prefix"
    default_lr: ClassVar[float] = 1e-3
    capabilities: ClassVar[Capability] = Capability(0)

    def __init__(self, config: PeftExactConfig, backbone: Backbone, task: TaskSpec):
        nn.Module.__init__(self)  # not PromptMethod.__init__: no template slots, readout or class head of ours
        from peft import get_peft_model

        self.config, self.task, self.backbone_info, self.family = config, task, backbone, backbone.family
        self.readout, self.predict, self.head, self.prompt_masker = "peft", "head", None, None
        seq = sequence_classifier(backbone, task)
        self.peft = get_peft_model(seq, _peft_config(config, backbone.hidden_size))
        self._body = [getattr(seq, seq.base_model_prefix)]  # a list: not a second path to the same parameters
        self._backbone_training = backbone.model.training
        self.unpadded = backbone.kind == "causal" and config.peft_type in PROMPT_LIKE
        self._token_types = "token_type_ids" in getattr(backbone.tokenizer, "model_input_names", ())
        self._packer = Packer("auto")
        self._packer.disable("not used by method 'peft' (peft runs the model itself)")

    @property
    def backbone(self) -> nn.Module:
        return self.peft

    @property
    def packer(self) -> Packer:
        return self._packer

    def set_packing(self, mode: str) -> None:
        Packer(mode)  # validates; peft's model is always run padded

    def make_template(self, max_length: int = 128) -> PlainTemplate:
        return PlainTemplate(self.backbone_info.tokenizer, max_length)

    def describe_readout(self) -> str:
        return f"the backbone's sequence-classification head, as peft runs it ({self.config.peft_type})"

    def train(self, mode: bool = True) -> PeftExact:
        super().train(mode)
        self._body[0].train(self._backbone_training and mode)  # the frozen body keeps its dropout policy
        return self

    def model_inputs(self, batch: dict, rows: torch.Tensor | None = None,
                     length: int | None = None) -> dict[str, torch.Tensor]:
        """What peft's model is called with: the padded ids and mask (of `rows`, cut to `length`), and the
        token types where the tokenizer makes them."""
        names = ("input_ids", "attention_mask") + (("token_type_ids",) if self._token_types else ())
        inputs = {name: batch[name] for name in names}
        if rows is not None:
            inputs = {name: value[rows, :length] for name, value in inputs.items()}
        return inputs

    def forward(self, batch: dict) -> MethodOutput:
        if not self.unpadded:
            logits = self.peft(**self.model_inputs(batch)).logits
        else:  # groups of equal length, unpadded (see the module docstring)
            lengths = batch["attention_mask"].sum(1)
            parts, order = [], []
            for length in lengths.unique().tolist():
                rows = (lengths == length).nonzero().squeeze(1)
                parts.append(self.peft(**self.model_inputs(batch, rows, int(length))).logits)
                order.append(rows)
            logits = torch.cat(parts)[torch.cat(order).argsort()]
        losses = {"pred": F.cross_entropy(logits.float(), batch["labels"])} if "labels" in batch else {}
        return MethodOutput(logits, losses, {})

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        return {n: p.detach() for n, p in self.named_parameters() if p.requires_grad}
