"""Command line: argument parsing only. Calls the API; maps user errors to one line and exit 2.

The `train` options are generated from the configuration schema (`infoprompt.config`); the other
commands live in their own packages and are imported only when they run, so that `infoprompt --help`
answers without loading torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from infoprompt.errors import Terminated, error_line, sigterm_raises

DESCRIPTION = """Soft prompts and parameter-efficient tuning on frozen language models: train InfoPrompt, IDPG,
WARP, prompt tuning, APET and the LoRA/adapter/prefix/BitFit baselines on GLUE, SuperGLUE, SemEval or your own
data; evaluate, predict, sweep, report, prune and analyse. `infoprompt COMMAND --help` lists a command's options."""

# Every command: (module with add_parser(subparsers), or None for the ones defined here; one-line help).
# The help is repeated here so the top-level listing needs no import; add one line per command.
COMMANDS = {
    "train": (None, "train a soft prompt (or a baseline) on a task"),
    "evaluate": (None, "score a checkpoint on its task's dev split"),
    "predict": (None, "predict one label per row of a CSV/TSV/JSONL file"),
    "sweep": ("infoprompt.sweep.cli", "run a grid of training runs from a YAML/TOML file (resumable, parallel)"),
    "report": ("infoprompt.report.cli", "tables (Markdown + CSV) and mean learning curves from a runs directory"),
    "prune": ("infoprompt.pruning.cli", "XPrompt: prune a trained soft prompt (tokens, pieces), rewind and retrain"),
    "analyze": ("infoprompt.analysis.cli", "prompt CMI, loss landscape, learning curves (paper Figs. 1-3)"),
    "apet": ("infoprompt.experiments.apet.cli", "APET experiments: a1 (positions), a2 (budget sweep), "
                                                "transfer"),
    "bench": ("infoprompt.bench.cli", "time every method against peft: step, memory, evaluation, end to end"),
    "export": ("infoprompt.export.cli", "export a trained run for another library (peft adapter folder)"),
    "theory": ("infoprompt.theory.cli", "softmax-regression theory lab (derivatives, solvers, ICL shift)"),
}
GROUP_ORDER = ("task", "method", "training", "evaluation", "run", "custom task")
# Flags of `infoprompt train` that are not run settings.
CLI_ONLY = ("json", "quiet")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, unless its help already says it (the schema writes its own)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "(default" in text or action.default in (None, argparse.SUPPRESS, False):
            return text
        return super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)


def _metavar(spec) -> str:
    allowed = spec.allowed()
    if allowed is not None and len(allowed) <= 6:
        return "{" + ",".join(map(str, allowed)) + "}"
    return {int: "N", float: "X", list: "A[,B]"}.get(spec.kind, spec.name.upper())


def _help(spec) -> str:
    allowed = spec.allowed()
    if allowed is not None and len(allowed) > 6:  # too many for the metavar: listed in the help
        from infoprompt.methods.registry import legacy_methods  # legacy names (old checkpoints): accepted, not offered

        legacy = set(legacy_methods())
        return f"{spec.help_text()}; one of: {', '.join(str(a) for a in allowed if a not in legacy)}"
    return spec.help_text()


def add_setting(group, spec) -> None:
    """One schema setting as an option. Values stay strings here and are checked by the schema (one-line
    errors, exit 2); an option not given is absent from the namespace, so the schema's default applies."""
    if spec.is_switch:  # --NAME sets True; --no-NAME (a switch on by default) sets False
        action = "store_false" if spec.option.startswith("--no-") else "store_true"
        group.add_argument(spec.option, dest=spec.name, action=action, default=argparse.SUPPRESS,
                           help=_help(spec))
        return
    group.add_argument(spec.option, dest=spec.name, default=argparse.SUPPRESS, metavar=_metavar(spec),
                       help=_help(spec))


def _add_train(sub) -> None:
    from dataclasses import fields

    from infoprompt.config import TrainConfig, method_settings, setting_of

    p = sub.add_parser("train", help=COMMANDS["train"][1],
                       description="Train one method on one task; the best dev checkpoint, metrics.jsonl and a "
                                   "learning curve go to --output. Every option is a field of "
                                   "infoprompt.TrainConfig (the same names in sweep files).")
    groups = {name: p.add_argument_group(name) for name in GROUP_ORDER}
    for f in fields(TrainConfig):
        spec = setting_of(f)
        if spec is None:
            continue
        if spec.group not in groups:
            groups[spec.group] = p.add_argument_group(spec.group)
        add_setting(groups[spec.group], spec)
    method_group = p.add_argument_group("method options", "each applies to the methods in [brackets]; "
                                                          "given to another method it is an error")
    for spec in method_settings().values():
        add_setting(method_group, spec)
    output = p.add_argument_group("output")
    output.add_argument("--json", action="store_true",
                        help="print exactly one JSON summary line on stdout (everything else goes to stderr)")
    output.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=cmd_train)


def train_config_from_args(args: argparse.Namespace):
    """The TrainConfig of a parsed `infoprompt train` (checked by the schema; raises ConfigError)."""
    from infoprompt.config import train_config_from_settings

    given = {k: v for k, v in vars(args).items() if k not in CLI_ONLY and k not in ("func", "command")}
    return train_config_from_settings(given, progress=not args.quiet)


