"""Every registered method trained through the real loop (`infoprompt.api.train`) under bf16 autocast and
in fp32, on the same seed and data, one JSON line per run: does mixed precision hold, and how far is it
from fp32?

    python benchmarks/bf16_all_methods.py --device cuda --data-dir ../shared/data \
        --output docs/results/gpu_bf16/all_methods.jsonl
    python benchmarks/bf16_all_methods.py --report docs/results/gpu_bf16/all_methods.jsonl

The dev accuracy recorded is the run's best evaluation on the SST-2 dev set, i.e. selected on the data it
reports: it is only used here to compare the two precisions of the same method (same seed, same
selection rule), never as a result about a method.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
from pathlib import Path

METHODS = "prompt,warp,idpg,infoprompt,adapter,lora,bitfit,prefix,apet,finetune"


def run(args: argparse.Namespace) -> None:
    import torch

    from infoprompt.api import TrainConfig, train

    gpu = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
    with open(args.output, "a") as out, tempfile.TemporaryDirectory() as tmp:
        for method in args.methods.split(","):
            for precision in ("bf16", "fp32"):
                start = time.perf_counter()
                rec = {"method": method, "precision": precision, "device": args.device, "shots": args.shots,
                       "epochs": args.epochs, "torch": torch.__version__, "gpu": gpu}
                run_dir = Path(tmp) / f"{method}_{precision}"
                try:
                    res = train(TrainConfig(task="sst2", method=method, shots=args.shots, epochs=args.epochs, seed=0,
                                            data_dir=args.data_dir, device=args.device, precision=precision,
                                            progress=False, output=str(run_dir), save_every=None))
                    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
                    train_records = [r for r in records if r.get("type") == "train"]
                    rec.update(ok=True, steps=res.summary["steps"], best_step=res.summary["best_step"],
                               dev=res.summary["dev"], packing=res.summary.get("packing"),
                               n_loss_records=len(train_records),
                               last_loss_record=train_records[-1] if train_records else None)
                except Exception as err:  # noqa: BLE001 - recorded; the next run goes on
                    rec.update(ok=False, error=f"{type(err).__name__}: {err}", tb=traceback.format_exc()[-1500:])
                rec["seconds"] = round(time.perf_counter() - start, 1)
                print(json.dumps(rec)[:300], file=sys.stderr, flush=True)
                out.write(json.dumps(rec) + "\n")
                out.flush()


def report(path: str) -> str:
    """A Markdown table (bf16 vs fp32 per method) from the JSON lines `run` wrote."""
    rows: dict[str, dict[str, dict]] = {}
    device = ""
    for line in Path(path).read_text().splitlines():
        rec = json.loads(line)
        rows.setdefault(rec["method"], {})[rec["precision"]] = rec
        device = f"{rec['gpu']} (torch {rec['torch']}), {rec['shots']} shots x {rec['epochs']} epochs"

    def cell(rec: dict | None) -> str:
        if rec is None:
            return "-"
        if not rec["ok"]:
            return "FAILED: " + rec["error"][:60]
        last = rec["last_loss_record"] or {}
        finite = all(isinstance(v, float) and v == v and abs(v) != float("inf") for v in last.get("losses", {}).values())
        return f"{rec['dev']['accuracy']:.4f} ({rec['steps']} steps, last losses {'finite' if finite else 'NON-FINITE'})"

    lines = [f"Device: {device}. Dev accuracy = best evaluation (selected on dev; compare precisions only).", "",
             "| method | bf16 autocast | fp32 | bf16 − fp32 |", "|---|---|---|---|"]
    for method, by in rows.items():
        bf, fp = by.get("bf16"), by.get("fp32")
        diff = (f"{bf['dev']['accuracy'] - fp['dev']['accuracy']:+.4f}" if bf and fp and bf["ok"] and fp["ok"] else "-")
        lines.append(f"| {method} | {cell(bf)} | {cell(fp)} | {diff} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--shots", type=int, default=512)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--methods", default=METHODS)
    p.add_argument("--output", default="bf16_all_methods.jsonl")
    p.add_argument("--report", metavar="JSONL", help="print the Markdown table of a finished run and exit")
    args = p.parse_args(argv)
    if args.report:
        print(report(args.report))
        return 0
    run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
