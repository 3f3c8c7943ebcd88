"""Choose InfoPrompt's new defaults from a finished defaults sweep, by SELECTION-split scores only (issue 17).

Usage: python scripts/choose_infoprompt_defaults.py RUNS_DIR [--out chosen.json] [--write-sweep STUDY.yaml]
       python scripts/choose_infoprompt_defaults.py --compare-args chosen.json   (the report's --compare pairs)
       ... RUNS_DIR --reference PROMPT_RUNS   (also: another method's selection-half scores on the same tuning
       data, e.g. configs/sweeps/prompt_reference_tuning_minilm.yaml, and each configuration's paired
       difference from it; the reference plays no part in the choice)

RUNS_DIR holds the runs of configs/sweeps/infoprompt_defaults_minilm.yaml (`--select-on dev-split`).
A run's number is its kept checkpoint's score on the SELECTION half of dev (the eval record at its
`selected_step` in metrics.jsonl); the reported half is never read. A configuration is the set of flags
that vary between the runs (seed and shots aside); its score is the mean over its (shots, seed) runs; every
configuration must have the same ones. The highest mean wins; ties go to the configuration closest to the current defaults
(fewest changed flags), so a change has to earn its place.

Writes a JSON with the choice, the whole table (mean, sample std, n, per-seed scores) and each flag's
marginal means. `--write-sweep` rewrites the block between the `# >>> chosen InfoPrompt defaults` and
`# <<< chosen InfoPrompt defaults` lines of a study sweep file: one grid entry for InfoPrompt with the
chosen flags and one for its no-MI ablation, each merged into the file's `&study` axes. When the current
defaults win, the block says so and adds no runs (they are the study's "paper settings" rows).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from infoprompt.atomic_files import atomic_write_bytes
from infoprompt.errors import DataError, InfoPromptError
from infoprompt.report.runs import RunRecord, load_runs, varying_keys
from infoprompt.rundir import METRICS_LOG, numbered_entries

UNIT_KEYS = ("shots",)  # a configuration's score averages over its (shots, seed) runs
BEGIN, END = "# >>> chosen InfoPrompt defaults", "# <<< chosen InfoPrompt defaults"


def selection_score(record: RunRecord) -> float:
    """The kept checkpoint's primary metric on the selection half of dev (never the reported half)."""
    if record.summary.get("select_on") != "dev-split":
        raise DataError(f"{record.run_dir}: ran with --select-on {record.summary.get('select_on')}, not dev-split: "
                        "it has no selection-split score")
    step, metric = record.summary.get("selected_step"), record.primary_metric
    log = record.run_dir / METRICS_LOG
    for number, _, entry in numbered_entries(log):  # the one JSON-lines reader, with its torn-line policy
        if entry.get("type") == "eval" and entry.get("step") == step:
            if metric not in entry.get("selection", {}):
                raise DataError(f"{log}:{number}: eval record of step {step} has no selection-split '{metric}'")
            return float(entry["selection"][metric])
    raise DataError(f"{log}: no eval record at the selected step {step}")


def method_options(method: str) -> dict[str, Any]:
    """The method's own options that are train flags, with their current defaults (the config's field defaults)."""
    from dataclasses import fields

    from infoprompt.methods import method_classes
    from infoprompt.sweep.flags import train_flags

    flags = train_flags()
    return {f.name: f.default for f in fields(method_classes(method)[0]) if f.name in flags and f.name != "seed"}


