"""Command line: argument parsing only. Calls the API; maps user errors to one line and exit 2."""

from __future__ import annotations

import argparse
import importlib
import json
import sys

from infoprompt.errors import InfoPromptError

# Method options: flag -> (config field, type). Only flags the user gives are passed on, and a
# flag that does not apply to the chosen method is an error rather than silently ignored.
METHOD_FLAGS = {
    "beta": float, "gamma": float, "negatives": int, "head_negatives": str, "head_bilinear": str,
    "latent": int, "kl_weight": float, "nce_clamp": float, "nce_clamp_mode": str, "bottleneck": int,
    "generator": str, "generator_input": str, "classifier_input": str, "prompt_init": str, "layout": str,
    "generator_mode": str, "generator_dropout": float, "generator_weight_decay": float,
    # baselines (methods/finetune, adapter, lora, bitfit, prefix)
    "adapter_size": int, "adapter_placement": str, "lora_r": int, "lora_alpha": int, "lora_targets": str,
    "prefix_length": int, "prefix_hidden": int,
    # prediction on backbones with an LM head (infoprompt.families): head | label likelihood
    "predict": str, "label_score": str, "gen_loss": str,
    # APET (methods/apet): exact budget, operations, positions, placement seed, full-unit sizes
    "budget": int, "apet_ops": str, "apet_positions": str, "apet_seed": int, "apet_bottleneck": int,
    "apet_rank": int, "apet_tokens": int, "apet_preset": str,
}
# Each extra command lives in its own package and exposes add_parser(subparsers); add one line here.
SUBCOMMAND_MODULES = (
    "infoprompt.theory.cli",
    "infoprompt.sweep.cli",
    "infoprompt.report.cli",
    "infoprompt.analysis.cli",
    "infoprompt.bench.cli",
    "infoprompt.methods.apet.experiments.cli",
    "infoprompt.pruning.cli",
    "infoprompt.export.cli",
)
ABLATIONS = {"none": {}, "no-head": {"gamma": 0.0}, "no-rep": {"beta": 0.0}, "no-mi": {"gamma": 0.0, "beta": 0.0}}


def _add_train(sub) -> None:
    from infoprompt.packing import PACKING_MODES

    p = sub.add_parser("train", help="train a soft prompt on a task")
    p.add_argument("--task", default="sst2", help="sst2, cola, rte, mrpc, semeval, superglue-{boolq,cb,copa,multirc,rte,wic,wsc}, or custom")
    p.add_argument("--method", default="infoprompt", help="prompt, warp, idpg, infoprompt; baselines: finetune, adapter, lora, bitfit, prefix")
    p.add_argument("--backbone", default="minilm", help="'minilm', 'smollm2', or any Hugging Face encoder, causal-LM or T5-style id / local path")
    p.add_argument("--data-dir", help="folder with the task files (else $INFOPROMPT_DATA, else the hub)")
    p.add_argument("--shots", type=int, help="few-shot: draw N training examples with the seed")
    p.add_argument("--stratified", action="store_true", help="keep class balance in the few-shot draw")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-prompts", type=int, default=4)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, help="default: the method's own (1e-3 for prompts)")
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--schedule", default="constant", choices=["constant", "linear"])
    p.add_argument("--eval-every", type=int, help="evaluate every N steps (default: each epoch)")
    p.add_argument("--eval-batch-size", type=int, default=64)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--readout", default="auto", help="auto, or the backbone family's: mask, mean, mean-text, cls (encoders), answer (causal), decoder (seq2seq)")
    p.add_argument("--backbone-dropout", default="off", choices=["off", "on"])
    p.add_argument("--output", help="run directory (holds the best checkpoint)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true", help="end with one JSON summary line")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --output from its last saved state (after a crash or kill)")
    p.add_argument("--save-every", type=int, default=200, help="steps between resume-state saves")
    p.add_argument("--no-cache", action="store_true", help="recompute the prompt-free pass every step")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"], help="bf16: autocast (GPUs)")
    p.add_argument("--compile", action="store_true", help="torch.compile the backbone (docs/performance.md)")
    p.add_argument("--bucket-batches", type=int, default=0, metavar="N",
                   help="length-bucketed training batches: sort windows of N batches by length (faster; "
                        "changes which examples share a batch; 0 = plain shuffle)")
    p.add_argument("--packing", default="auto", choices=PACKING_MODES,
                   help="auto: pack shuffled training batches without padding where exact (same batches, "
                        "faster; docs/performance.md); off: always padded")
    p.add_argument("--optimizer", default="adamw", choices=["adamw", "adafactor"],
                   help="adafactor: XPrompt's settings (constant lr, no relative step/scaling; docs/generative.md)")
    p.add_argument("--select-on", default="dev-split", choices=["dev-split", "test", "last", "dev"],
                   help="which split picks the kept checkpoint; the reported score never chose itself: dev-split "
                        "(default: a seeded half of dev selects, the other half is reported), test (dev selects, "
                        "the labelled test split is reported), last (no selection), dev (legacy, optimistic: "
                        "dev selects and is reported)")
    p.add_argument("--patience", type=int, metavar="N",
                   help="stop after N evaluations without improvement on the selection split "
                        "(default 5; 0 = never; not with --select-on last)")
    p.add_argument("--ablation", choices=sorted(ABLATIONS), default="none",
                   help="InfoPrompt ablations: no-head (γ=0), no-rep (β=0), no-mi (γ=β=0)")
    for name, kind in METHOD_FLAGS.items():
        p.add_argument("--" + name.replace("_", "-"), type=kind, default=None)
    custom = p.add_argument_group("custom task")
    custom.add_argument("--train-file")
    custom.add_argument("--dev-file")
    custom.add_argument("--test-file", help="labelled test file, scored with the best dev checkpoint")
    custom.add_argument("--task-kind", default="text", choices=["text", "relation", "typing"],
                        help="text: rows with --text-fields; relation/typing: JSONL spans (docs/relation_extraction.md)")
    custom.add_argument("--text-fields", help="a or a,b")
    custom.add_argument("--label-field", default="label")
    custom.add_argument("--verbalizer", help="LABEL=word,LABEL=word")
    p.add_argument("--skip-bad-rows", action="store_true", help="skip malformed rows, and report them")
    p.add_argument("--report-to", default="none", metavar="BACKENDS",
                   help="experiment tracking: tensorboard, wandb, mlflow, or a comma list (default: none; "
                        "docs/tracking.md)")
    p.add_argument("--init-from-peft", metavar="DIR",
                   help="start from a peft adapter folder (LORA for --method lora, PROMPT_TUNING for prompt, "
                        "PREFIX_TUNING for prefix; docs/interop.md)")
    p.set_defaults(func=cmd_train)


