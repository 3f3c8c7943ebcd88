"""What gets timed: one of our methods, or peft's PromptTuning / LoRA, on the same backbone and inputs.

Both sides receive the same token ids: each row is a run of `length − specials` text tokens cut
from SST-2's training sentences (or a fixed corpus without data), wrapped in the tokenizer's
special tokens; our template then adds its prompt slots and mask, peft its virtual tokens. A step
is forward + backward + gradient clipping at 1.0 + AdamW, on a batch already on the device.
Ours runs `training.steps.train_step`, the very function `fit` runs. peft runs the way its
documentation trains it: `AutoModelForSequenceClassification` + `get_peft_model`, in train mode
(the Trainer calls `model.train()`, so the backbone's dropout is active, as in the end-to-end run).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from infoprompt.data.example import Example

PEFT_SUBJECTS = ("peft-prompt", "peft-lora")


@dataclass
class Spec:
    """One configuration for the worker: what to build and how to measure it (JSON round-trips)."""

    name: str  # a registered method, or one of PEFT_SUBJECTS
    label: str = ""  # how the report names it (default: name), e.g. "prompt+compile"
    backbone: str = "minilm"
    data_dir: str | None = None
    lengths: list[int] = field(default_factory=lambda: [64, 128])
    batch_size: int = 8
    warmup: int = 3
    steps: int = 7
    device: str = "cpu"
    precision: str = "fp32"
    n_prompts: int = 4
    eval_examples: int = 0  # > 0: also time evaluation on this many dev examples
    eval_batch_size: int = 64
    compile: bool = False
    seed: int = 0


def source_texts(data_dir: str | None, limit: int = 4000) -> list[str]:
    """Text to cut benchmark rows from: SST-2 training sentences, else the test corpus."""
    if data_dir:
        from infoprompt.data.tasks import get_task, load_split, resolve_data_dir

        return [e.text_a for e in load_split(get_task("sst2"), "train", resolve_data_dir(data_dir))[:limit]]
    from infoprompt.testing import CORPUS

    return list(CORPUS)


def dev_examples(data_dir: str | None, n: int) -> list[Example]:
    """The first `n` SST-2 dev examples (or a corpus-made stand-in without data)."""
    if data_dir:
        from infoprompt.data.tasks import get_task, load_split, resolve_data_dir

        return load_split(get_task("sst2"), "dev", resolve_data_dir(data_dir))[:n]
    from infoprompt.testing import CORPUS

    return [Example(CORPUS[i % len(CORPUS)], label=i % 2) for i in range(n)]


def text_rows(tokenizer, texts: list[str], n_rows: int, n_tokens: int) -> list[list[int]]:
    """`n_rows` runs of exactly `n_tokens` text token ids, cut one after another from `texts`."""
    stream: list[int] = []
    for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]:
        stream.extend(ids)
    need = n_rows * n_tokens
    if not stream:
        raise ValueError("no text to cut benchmark rows from")
    stream = (stream * (need // len(stream) + 1))[:need]
    return [stream[i * n_tokens:(i + 1) * n_tokens] for i in range(n_rows)]


class OurMethod:
    """A registered method, stepped through the training loop's own `train_step`."""

    def __init__(self, spec: Spec):
        from infoprompt.api import TrainConfig
        from infoprompt.run import assemble_run, resolve_lr
        from infoprompt.training.config import TrainerConfig

        self.spec, self.device = spec, torch.device(spec.device)
        cfg = TrainConfig(task="sst2", method=spec.name, backbone=spec.backbone, n_prompts=spec.n_prompts,
                          seed=spec.seed, precision=spec.precision, device=spec.device)
        run = assemble_run(cfg, splits=())  # the method as `infoprompt train` builds it; rows are made below
        self.backbone, self.method = run.backbone, run.method
        if spec.compile:
            self.method.backbone.compile()
        lr = resolve_lr(cfg)
        self.config = TrainerConfig(lr=lr, device=spec.device, precision=spec.precision)
        self.method.to(self.device).train()
        self.params = [p for p in self.method.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.params, lr=lr)
        self.tokenizer = self.backbone.tokenizer
        self.steps_done = 0

    @property
    def trainable_params(self) -> int:
        return sum(p.numel() for p in self.params)

    def _template(self, max_length: int):
        return self.method.make_template(max_length)

    def specials(self) -> int:
        return self._template(512).specials.count(pair=False)

    def make_batch(self, rows: list[list[int]], labels: list[int]) -> dict:
        from infoprompt.prompting.batches import to_device
        from infoprompt.prompting.template import collate

        length = len(rows[0]) + self.specials() + self.method.config.n_prompts + 1
        template = self._template(length)
        features = [template.encode_ids(row, None, label) for row, label in zip(rows, labels)]
        return to_device(collate(features, template.pad_id), self.device)

    def step(self, batch: dict) -> None:
        from infoprompt.training.steps import train_step

        train_step(self.method, batch, self.optimizer, self.params, self.config)
        self.steps_done += 1

    def prepare_eval(self, examples: list[Example]):
        return self._template(128).encode(examples)

    def evaluate(self, prepared) -> None:
        from infoprompt.training.inference import predict_logits

        predict_logits(self.method, prepared, self.spec.eval_batch_size, self.device, self.spec.precision)


