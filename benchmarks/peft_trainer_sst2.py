"""The baseline that `infoprompt bench` times against: few-shot SST-2 with peft + the transformers Trainer.

Written the way peft's sequence-classification guides show it (`AutoModelForSequenceClassification`
+ `get_peft_model(PromptTuningConfig(task_type="SEQ_CLS"))` or `LoraConfig`, a `datasets.Dataset`
tokenised with `.map`, `DataCollatorWithPadding`, and a `Trainer` that evaluates and saves every
epoch and reloads the best model at the end). Only the hyperparameters are set to match an
`infoprompt train` run: backbone, epochs, batch size, learning rate, weight decay 0, a constant
schedule, gradient clipping at 1.0 (the Trainer's default), and the maximum length.

The training examples are the same draw as `infoprompt train --shots N --seed S` (through
`infoprompt.data.sampling.sample_few_shot`), and the dev set is the same file, so the accuracies
are comparable. Prints one JSON line: accuracy, wall-clock seconds (measured inside, for reference;
`infoprompt bench` times the whole process from outside), steps.

    python benchmarks/peft_trainer_sst2.py --data-dir ../shared/data --shots 256 --epochs 10
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time

START = time.perf_counter()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backbone", default="minilm", help="'minilm' or a local model folder")
    p.add_argument("--data-dir", required=True, help="folder holding glue/sst2/{train,dev}.tsv")
    p.add_argument("--peft", default="prompt", choices=["prompt", "lora"], help="PromptTuning (4 virtual tokens) or LoRA")
    p.add_argument("--n-prompts", type=int, default=4)
    p.add_argument("--shots", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--eval-batch-size", type=int, default=8, help="the Trainer's default per-device eval batch")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--schedule", default="constant", choices=["constant", "linear"])
    p.add_argument("--device", default="cpu")
    p.add_argument("--bf16", action="store_true", help="bf16 autocast (TrainingArguments(bf16=True))")
    p.add_argument("--output", help="Trainer output_dir (default: a temporary folder)")
    return p.parse_args(argv)


def few_shot_sst2(data_dir: str, shots: int, seed: int):
    """The same examples `infoprompt train --task sst2 --shots N --seed S` trains and scores on."""
    from infoprompt.data.sampling import sample_few_shot
    from infoprompt.data.tasks import get_task, load_split, resolve_data_dir

    task = get_task("sst2")
    folder = resolve_data_dir(data_dir)
    train = sample_few_shot(load_split(task, "train", folder), shots, seed)
    dev = load_split(task, "dev", folder)
    return train, dev


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import numpy as np
    from datasets import Dataset
    from peft import LoraConfig, PromptTuningConfig, get_peft_model
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
        set_seed,
    )
    from transformers.utils import logging as hf_logging

    from infoprompt.backbones import ALIASES

    hf_logging.set_verbosity_error()
    set_seed(args.seed)
    path = ALIASES[args.backbone]() if args.backbone in ALIASES else args.backbone
    train_examples, dev_examples = few_shot_sst2(args.data_dir, args.shots, args.seed)

    tokenizer = AutoTokenizer.from_pretrained(path)

    def tokenize(batch):
        return tokenizer(batch["sentence"], truncation=True, max_length=args.max_length)

    def to_dataset(examples):
        data = Dataset.from_dict({"sentence": [e.text_a for e in examples], "label": [e.label for e in examples]})
        return data.map(tokenize, batched=True, remove_columns=["sentence"]).rename_column("label", "labels")

    train_data, dev_data = to_dataset(train_examples), to_dataset(dev_examples)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
    if args.peft == "prompt":
        config = PromptTuningConfig(task_type="SEQ_CLS", num_virtual_tokens=args.n_prompts)
    else:
        config = LoraConfig(task_type="SEQ_CLS", r=8, lora_alpha=8, lora_dropout=0.0)
    model = get_peft_model(model, config)

    def compute_metrics(prediction):
        logits, labels = prediction
        return {"accuracy": float((np.argmax(logits, axis=-1) == labels).mean())}

    with tempfile.TemporaryDirectory() as scratch:
        training_args = TrainingArguments(
            output_dir=args.output or scratch,
            learning_rate=args.lr,
            per_device_train_batch_size=args.batch_size,
            per_device_eval_batch_size=args.eval_batch_size,
            num_train_epochs=args.epochs,
            weight_decay=0.0,
            lr_scheduler_type=args.schedule,
            eval_strategy="epoch",
            save_strategy="epoch",
            load_best_model_at_end=True,
            metric_for_best_model="accuracy",
            save_total_limit=1,
            seed=args.seed,
            bf16=args.bf16,
            use_cpu=args.device == "cpu",
            report_to="none",
            disable_tqdm=True,
            logging_strategy="no",
        )
        trainer = Trainer(
            model=model, args=training_args, train_dataset=train_data, eval_dataset=dev_data,
            processing_class=tokenizer, data_collator=DataCollatorWithPadding(tokenizer), compute_metrics=compute_metrics,
        )
        train_output = trainer.train()
    print(json.dumps({  # the best epoch's dev accuracy, as `infoprompt train` reports its best dev score
        "peft": args.peft, "accuracy": trainer.state.best_metric, "steps": train_output.global_step,
        "seconds": round(time.perf_counter() - START, 2), "n_train": len(train_examples), "n_dev": len(dev_examples),
    }, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