def choose(runs_dir: str | Path, partial: bool = False) -> dict:
    """The table of configurations by mean selection score, the marginal means per flag, and the choice.

    `partial`: an unfinished sweep (runs missing or unequal seeds per configuration) still gives its table,
    marked provisional, so a grid cut short by its time budget can be looked at; nothing may be chosen from it."""
    records, unfinished = load_runs(runs_dir)
    if unfinished and not partial:
        raise DataError(f"{runs_dir}: {len(unfinished)} run(s) unfinished (e.g. {unfinished[0].name}); finish the sweep")
    if not records:
        raise DataError(f"{runs_dir}: no finished runs")
    methods = {r.method for r in records}
    if len(methods) != 1:
        raise DataError(f"{runs_dir}: runs of several methods {sorted(methods)}; a defaults sweep tunes one")
    method = methods.pop()
    keys = [k for k in varying_keys(records) if k not in UNIT_KEYS]
    defaults = method_options(method)
    stray = [k for k in keys if k not in defaults]
    if stray:
        raise DataError(f"{runs_dir}: the runs vary {stray}, which are not options of method '{method}': the chooser "
                        "picks method defaults only")
    by_config: dict[str, dict] = {}
    for record in records:
        flags = {k: record.args.get(k) for k in keys}
        # What the configuration changes against the current defaults, fixed flags of the sweep included.
        changed = {k: v for k in sorted(defaults) if (v := record.args.get(k)) is not None and v != defaults[k]}
        entry = by_config.setdefault(json.dumps(flags, sort_keys=True), {"flags": flags, "changed": changed, "seeds": {}})
        unit = f"shots{record.shots}/seed{record.seed}"
        if unit in entry["seeds"]:
            raise DataError(f"{record.run_dir}: a second run of {unit} for {flags}")
        entry["seeds"][unit] = selection_score(record)
    seed_sets = {tuple(sorted(e["seeds"])) for e in by_config.values()}
    if len(seed_sets) != 1 and not partial:
        raise DataError(f"{runs_dir}: configurations ran different seeds {sorted(seed_sets)}; finish the sweep")
    table = []
    for entry in by_config.values():
        values = [entry["seeds"][s] for s in sorted(entry["seeds"])]
        table.append({"flags": entry["flags"], "changed": entry["changed"], "mean": statistics.fmean(values),
                      "std": statistics.stdev(values) if len(values) > 1 else None, "n": len(values),
                      "seeds": {s: entry["seeds"][s] for s in sorted(entry["seeds"])}})
    table.sort(key=lambda row: (-row["mean"], len(row["changed"]), json.dumps(row["flags"], sort_keys=True)))
    effects = {}
    for key in keys:
        levels: dict[str, list[float]] = {}
        for row in table:
            levels.setdefault(json.dumps(row["flags"][key]), []).extend(row["seeds"].values())
        effects[key] = {level: {"mean": statistics.fmean(v), "n": len(v)} for level, v in sorted(levels.items())}
    first = records[0]
    complete = not unfinished and len(seed_sets) == 1
    return {
        "provisional": not complete,
        "rule": "highest mean over seeds of the kept checkpoint's selection-half score; ties: fewest changed flags",
        "method": method, "task": first.task, "shots": sorted({r.shots or 0 for r in records}),
        "metric": first.primary_metric,
        "split": first.summary.get("selection_split"), "runs": len(records), "configurations": len(table),
        "chosen": table[0], "table": table, "marginal_means": effects,
    }


def reference(runs_dir: str | Path, table: list[dict]) -> dict:
    """Another method's selection-half scores on the same (shots, seed) units, and each configuration's paired
    difference from it (mean, sample std, n): how the candidates compare with, say, prompt tuning on data
    that no reported score comes from. It is printed beside the choice and never changes it."""
    records, unfinished = load_runs(runs_dir)
    if unfinished or not records:
        raise DataError(f"{runs_dir}: {len(unfinished)} unfinished and {len(records)} finished reference runs; "
                        "finish the reference sweep")
    seeds = {f"shots{r.shots}/seed{r.seed}": selection_score(r) for r in records}
    methods = sorted({r.method for r in records})
    diffs = {}
    for row in table:
        paired = [row["seeds"][unit] - seeds[unit] for unit in row["seeds"] if unit in seeds]
        diffs[json.dumps(row["changed"], sort_keys=True)] = {
            "mean": statistics.fmean(paired) if paired else None, "n": len(paired),
            "std": statistics.stdev(paired) if len(paired) > 1 else None}
    values = list(seeds.values())
    return {"methods": methods, "folder": Path(runs_dir).name, "seeds": seeds, "mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else None, "n": len(values),
            "difference_by_configuration": diffs}


def sweep_block(changed: dict[str, Any]) -> list[str]:
    """The grid entries (YAML lines, two-space indented) of the study's new-defaults conditions."""
    lines = [f"  {BEGIN} (written by scripts/choose_infoprompt_defaults.py --write-sweep)"]
    if not changed:
        lines.append("  # the current defaults scored highest: no new-defaults condition (see the paper-settings rows)")
    for ablation in (None, "no-mi"):
        if not changed:
            break
        lines += ["  - <<: *study", "    method: [infoprompt]"]
        lines += [f"    ablation: [{ablation}]"] if ablation else []
        lines += [f"    {key}: [{json.dumps(value)}]" for key, value in sorted(changed.items())]
    lines.append(f"  {END}")
    return lines


