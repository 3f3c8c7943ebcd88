"""Padded vs padding-free packed training steps on the shuffled batches a few-shot run really sees.

    python benchmarks/packing_step.py --data-dir ../shared/data [--method prompt] [--shots 256] [--repeats 5]

One epoch of the run's own batches (the seeded few-shot draw, shuffled as `fit` shuffles epoch 0),
each timed as `training.steps.train_step` (forward + backward + clipping + AdamW), once with
`--packing off` and once with `auto`, interleaved `--repeats` times so that machine noise hits both.
Prints the real and padded token counts, min and median seconds per epoch, and their ratio.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import torch


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", required=True)
    p.add_argument("--method", default="prompt")
    p.add_argument("--backbone", default="minilm")
    p.add_argument("--task", default="sst2")
    p.add_argument("--shots", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    from infoprompt.api import make_template
    from infoprompt.backbones import load_backbone
    from infoprompt.data.sampling import sample_few_shot
    from infoprompt.data.tasks import get_task, load_split, resolve_data_dir
    from infoprompt.methods import build_method, method_classes
    from infoprompt.prompting.template import collate
    from infoprompt.training.config import TrainerConfig
    from infoprompt.training.steps import train_step

    task = get_task(args.task)
    examples = sample_few_shot(load_split(task, "train", resolve_data_dir(args.data_dir)), args.shots, args.seed)
    backbone = load_backbone(args.backbone)
    torch.manual_seed(args.seed)
    method = build_method(args.method, backbone, task, {"n_prompts": 4})
    features = make_template(method, backbone, 128).encode(examples)
    order = list(range(len(features)))
    random.Random(args.seed).shuffle(order)
    pad_id = backbone.tokenizer.pad_token_id or 0
    batches = [collate([features[i] for i in order[j:j + args.batch_size]], pad_id)
               for j in range(0, len(order), args.batch_size)]
    real = sum(int(b["attention_mask"].sum()) for b in batches)
    padded = sum(b["attention_mask"].numel() for b in batches)
    lr = float(getattr(method_classes(args.method)[1], "default_lr", 1e-3))
    config = TrainerConfig(lr=lr)
    params = [q for q in method.parameters() if q.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr)
    method.train()

    seconds: dict[str, list[float]] = {"off": [], "auto": []}
    for _ in range(args.repeats):
        for mode in seconds:
            method.set_packing(mode)
            start = time.perf_counter()
            for batch in batches:
                train_step(method, batch, optimizer, params, config)
            seconds[mode].append(time.perf_counter() - start)
    print(f"{args.method} on {args.backbone}, {args.task} {args.shots} shots, batch {args.batch_size}, "
          f"{len(batches)} steps, {torch.get_num_threads()} threads; packing: {method.packer.report()}")
    print(f"tokens per epoch: {real} real, {padded} padded ({padded / real:.2f}x)")
    for mode, values in seconds.items():
        print(f"  --packing {mode:<4}  min {min(values):.2f} s  median {statistics.median(values):.2f} s")
    ratio = statistics.median(seconds["auto"]) / statistics.median(seconds["off"])
    print(f"packed / padded (medians): {ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
