"""``infoprompt sweep FILE``: run a grid of `infoprompt train` runs, resumably, N at a time."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from infoprompt.errors import ConfigError


def cmd_sweep(args: argparse.Namespace) -> int:
    from infoprompt.sweep import expand, load_sweep, run_sweep
    from infoprompt.sweep.config import check_runs
    from infoprompt.sweep.rundir import existing_run_dirs, find_run_dir, run_state

    config = load_sweep(args.file)
    runs_dir = args.runs_dir or config.runs_dir
    if not runs_dir:
        raise ConfigError(f"{args.file}: no runs directory: give --runs-dir or a top-level 'runs_dir' key")
    specs = expand(config)
    check_runs(specs, args.file, check_files=not args.runner)  # the whole sweep, before its first run
    if args.dry_run:
        states: dict[str, int] = {}
        existing = existing_run_dirs(Path(runs_dir))
        for spec in specs:  # writes nothing
            run_dir = find_run_dir(Path(runs_dir), spec, existing)
            state = run_state(run_dir, spec.hash)
            states[state] = states.get(state, 0) + 1
            print(f"{state:<9} {run_dir.name}   infoprompt {' '.join(spec.argv())}")
        print(f"{len(specs)} runs: " + ", ".join(f"{n} {s}" for s, n in sorted(states.items())), file=sys.stderr)
        return 0
    if args.runner:
        from infoprompt.sweep.runners import load_runner

        load_runner(args.runner)  # fail now, with one line, rather than once per run
    result = run_sweep(specs, runs_dir, workers=args.workers, backend=args.backend, progress=not args.quiet,
                       ray_address=args.ray_address, cpus_per_run=args.cpus_per_run, run_fn=args.runner)
    finished = result.total - len(result.failed)
    print(f"sweep: {finished}/{result.total} runs finished in {result.runs_dir} "
          f"({result.skipped} were already finished, {len(result.outcomes)} handled now)")
    report_skipped_rows(result.outcomes)
    for outcome in result.failed:
        print(f"failed: {outcome.name}: {outcome.message}", file=sys.stderr)
    if result.failed:
        print(f"sweep: {len(result.failed)} run(s) failed; fix the cause and rerun the same command "
              "(finished runs are skipped)", file=sys.stderr)
    if args.report:
        from infoprompt.report import write_report

        write_report(result.runs_dir)
        print(f"report: {Path(result.runs_dir) / 'report' / 'report.md'}")
    return 0 if result.ok else 1


def report_skipped_rows(outcomes) -> int:
    """--skip-bad-rows in a sweep: the bad rows each run skipped (from its result.json), never silent."""
    from infoprompt.sweep.rundir import read_result

    counts = {o.name: (read_result(Path(o.run_dir)) or {}).get("skipped_rows") or 0 for o in outcomes}
    counts = {name: n for name, n in counts.items() if n}
    if counts:
        shown = ", ".join(f"{name}: {n}" for name, n in list(counts.items())[:5])
        more = f" (+{len(counts) - 5} more runs)" if len(counts) > 5 else ""
        print(f"sweep: skipped bad rows in {len(counts)} run(s): {shown}{more} (each run's result.json: "
              "'skipped_rows')", file=sys.stderr)
    return sum(counts.values())


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "sweep", help="run a grid of training runs from a YAML/TOML file (resumable, parallel)",
        description="Run every combination of the `infoprompt train` flags in FILE, each in its own directory "
                    "under the runs directory. Rerunning skips finished runs and resumes crashed ones.")
    p.add_argument("file", help="sweep file (.yaml, .yml or .toml); see docs/sweeps.md")
    p.add_argument("--runs-dir", help="where the run directories go (default: the file's runs_dir)")
    p.add_argument("--workers", type=int, default=1, help="runs at a time (default 1)")
    p.add_argument("--backend", choices=["local", "ray"], default="local")
    p.add_argument("--ray-address", help="Ray cluster to join ('auto' or ray://HOST:PORT); default: a local instance")
    p.add_argument("--cpus-per-run", type=float, default=1.0, help="Ray: CPUs each run reserves")
    p.add_argument("--runner", metavar="MODULE:FUNCTION",
                   help="advanced: call FUNCTION(spec, run_dir, resume) -> summary dict in each run's worker process "
                        "instead of `infoprompt train`")
    p.add_argument("--dry-run", action="store_true", help="list the runs and their state; run nothing")
    p.add_argument("--report", action="store_true", help="write RUNS_DIR/report when done")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=cmd_sweep)


def main(argv: list[str] | None = None) -> int:
    """`python -m infoprompt.sweep.cli FILE ...`: the same command, without importing the other subcommands."""
    from infoprompt.cli import run_parsed  # torch-free: the subcommand modules load lazily

    parser = argparse.ArgumentParser(prog="infoprompt")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return run_parsed(parser.parse_args(["sweep", *(sys.argv[1:] if argv is None else argv)]))


if __name__ == "__main__":
    sys.exit(main())