def write_sweep(path: Path, changed: dict[str, Any]) -> None:
    """Replace the marked block of the study sweep file, keeping every other line as it is."""
    lines = path.read_text(encoding="utf-8").splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip().startswith(BEGIN)]
    ends = [i for i, line in enumerate(lines) if line.strip().startswith(END)]
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        raise DataError(f"{path}: needs exactly one '{BEGIN}' line followed by one '{END}' line")
    lines[starts[0]:ends[0] + 1] = sweep_block(changed)
    atomic_write_bytes(path, ("\n".join(lines) + "\n").encode("utf-8"))


def condition(base: str, changed: dict[str, Any]) -> str:
    """A study condition as `infoprompt report --compare` names it: method[:ablation][+flag=value...]."""
    return base + "".join(f"+{key}={value}" for key, value in sorted(changed.items()))


def compare_args(chosen: dict) -> list[str]:
    """The report's paired comparisons: InfoPrompt (paper settings) and, when they differ, the new defaults,
    each against prompt tuning, WARP, IDPG and its own no-MI ablation (and the new against the paper's)."""
    pairs = [("infoprompt", other) for other in ("prompt", "warp", "idpg", "infoprompt:no-mi")]
    changed = chosen["chosen"]["changed"]
    if changed:
        new = condition("infoprompt", changed)
        pairs += [(new, other) for other in ("prompt", "warp", "idpg", "infoprompt")]
        pairs.append((new, condition("infoprompt:no-mi", changed)))
    return [arg for a, b in pairs for arg in ("--compare", f"{a},{b}")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs_dir", nargs="?")
    parser.add_argument("--out", type=Path, help="write the choice and the table here (JSON)")
    parser.add_argument("--write-sweep", type=Path, metavar="STUDY_YAML",
                        help="fill the study sweep file's chosen-defaults block with the choice")
    parser.add_argument("--partial", action="store_true",
                        help="tabulate an unfinished sweep (marked provisional); refuses --write-sweep")
    parser.add_argument("--reference", metavar="RUNS_DIR",
                        help="another method's runs on the same tuning data: tabulated beside the choice, never used by it")
    parser.add_argument("--compare-args", type=Path, metavar="CHOSEN_JSON",
                        help="only print the `infoprompt report --compare` arguments for a written choice")
    args = parser.parse_args(argv)
    if args.compare_args:
        print(" ".join(compare_args(json.loads(args.compare_args.read_text(encoding="utf-8")))))
        return 0
    if not args.runs_dir:
        parser.error("RUNS_DIR is required (unless --compare-args)")
    try:
        result = choose(args.runs_dir, partial=args.partial)
        if args.reference:
            result["reference"] = reference(args.reference, result["table"])
        if args.write_sweep and result["provisional"]:
            raise DataError(f"{args.runs_dir}: the sweep is unfinished; its table is provisional and chooses nothing")
        if args.write_sweep:
            write_sweep(args.write_sweep, result["chosen"]["changed"])
    except InfoPromptError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    text = json.dumps(result, indent=1, sort_keys=True) + "\n"
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(args.out, text.encode("utf-8"))
    ref = result.get("reference")
    if ref:
        std = f" ± {ref['std']:.4f}" if ref["std"] is not None else ""
        print(f"reference {'/'.join(ref['methods'])}: {ref['mean']:.4f}{std} (n={ref['n']}); "
              "the last column is each configuration minus it, paired by seed (mean ± sample std)")
    for row in result["table"]:
        std = f" ± {row['std']:.4f}" if row["std"] is not None else ""
        changed = json.dumps(row["changed"], sort_keys=True)
        extra = ""
        if ref and (d := ref["difference_by_configuration"][changed])["mean"] is not None:
            extra = f"   vs reference {d['mean']:+.4f}" + (f" ± {d['std']:.4f}" if d["std"] is not None else "")
        print(f"{row['mean']:.4f}{std} (n={row['n']})  {changed or '{}'}{extra}")
    if result["provisional"]:
        print("provisional: the sweep is unfinished (configurations have unequal runs); nothing is chosen")
        return 0
    print(f"chosen: {json.dumps(result['chosen']['changed'], sort_keys=True)} "
          f"(selection-half {result['metric']} {result['chosen']['mean']:.4f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