def cmd_train(args) -> int:
    from infoprompt.api import train
    from infoprompt.devices import resolve_device

    cfg = train_config_from_args(args)
    resolve_device(cfg.device)  # a device that does not exist here: one line, before anything is loaded
    result = train(cfg)
    if not result.main_process:  # a multi-process run: rank 0 alone reports (one --json line in all)
        return 0
    report_skipped(result.skipped_rows, len(result.skipped_rows))
    human(args, describe_result(result.summary) + f" -> {result.run_dir}")
    if args.json:
        print(json_line(result.summary))
    return 0


def describe_result(summary: dict) -> str:
    """The two lines `infoprompt train` prints for a finished run (report/headline.py, imported when used:
    `infoprompt --help` loads no report code)."""
    from infoprompt.report.headline import describe_result as describe

    return describe(summary)


def human(args, text: str) -> None:
    """A line for people: stdout, or stderr when --json keeps stdout for the one JSON line."""
    print(text, file=sys.stderr if getattr(args, "json", False) else sys.stdout)


def human_printer(args):
    """`human` bound to a command's args (print-like), for commands that print several lines."""
    return lambda text="": human(args, text)


def json_line(record: dict) -> str:
    """One line of valid JSON (non-finite numbers become null: bare NaN is not JSON)."""
    from infoprompt.atomic_files import json_text

    return json_text(record, sort_keys=True)


def _add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help=COMMANDS["evaluate"][1])
    p.add_argument("--checkpoint", required=True, help="a run directory written by `infoprompt train`")
    p.add_argument("--data-dir", help="folder with the task files (default: $INFOPROMPT_DATA, else the folder "
                                      "the run was trained from)")
    p.add_argument("--dev-file", help="custom tasks: another labelled file to score (default: the run's dev file)")
    p.add_argument("--skip-bad-rows", action="store_true", help="skip malformed rows, and report them")
    p.add_argument("--generate", action="store_true",
                   help="generative backbones: greedy decoding mapped to labels (unmatched = wrong, counted)")
    p.add_argument("--json", action="store_true",
                   help="print exactly one JSON line on stdout (everything else goes to stderr)")
    p.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args) -> int:
    from infoprompt.api import evaluate

    out = evaluate(args.checkpoint, data_dir=args.data_dir, dev_file=args.dev_file, skip_bad_rows=args.skip_bad_rows,
                   generate=args.generate, progress=sys.stderr.isatty())  # a bar on a terminal; logs stay clean
    report_skipped(out["skipped"], out["skipped_rows"])
    human(args, f"{out['task']} / {out['method']}: " + ", ".join(f"{k} {v:.4f}" for k, v in out["dev"].items())
          + f" ({out['examples']} examples)")
    if args.json:
        print(json_line(out))
    return 0


def _add_predict(sub) -> None:
    p = sub.add_parser("predict", help=COMMANDS["predict"][1])
    p.add_argument("--checkpoint", required=True, help="a run directory written by `infoprompt train`")
    p.add_argument("--input", required=True, help="CSV/TSV/JSONL rows holding the task's text fields")
    p.add_argument("--output", help="CSV/TSV/JSONL by extension (default: one label per line on stdout)")
    p.add_argument("--skip-bad-rows", action="store_true", help="skip malformed rows, and report them")
    p.set_defaults(func=cmd_predict)


def cmd_predict(args) -> int:
    from infoprompt.api import predict_file

    def show(rows: list[dict]) -> None:  # without --output: labels on stdout as they are scored
        print("\n".join(row["prediction"] for row in rows), flush=True)

    report = predict_file(args.checkpoint, args.input, args.output, skip_bad_rows=args.skip_bad_rows,
                          progress=sys.stderr.isatty(), keep_rows=False, on_rows=None if args.output else show)
    report_skipped(report.input.skipped, len(report.input.skipped))
    if args.output:  # every output row carries its source file:line, so skipped rows leave visible gaps
        print(f"wrote {report.count} predictions to {args.output}", file=sys.stderr)
    return 0


def report_skipped(messages: list[str], count: int) -> None:
    """--skip-bad-rows: say how many rows were skipped and show the first few (stderr)."""
    if count:
        from infoprompt.data.readers import BadRowPolicy

        print(BadRowPolicy(True, list(messages)).summary().replace(
            f"skipped {len(messages)} ", f"skipped {count} ", 1), file=sys.stderr)


LOCAL = {"train": _add_train, "evaluate": _add_evaluate, "predict": _add_predict}


def _chosen_command(argv: list[str]) -> str | None:
    """The command named in argv (the first word that is not an option), if any."""
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; only the command named in `argv` is built in full (all of them when argv is None), the
    others are listed with their one-line help, so `infoprompt --help` imports no command module."""
    parser = Parser(prog="infoprompt", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    chosen = _chosen_command(argv) if argv is not None else None
    for name, (module, help_) in COMMANDS.items():
        if argv is not None and name != chosen:
            sub.add_parser(name, help=help_, add_help=False)
        elif module is None:
            LOCAL[name](sub)
        else:
            importlib.import_module(module).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv).parse_args(argv)
    with sigterm_raises():  # SIGTERM ends in one line, and temporary files are cleaned on the way out
        return run_parsed(args)


def run_parsed(args: argparse.Namespace) -> int:
    """Run a parsed command; user errors become one line on stderr and exit code 2 (130 for SIGINT)."""
    try:
        return int(args.func(args) or 0)
    except (Exception, KeyboardInterrupt, Terminated) as err:
        line = error_line(err)
        if line is None:
            raise  # a bug: keep the traceback
        print(f"infoprompt: {line}", file=sys.stderr)
        return 130 if isinstance(err, KeyboardInterrupt) else 2


if __name__ == "__main__":
    sys.exit(main())