class PeftModel:
    """peft's PromptTuning or LoRA on AutoModelForSequenceClassification, as its guides build it."""

    def __init__(self, spec: Spec):
        from peft import LoraConfig, PromptTuningConfig, get_peft_model
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
        from transformers.utils import logging as hf_logging

        from infoprompt.backbones import ALIASES

        hf_logging.set_verbosity_error()
        self.spec, self.device = spec, torch.device(spec.device)
        path = ALIASES[spec.backbone]() if spec.backbone in ALIASES else spec.backbone
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        torch.manual_seed(spec.seed)
        model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
        if spec.name == "peft-prompt":
            config = PromptTuningConfig(task_type="SEQ_CLS", num_virtual_tokens=spec.n_prompts)
            lr = 1e-3
        else:
            config = LoraConfig(task_type="SEQ_CLS", r=8, lora_alpha=8, lora_dropout=0.0)
            lr = 5e-4
        self.model = get_peft_model(model, config).to(self.device)
        self.model.train()
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.params, lr=lr)
        self.steps_done = 0

    @property
    def trainable_params(self) -> int:
        return sum(p.numel() for p in self.params)

    def specials(self) -> int:
        from infoprompt.prompting.template import SpecialLayout

        return SpecialLayout.probe(self.tokenizer).count(pair=False)

    def make_batch(self, rows: list[list[int]], labels: list[int]) -> dict:
        from infoprompt.prompting.template import SpecialLayout

        layout = SpecialLayout.probe(self.tokenizer)
        built = [layout.build(row, None) for row in rows]
        ids = torch.tensor([b[0] for b in built])
        batch = {"input_ids": ids, "token_type_ids": torch.tensor([b[1] for b in built]),
                 "attention_mask": torch.ones_like(ids), "labels": torch.tensor(labels)}
        return {k: v.to(self.device) for k, v in batch.items()}

    def step(self, batch: dict) -> None:
        from infoprompt.training.inference import autocast
        from infoprompt.training.steps import NonFiniteLoss

        with autocast(self.device, self.spec.precision):
            loss = self.model(**batch).loss
        if not torch.isfinite(loss):  # the same check (and device sync) our loop makes every step
            raise NonFiniteLoss("loss", loss.item())
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.optimizer.step()
        self.steps_done += 1

    def prepare_eval(self, examples: list[Example]):
        from transformers import DataCollatorWithPadding

        encoded = self.tokenizer([e.text_a for e in examples], truncation=True, max_length=128)
        collator = DataCollatorWithPadding(self.tokenizer)
        size = self.spec.eval_batch_size
        rows = [{k: encoded[k][i] for k in encoded} for i in range(len(examples))]
        return [rows[i:i + size] for i in range(0, len(rows), size)], collator

    def evaluate(self, prepared) -> None:
        """The Trainer's evaluation loop, reduced to its work: collate in order, no_grad forward."""
        from infoprompt.training.inference import autocast

        chunks, collator = prepared
        self.model.eval()
        with torch.no_grad(), autocast(self.device, self.spec.precision):
            for chunk in chunks:
                batch = {k: v.to(self.device) for k, v in collator(chunk).items()}
                self.model(**batch).logits.float().cpu()
        self.model.train()


def build_subject(spec: Spec):
    return PeftModel(spec) if spec.name in PEFT_SUBJECTS else OurMethod(spec)
