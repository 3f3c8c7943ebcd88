"""`infoprompt bench`: argument parsing only; the work is in infoprompt.bench.run."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="time every method against peft: step, memory, evaluation, end to end")
    p.add_argument("--json", action="store_true", help="print the full report as one JSON object")
    p.add_argument("--quick", action="store_true", help="a reduced run (fewer steps, 64-shot 2-epoch end to end)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--precision", choices=["fp32", "bf16"], help="default: bf16 autocast on cuda, fp32 on cpu")
    p.add_argument("--backbone", default="minilm", help="'minilm' or a local model folder")
    p.add_argument("--data-dir", help="folder with glue/sst2 (else $INFOPROMPT_DATA)")
    p.add_argument("--methods", type=_list, help="comma-separated methods (default: every registered one)")
    p.add_argument("--lengths", type=lambda t: [int(x) for x in _list(t)], help="sequence lengths (default 64,128)")
    p.add_argument("--steps", type=int, help="measured steps per length (median; default 7, quick 5)")
    p.add_argument("--e2e-methods", type=_list, help="our methods to run end to end (default prompt,infoprompt); a method may carry train flags, e.g. 'prompt --bucket-batches 16'")
    p.add_argument("--e2e-peft", type=_list, help="peft + Trainer runs end to end: prompt (default), lora")
    p.add_argument("--no-e2e", action="store_true", help="skip the end-to-end runs")
    p.add_argument("--compile-check", action="store_true", help="also time `prompt` under torch.compile")
    p.add_argument("--peft-script", help="path to benchmarks/peft_trainer_sst2.py (found automatically in a checkout)")
    p.add_argument("--output", help="also write the JSON report to this file")
    p.add_argument("--in-process", action="store_true", help="no worker processes (debugging; memory overlaps)")
    p.set_defaults(func=cmd_bench)


def cmd_bench(args) -> int:
    import os

    from infoprompt.atomic_files import atomic_write_json
    from infoprompt.bench.report import summarise, to_markdown
    from infoprompt.bench.run import Settings, run_bench
    from infoprompt.errors import ConfigError

    if args.steps is not None and args.steps < 5:
        raise ConfigError(f"--steps must be >= 5 (a median of at least 5 steps), got {args.steps}")
    settings = Settings(backbone=args.backbone, data_dir=args.data_dir or os.environ.get("INFOPROMPT_DATA"),
                        device=args.device, precision=args.precision or ("bf16" if args.device.startswith("cuda") else "fp32"),
                        in_process=args.in_process, compile_check=args.compile_check, peft_script=args.peft_script)
    if args.quick:
        settings.make_quick()
    if args.methods:
        settings.methods = args.methods
    if args.lengths:
        settings.lengths = args.lengths
    if args.steps:
        settings.steps = args.steps
    if args.e2e_methods:
        settings.e2e_methods = args.e2e_methods
    if args.e2e_peft:
        unknown = sorted(set(args.e2e_peft) - {"prompt", "lora"})
        if unknown:
            raise ConfigError(f"--e2e-peft: {unknown} (choose from: prompt, lora)")
        settings.e2e_peft = args.e2e_peft
    if args.no_e2e:
        settings.e2e_methods = []
    measured: list[dict] = []

    def keep_partial(config: dict) -> None:  # a run cut short still leaves what it measured in --output
        measured.append(config)
        if args.output:
            atomic_write_json(Path(args.output), {"partial": True, "configs": measured})

    report = run_bench(settings, log=lambda m: print(m, file=sys.stderr, flush=True), on_config=keep_partial)
    summary = summarise(report)
    if args.output:
        atomic_write_json(Path(args.output), summary)
    print(json.dumps(summary, sort_keys=True) if args.json else to_markdown(summary))
    return 0