def cmd_train(args) -> int:
    from infoprompt.api import TrainConfig, train

    options = {name: getattr(args, name) for name in METHOD_FLAGS if getattr(args, name) is not None}
    options.update(ABLATIONS[args.ablation])
    if args.no_cache:
        options["cache_prompt_free"] = False
    cfg = TrainConfig(
        task=args.task, method=args.method, backbone=args.backbone, data_dir=args.data_dir, shots=args.shots,
        stratified=args.stratified, seed=args.seed, n_prompts=args.n_prompts, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay, schedule=args.schedule,
        eval_every=args.eval_every, eval_batch_size=args.eval_batch_size, max_length=args.max_length,
        readout=args.readout, backbone_dropout=args.backbone_dropout, output=args.output, method_options=options,
        train_file=args.train_file, dev_file=args.dev_file, test_file=args.test_file, task_kind=args.task_kind,
        text_fields=args.text_fields.split(",") if args.text_fields else None, label_field=args.label_field,
        verbalizer=args.verbalizer, skip_bad_rows=args.skip_bad_rows, progress=not args.quiet and sys.stderr.isatty(),
        device=args.device, resume=args.resume, save_every=args.save_every, precision=args.precision,
        compile=args.compile, optimizer=args.optimizer, bucket_batches=args.bucket_batches,
        packing=args.packing, report_to=args.report_to, init_from_peft=args.init_from_peft,
        select_on=args.select_on, patience=args.patience,
    )
    result = train(cfg)
    if result.skipped_rows:
        from infoprompt.data.readers import BadRowPolicy

        print(BadRowPolicy(True, result.skipped_rows).summary(), file=sys.stderr)
    print(describe_result(result.summary) + f" -> {result.run_dir}")
    if args.json:
        print(json.dumps(result.summary, sort_keys=True))
    return 0


def describe_result(summary: dict) -> str:
    """One line: the reported split's score at the kept step, the last evaluation's, and the majority baseline."""
    reported = summary["reported"]

    def show(scores: dict | None) -> str:
        return ", ".join(f"{k} {v:.4f}" for k, v in (scores or {}).items())

    kept = "last evaluation" if summary["select_on"] == "last" else f"selected on {summary['selection_split']}"
    line = (f"{summary['task']} / {summary['method']}: {reported['split']}: {show(reported['selected'])} "
            f"(step {summary['selected_step']}, {kept}); last evaluation (step {summary['last_step']}) "
            f"{show(reported['last'])}; majority class {show(reported['majority']['metrics'])}")
    if reported["collapsed"]:
        line += f"; COLLAPSED: {reported['predicted_share']:.0%} predicted '{reported['predicted_class']}'"
    if not summary["honest"]:
        line += "; optimistic: the reported split also selected"
    return line + f"; {summary['train_seconds']}s"


def _add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="score a checkpoint on its task's dev split")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data-dir")
    p.add_argument("--dev-file", help="custom tasks: another labelled file to score")
    p.add_argument("--skip-bad-rows", action="store_true")
    p.add_argument("--generate", action="store_true",
                   help="generative backbones: greedy decoding mapped to labels (unmatched = wrong, counted)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args) -> int:
    from infoprompt.api import evaluate

    out = evaluate(args.checkpoint, data_dir=args.data_dir, dev_file=args.dev_file, skip_bad_rows=args.skip_bad_rows,
                   generate=args.generate)
    print(f"{out['task']} / {out['method']}: " + ", ".join(f"{k} {v:.4f}" for k, v in out["dev"].items()))
    if args.json:
        print(json.dumps(out, sort_keys=True))
    return 0


def _add_predict(sub) -> None:
    p = sub.add_parser("predict", help="predict one label per row of a CSV/TSV/JSONL file")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--output", help="CSV/TSV/JSONL by extension (default: one label per line on stdout)")
    p.add_argument("--skip-bad-rows", action="store_true")
    p.set_defaults(func=cmd_predict)


def cmd_predict(args) -> int:
    from infoprompt.api import predict

    labels = predict(args.checkpoint, args.input, args.output, skip_bad_rows=args.skip_bad_rows)
    if not args.output:
        print("\n".join(labels))
    else:
        print(f"wrote {len(labels)} predictions to {args.output}", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="infoprompt", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _add_train(sub)
    _add_evaluate(sub)
    _add_predict(sub)
    for module_name in SUBCOMMAND_MODULES:
        importlib.import_module(module_name).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_parsed(build_parser().parse_args(argv))


def run_parsed(args: argparse.Namespace) -> int:
    """Run a parsed command; user errors become one line on stderr and exit code 2."""
    try:
        return int(args.func(args) or 0)
    except InfoPromptError as err:
        print(f"infoprompt: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("infoprompt: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
