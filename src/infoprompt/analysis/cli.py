"""``infoprompt analyze {cmi,landscape,curves}``: the paper's Figs. 1-3 as PNG plus CSV/JSON.

Argument parsing only; the work is in infoprompt.analysis. User errors raise ConfigError, which the
main CLI prints as one line with exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from infoprompt.cli import human_printer, json_line


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got '{text}'") from None


def _scalar(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False, "none": None}.get(text.lower(), text)


def _filter_value(text: str) -> Any:
    parts = [_scalar(p.strip()) for p in text.split(",") if p.strip()]
    return parts[0] if len(parts) == 1 else parts


def _threads(args: argparse.Namespace) -> None:
    """--threads: on a CPU shared with other jobs, 1 thread avoids oversubscription (measured 3x faster)."""
    if args.threads is not None:
        import torch

        from infoprompt.errors import ConfigError

        if args.threads < 1:
            raise ConfigError(f"--threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)


def cmd_cmi(args: argparse.Namespace) -> int:
    say = human_printer(args)
    from infoprompt.analysis.cmi import CMISettings, estimate_prompt_cmi
    from infoprompt.analysis.sources import HANDCRAFTED, checkpoint_task

    checkpoints = list(args.checkpoint or [])
    task = args.task or (checkpoint_task(checkpoints).name if checkpoints else None)
    handcrafted = args.handcrafted if args.handcrafted is not None else HANDCRAFTED.get(task or "", [])
    sources = (["random"] if not args.no_random else []) + [f"text:{h}" for h in handcrafted] + checkpoints
    _threads(args)
    given = {name: getattr(args, name) for name in ("inputs", "samples", "replicas", "directions", "tau", "eta")}
    settings = CMISettings(split=args.split, seed=args.seed, **{k: v for k, v in given.items() if v is not None})
    result = estimate_prompt_cmi(sources, task=args.task, data_dir=args.data_dir, backbone=args.backbone,
                                 n_prompts=args.n_prompts, readout=args.readout, settings=settings,
                                 progress=not args.quiet)
    paths = result.write(args.out)
    check = result.estimator_check
    for label, s in result.summary().items():
        say(f"{label:>24}: CMI mean {s['mean']:.3f} nats (median {s['median']:.3f}, bounds "
            f"[{s['mean_lower']:.3f}, {s['mean_upper']:.3f}], n={s['n']})")
    say(f"estimator check (correlated Gaussians, M={check['samples']}): true {check['true_nats']:.3f}, "
        f"estimate {check['estimate_nats']:.3f} nats ({100 * check['relative_error']:.1f}% off); "
        f"{result.seconds:.0f}s -> {paths['png']}")
    if args.json:
        print(json_line(result.to_dict()["summary"]))
    return 0


def cmd_landscape(args: argparse.Namespace) -> int:
    say = human_printer(args)
    from infoprompt.analysis.landscape import LandscapeSettings, loss_landscape

    _threads(args)
    settings = LandscapeSettings(gammas=args.gammas, beta=args.beta, steps=args.steps, grid=args.grid,
                                 extent=args.extent, units=args.units, examples=args.examples,
                                 shots=None if args.shots == 0 else args.shots, batch_size=args.batch_size,
                                 lr=args.lr, seed=args.seed)
    result = loss_landscape(args.task, data_dir=args.data_dir, backbone=args.backbone, settings=settings,
                            progress=not args.quiet)
    paths = result.write(args.out)
    ranges = ", ".join(f"{name} {min(map(min, s)):.3f}..{max(map(max, s)):.3f}" for name, s in result.surfaces.items())
    say(f"landscape {args.grid}x{args.grid} ({ranges}); {len(result.trajectories)} runs x {args.steps} steps; "
        f"{result.seconds:.0f}s -> {paths['png']}")
    if args.json:
        print(json_line({"seconds": round(result.seconds, 2), "png": str(paths["png"])}))
    return 0


def cmd_curves(args: argparse.Namespace) -> int:
    from infoprompt.analysis.curves import learning_curves
    from infoprompt.errors import ConfigError

    filters: dict[str, Any] = {}
    for name in ("task", "method", "n_prompts", "shots"):
        value = getattr(args, name)
        if value is not None:
            filters[name] = _filter_value(str(value))
    for item in args.where or []:
        if "=" not in item:
            raise ConfigError(f"--where expects KEY=VALUE, got '{item}'")
        key, value = item.split("=", 1)
        filters[key.strip()] = _filter_value(value)
    paths = learning_curves(args.runs_dir, args.out, metric=args.metric, title=args.title,
                            **filters)
    print(f"curves -> {paths['png']} (+ {paths['csv'].name}, {paths['json'].name})")
    return 0


def cmd_mi_check(args: argparse.Namespace) -> int:
    say = human_printer(args)
    from infoprompt.analysis.mi import gaussian_sweep

    _threads(args)
    rows = gaussian_sweep(samples=args.samples, groups=args.groups, replicas=args.replicas, seeds=args.seeds)
    say(f"{'rho':>4} {'d':>2} {'true':>7} {'bias':>7} {'median':>7} {'p95':>7} {'max':>7}   "
        f"(relative; M={args.samples}, groups={args.groups}, R={args.replicas}, {args.seeds} seeds)")
    for r in rows:
        say(f"{r['rho']:>4} {r['dim']:>2} {r['true_nats']:>7.3f} {r['mean_relative_bias']:>+7.3f} "
            f"{r['median_relative_error']:>7.3f} {r['p95_relative_error']:>7.3f} {r['max_relative_error']:>7.3f}")
    if args.json:
        print(json_line(rows))
    return 0


def add_parser(subparsers: Any) -> None:
    analyze = subparsers.add_parser("analyze", help="prompt CMI, loss landscape, learning curves (paper Figs. 1-3)")
    sub = analyze.add_subparsers(dest="analysis", required=True)

    p = sub.add_parser("cmi", help="per-input CMI I(P; Z | X) of random, handcrafted and trained prompts (Fig. 1)")
    p.add_argument("--checkpoint", action="append", help="a trained run directory (repeatable; LABEL=PATH names it)")
    p.add_argument("--handcrafted", action="append",
                   help="a handcrafted prompt text (repeatable; default: the paper's for sst2/mrpc)")
    p.add_argument("--no-random", action="store_true", help="leave out random vocabulary prompts")
    p.add_argument("--task", help="task (default: the checkpoints')")
    p.add_argument("--data-dir", help="folder with the task files (else $INFOPROMPT_DATA, else the checkpoints')")
    p.add_argument("--backbone", help="default: the checkpoints', else minilm")
    p.add_argument("--n-prompts", type=int, help="prompt tokens without checkpoints (default 4)")
    p.add_argument("--readout", default="auto", help="auto, mask, mean, mean-text or cls (checkpoints: theirs)")
    p.add_argument("--split", default="dev", help="split the inputs are drawn from")
    p.add_argument("--inputs", type=int, help="N inputs (default 24)")
    p.add_argument("--samples", type=int, help="M prompt draws per input, InfoNCE ceiling log M (default 24)")
    p.add_argument("--replicas", type=int, help="noise draws per prompt draw (default 8)")
    p.add_argument("--directions", type=int, help="k principal axes per prompt token (default 4)")
    p.add_argument("--tau", type=float, help="prompt perturbation in token-cloud std (default 0.5)")
    p.add_argument("--eta", type=float, help="noise on Z in units of the inputs' spread (default 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="folder for cmi.png, cmi.csv, cmi.json")
    p.add_argument("--json", action="store_true", help="end with one JSON line: the per-source summary")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--threads", type=int, help="torch CPU threads (1 on a shared machine)")
    p.set_defaults(func=cmd_cmi)

    p = sub.add_parser("landscape", help="task/representation loss over one prompt token's PCA plane (Fig. 2)")
    p.add_argument("--task", default="sst2")
    p.add_argument("--data-dir")
    p.add_argument("--backbone", default="minilm")
    p.add_argument("--gammas", type=_floats, default=(0.05, 0.0), help="one short run per γ (default 0.05,0)")
    p.add_argument("--beta", type=float, default=0.1)
    p.add_argument("--steps", type=int, default=50, help="trajectory length (paper: 500)")
    p.add_argument("--grid", type=int, default=11, help="grid points per axis")
    p.add_argument("--extent", type=float, default=1.5, help="offsets from the mean embedding: ±extent")
    p.add_argument("--units", default="std", choices=["std", "raw"], help="axis std (default) or raw embedding units")
    p.add_argument("--examples", type=int, default=20, help="training examples the losses are averaged over")
    p.add_argument("--shots", type=int, default=256, help="training pool of the short runs (0: the whole split)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="folder for landscape.png, landscape.json, landscape.csv")
    p.add_argument("--json", action="store_true")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--threads", type=int, help="torch CPU threads (1 on a shared machine)")
    p.set_defaults(func=cmd_landscape)

    p = sub.add_parser("mi-check", help="the CMI estimator against correlated Gaussians of known MI")
    p.add_argument("--samples", type=int, default=24, help="M draws per group")
    p.add_argument("--groups", type=int, default=96)
    p.add_argument("--replicas", type=int, default=8)
    p.add_argument("--seeds", type=int, default=40)
    p.add_argument("--json", action="store_true")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.set_defaults(func=cmd_mi_check)

    p = sub.add_parser("curves", help="mean dev learning curves per condition from finished runs (Fig. 3)")
    p.add_argument("runs_dir", help="a runs directory (finished runs hold result.json)")
    p.add_argument("--out", required=True, help="folder for curves.png, curves.csv, curves.json")
    p.add_argument("--metric", help="default: each run's primary metric")
    p.add_argument("--task")
    p.add_argument("--method", help="one or more, comma-separated")
    p.add_argument("--n-prompts")
    p.add_argument("--shots")
    p.add_argument("--where", action="append", help="any other run flag: KEY=VALUE[,VALUE] (repeatable)")
    p.add_argument("--title")
    p.set_defaults(func=cmd_curves)


def main(argv: list[str] | None = None) -> int:
    """Standalone entry point: ``python -m infoprompt.analysis.cli analyze ...``."""
    from infoprompt.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
