"""Late prompt tuning against prompt tuning: seconds per training epoch after the first, and peak memory.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/late_vs_prompt.py --data-dir ../shared/data \
        [--task sst2] [--shots 256] [--epochs 4] [--repeats 2] [--late-option prompt_layer=4]

Each method trains in its own fresh subprocess (so that each peak RSS is its own), with the run's
defaults (batch 8, n_prompts 4, max length 128, the method's own lr and packing policy), on the seeded
few-shot draw shuffled anew each epoch. The subprocesses alternate prompt, late, prompt, late, ...
(`--repeats` rounds), so that load from other work on the machine hits both. Epoch 1 is left out of the
time (it fills late's lower-stack cache); the figure is the median over the later epochs of all rounds,
in CPU seconds of the (one-thread) process, which other processes on a shared machine disturb far less
than wall seconds, and in wall seconds.
Peak memory is the process's peak RSS (ru_maxrss) over the timed epochs, and on CUDA also torch's peak
allocated bytes. On CPU, RSS is ~415 MiB of interpreter, libraries and model before training starts and
moves by +-10 MiB between identical runs (allocator fragmentation), so an extra untimed epoch also
accounts the tensors the method itself holds: the largest per-step set of activations saved for
backward, its trainable state and late's cache (`tensor_account`); that sum is deterministic.
Prints one line per subprocess, then the medians and the late / prompt ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time


def tensor_account(method, batches, optimizer, params, config, device) -> dict:
    """What the method itself holds in tensors, in MiB, over one more (untimed) epoch: the largest per-step set of
    activations saved for backward (distinct storages, the frozen weights left out), the trainable state
    (parameters, gradients and AdamW's two moments) and late's lower-stack cache; their sum is `total`."""
    import torch

    from infoprompt.training.steps import train_step

    frozen = {p.untyped_storage().data_ptr() for p in method.parameters()}
    step: dict[int, int] = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in frozen:
            step[storage.data_ptr()] = storage.nbytes()
        return tensor

    saved = 0
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        for batch in batches:
            step.clear()
            batch = {k: v.to(device) if hasattr(v, "to") else v for k, v in batch.items()}
            train_step(method, batch, optimizer, params, config)
            saved = max(saved, sum(step.values()))
    trainable = 4 * sum(p.numel() * p.element_size() for p in params)
    split = getattr(method, "split", None)
    cache = split.cache.nbytes if split is not None and split.cache is not None else 0
    mib = {"saved_activations": saved / 2**20, "trainable_state": trainable / 2**20, "cache": cache / 2**20}
    return {k: round(v, 2) for k, v in {**mib, "total": sum(mib.values())}.items()}


def worker(args: argparse.Namespace) -> dict:
    import torch

    from infoprompt.backbones import load_backbone
    from infoprompt.data.sampling import sample_few_shot
    from infoprompt.data.tasks import get_task, load_split, resolve_data_dir
    from infoprompt.methods import build_method, method_classes
    from infoprompt.prompting.template import collate
    from infoprompt.training.config import TrainerConfig
    from infoprompt.training.steps import train_step

    device = torch.device(args.device)
    task = get_task(args.task)
    examples = sample_few_shot(load_split(task, "train", resolve_data_dir(args.data_dir)), args.shots, args.seed)
    backbone = load_backbone(args.backbone)
    torch.manual_seed(args.seed)
    options = {"n_prompts": 4}
    if args.worker == "late":
        options.update(dict(opt.split("=", 1) for opt in args.late_option))
    method = build_method(args.worker, backbone, task, options).to(device)
    features = method.make_template(128).encode(examples)
    pad_id = backbone.tokenizer.pad_token_id or 0
    lr = float(getattr(method_classes(args.worker)[1], "default_lr", 1e-3))
    config = TrainerConfig(lr=lr)
    params = [q for q in method.parameters() if q.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr)
    method.train()
    rng = random.Random(args.seed)
    setup_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    seconds, cpu = [], []
    for _ in range(args.epochs):
        order = list(range(len(features)))
        rng.shuffle(order)
        batches = [collate([features[i] for i in order[j:j + 8]], pad_id) for j in range(0, len(order), 8)]
        start, start_cpu = time.perf_counter(), time.process_time()
        for batch in batches:
            batch = {k: v.to(device) if hasattr(v, "to") else v for k, v in batch.items()}
            train_step(method, batch, optimizer, params, config)
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # before the accounting pass below
    out = {"method": args.worker, "epoch_seconds": [round(s, 3) for s in seconds],
           "epoch_cpu_seconds": [round(s, 3) for s in cpu], "packing": method.packer.report(),
           "peak_rss_mib": round(peak_rss / 1024, 1), "tensor_mib": tensor_account(method, batches, optimizer, params,
                                                                                  config, device),
           "setup_rss_mib": round(setup_rss / 1024, 1), "threads": torch.get_num_threads(),
           "trainable": method.num_trainable_parameters()}
    if device.type == "cuda":
        out["peak_cuda_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    if args.worker == "late":
        out["late"] = method.run_report()["late"]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", required=True)
    p.add_argument("--backbone", default="minilm")
    p.add_argument("--task", default="sst2")
    p.add_argument("--shots", type=int, default=256)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--late-option", action="append", default=[], help="a late option as name=value (repeatable)")
    p.add_argument("--summarize", metavar="LOG",
                   help="print the summary of the per-process JSON lines a previous run printed (saved to LOG)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args)))
        return 0
    runs: dict[str, list[dict]] = {"prompt": [], "late": []}
    if args.summarize:
        for line in open(args.summarize, encoding="utf-8"):
            if line.startswith("{"):
                record = json.loads(line)
                runs[record["method"]].append(record)
        args.repeats, args.epochs = len(runs["prompt"]), len(runs["prompt"][0]["epoch_seconds"])
        return summarize(runs, args)
    passthrough = list(argv if argv is not None else sys.argv[1:])
    for _ in range(args.repeats):
        for method in runs:
            proc = subprocess.run([sys.executable, __file__, *passthrough, "--worker", method], env=os.environ,
                                  capture_output=True, text=True, check=True)
            record = json.loads(proc.stdout.strip().splitlines()[-1])
            print(json.dumps(record))
            runs[method].append(record)
    return summarize(runs, args)


def paired_interval(diffs: list[float]) -> str:
    """mean ± std [95 % t interval] (n) of paired differences (rounds alternate the two methods)."""
    from scipy import stats  # scikit-learn's dependency; the t quantile, not a hand-written table

    n = len(diffs)
    mean = statistics.mean(diffs)
    if n < 2:
        return f"{mean:+.1f} (n=1)"
    sd = statistics.stdev(diffs)
    half = stats.t.ppf(0.975, n - 1) * sd / n ** 0.5
    return f"{mean:+.1f} ± {sd:.1f} [{mean - half:+.1f}, {mean + half:+.1f}] (n={n})"


def summarize(runs: dict[str, list[dict]], args) -> int:
    """The medians, the late / prompt ratios and the paired peak-RSS difference of the rounds in `runs`."""
    def later(key: str, method: str) -> float:
        return statistics.median(s for r in runs[method] for s in r[key][1:])

    peak = {m: max(r["peak_rss_mib"] for r in rs) for m, rs in runs.items()}
    grown = {m: statistics.median(r["peak_rss_mib"] - r["setup_rss_mib"] for r in rs) for m, rs in runs.items()}
    print(f"{args.backbone} {args.task} {args.shots} shots, {args.epochs} epochs x {args.repeats} rounds, "
          f"batch 8, {runs['prompt'][0]['threads']} threads")
    for m in runs:
        print(f"  {m:<7} per epoch after the first (median): {later('epoch_cpu_seconds', m):.3f} CPU s, "
              f"{later('epoch_seconds', m):.3f} wall s; peak RSS {peak[m]:.1f} MiB (max), "
              f"{grown[m]:.1f} MiB above the loaded model (median)")
    held = {m: runs[m][0]["tensor_mib"] for m in runs}
    for m in runs:
        print(f"  {m:<7} tensors it holds (MiB): {held[m]}")
    print(f"late / prompt: CPU time per epoch "
          f"{later('epoch_cpu_seconds', 'late') / later('epoch_cpu_seconds', 'prompt'):.2f}x, wall time per epoch "
          f"{later('epoch_seconds', 'late') / later('epoch_seconds', 'prompt'):.2f}x, "
          f"peak RSS {peak['late'] / peak['prompt']:.3f}x, tensors held {held['late']['total'] / held['prompt']['total']:.2f}x")
    rss = [b["peak_rss_mib"] - a["peak_rss_mib"] for a, b in zip(runs["prompt"], runs["late"])]
    print(f"peak RSS, late - prompt per round (MiB): {paired_interval(rss)}")
    if "peak_cuda_mib" in runs["prompt"][0]:
        cuda = {m: max(r["peak_cuda_mib"] for r in rs) for m, rs in runs.items()}
        print(f"peak CUDA allocated: prompt {cuda['prompt']:.1f} MiB, late {cuda['late']:.1f} MiB "
              f"({cuda['late'] / cuda['prompt']:.3f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
