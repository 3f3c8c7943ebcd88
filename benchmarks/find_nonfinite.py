"""Locate where a benchmark step first turns non-finite (NaN or inf): which module's forward output,
which backward operation, or which parameter after the optimizer step.

The preliminary H100 run of `infoprompt bench --device cuda` (bf16 autocast) stopped our methods
with a non-finite `pred` loss on the second step while peft's steps went on; this script is the
tool to pin that down on a GPU machine:

    python benchmarks/find_nonfinite.py --method prompt --device cuda --precision bf16 [--backbone PATH]
"""

from __future__ import annotations

import argparse
import sys

import torch


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--method", default="prompt", help="one of ours, or peft-prompt / peft-lora")
    p.add_argument("--backbone", default="minilm")
    p.add_argument("--data-dir")
    p.add_argument("--device", default="cuda")
    p.add_argument("--precision", default="bf16", choices=["fp32", "bf16"])
    p.add_argument("--length", type=int, default=64)
    p.add_argument("--steps", type=int, default=5)
    args = p.parse_args(argv)

    from infoprompt.bench.subjects import Spec, build_subject, source_texts, text_rows

    spec = Spec(name=args.method, backbone=args.backbone, data_dir=args.data_dir, device=args.device,
                precision=args.precision)
    subject = build_subject(spec)
    model = getattr(subject, "method", None) or subject.model
    first_bad: list[str] = []

    def watch(name):
        def hook(_module, _inputs, output):
            if isinstance(output, torch.Tensor):
                tensors = [output]
            else:
                values = output.values() if isinstance(output, dict) else (
                    output if isinstance(output, (tuple, list)) else vars(output).values() if hasattr(output, "__dict__") else [])
                tensors = [t for t in values if isinstance(t, torch.Tensor)]
            if not first_bad and any(t.is_floating_point() and not torch.isfinite(t).all() for t in tensors):
                first_bad.append(name)
        return hook

    for name, module in model.named_modules():
        module.register_forward_hook(watch(name or "(top)"))
    rows = text_rows(subject.tokenizer, source_texts(args.data_dir), spec.batch_size, args.length - subject.specials())
    batch = subject.make_batch(rows, [i % 2 for i in range(spec.batch_size)])
    torch.autograd.set_detect_anomaly(True, check_nan=True)
    for step in range(args.steps):
        try:
            subject.step(batch)
        except Exception as err:  # noqa: BLE001 - the point is to report it
            print(f"step {step + 1}: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}")
            print(f"first module with a non-finite forward output: {first_bad[0] if first_bad else 'none'}")
            return 1
        bad = [n for n, q in model.named_parameters() if q.requires_grad and not torch.isfinite(q).all()]
        grads = [n for n, q in model.named_parameters() if q.grad is not None and not torch.isfinite(q.grad).all()]
        print(f"step {step + 1}: ok; non-finite parameters {bad[:5]}, gradients {grads[:5]}, "
              f"first bad module {first_bad[:1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
