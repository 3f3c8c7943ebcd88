"""Label scoring on a causal LM: one shared key/value cache for the rows' common prefix, against a full pass per row.

    python benchmarks/label_scoring.py --data-dir ../shared/data            # SmolLM2-135M, SST-2 dev (872)

Scores the whole SST-2 dev split with Lester prompt tuning (`--n-prompts`, label likelihood) twice per
repeat, interleaved: `unshared` runs every row in full (what scoring did before the causal family
cached the shared prefix: one pass over [BOS, prompts, format, text, cue] per row) and `shared` runs
the common prefix once and each row's suffix on its cache. Prints wall seconds per full dev pass
(median over repeats), the largest logit difference and both accuracies (they must agree).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from infoprompt.backbones import load_backbone
from infoprompt.data.tasks import get_task, load_split, resolve_data_dir
from infoprompt.evaluation.metrics import compute_metrics
from infoprompt.methods import build_method
from infoprompt.training.inference import predict_logits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--backbone", default="smollm2")
    parser.add_argument("--n-prompts", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None, help="score only the first N dev examples")
    args = parser.parse_args()
    torch.manual_seed(0)
    task = get_task("sst2")
    dev = load_split(task, "dev", resolve_data_dir(args.data_dir))[: args.limit]
    backbone = load_backbone(args.backbone)
    method = build_method("prompt", backbone, task, {"n_prompts": args.n_prompts, "predict": "label"}).eval()
    features = method.make_template(128).encode(dev)
    gold = [f.label for f in features]
    seconds: dict[str, list[float]] = {"unshared": [], "shared": []}
    logits: dict[str, torch.Tensor] = {}
    for _ in range(args.repeats):
        for mode in ("unshared", "shared"):
            method.share_prefix = mode == "shared"
            start = time.perf_counter()
            logits[mode] = predict_logits(method, features, args.batch_size)
            seconds[mode].append(time.perf_counter() - start)
    result = {
        "backbone": args.backbone, "examples": len(features), "n_prompts": args.n_prompts,
        "threads": torch.get_num_threads(),
        "seconds_unshared": round(statistics.median(seconds["unshared"]), 2),
        "seconds_shared": round(statistics.median(seconds["shared"]), 2),
        "speedup": round(statistics.median(seconds["unshared"]) / statistics.median(seconds["shared"]), 2),
        "max_logit_difference": float((logits["shared"] - logits["unshared"]).abs().max()),
        "accuracy": {mode: compute_metrics(["accuracy"], gold, value.argmax(-1).tolist())["accuracy"]
                     for mode, value in logits.items()},
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
