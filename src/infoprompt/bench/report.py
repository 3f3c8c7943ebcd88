"""Turn one benchmark run's raw figures into ratios, acceptance checks and Markdown tables."""

from __future__ import annotations

import math

REFERENCE = "peft-prompt"  # every step, memory and evaluation figure is also shown as a ratio to this


def _by_name(configs: list[dict]) -> dict[str, dict]:
    return {c["name"]: c for c in configs if "error" not in c}


def _step(configs: dict[str, dict], name: str, length: int) -> dict | None:
    for row in configs.get(name, {}).get("steps", []):
        if row["length"] == length:
            return row
    return None


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0 or any(isinstance(x, float) and math.isnan(x) for x in (a, b)):
        return None
    return a / b


def step_rows(report: dict) -> list[dict]:
    """One row per (configuration, length), with its floor and its ratios to peft's PromptTuning."""
    configs = _by_name(report["configs"])
    rate = report["matmul_flops_per_s"]
    rows = []
    for config in report["configs"]:
        if "error" in config:
            continue
        for step in config["steps"]:
            ref = _step(configs, REFERENCE, step["length"])
            floor_ms = 1000 * step["flops"] / rate if rate else None
            rows.append({
                "name": config["name"], "length": step["length"], "tokens": step["tokens"],
                "trainable_params": config.get("trainable_params"), "step_ms": step["step_ms"],
                "vs_peft_prompt": _ratio(step["step_ms"], ref and ref["step_ms"]),
                "floor_ms": floor_ms, "x_floor": _ratio(step["step_ms"], floor_ms),
                "peak_mb": step["peak_mb"], "step_mb": step["step_mb"],
                "peak_vs_peft_prompt": _ratio(step["peak_mb"], ref and ref["peak_mb"]),
                "step_mb_vs_peft_prompt": _ratio(step["step_mb"], ref and ref["step_mb"]),
                "first_step_ms": step["first_step_ms"],
            })
    return rows


def eval_rows(report: dict) -> list[dict]:
    configs = _by_name(report["configs"])
    ref = configs.get(REFERENCE, {}).get("eval", {}).get("examples_per_s")
    return [{"name": c["name"], "examples_per_s": c["eval"]["examples_per_s"], "examples": c["eval"]["examples"],
             "batch_size": c["eval"]["batch_size"], "vs_peft_prompt": _ratio(c["eval"]["examples_per_s"], ref)}
            for c in report["configs"] if "eval" in c]


def e2e_rows(report: dict) -> list[dict]:
    runs = report.get("e2e", [])
    peft = next((r for r in runs if r["method"] == REFERENCE and "error" not in r), None)
    rows = []
    for run in runs:
        row = {k: run.get(k) for k in ("side", "method", "wall_s", "accuracy", "steps", "error", "command")}
        row["wall_vs_peft"] = _ratio(run["wall_s"], peft and peft["wall_s"]) if "error" not in run else None
        row["accuracy_minus_peft"] = (run["accuracy"] - peft["accuracy"]) if peft and "accuracy" in run else None
        # (both ratios are to the peft PromptTuning + Trainer run)
        rows.append(row)
    return rows


def acceptance(report: dict) -> list[dict]:
    """The issue's acceptance criteria, each computed from this run's own figures."""
    configs = _by_name(report["configs"])
    checks: list[dict] = []

    def check(what: str, value: float | None, limit: float, higher_is_better: bool = False) -> None:
        ok = None if value is None else (value >= limit if higher_is_better else value <= limit)
        checks.append({"check": what, "value": value, "limit": limit, "ok": ok})

    lengths = sorted({s["length"] for c in configs.values() for s in c.get("steps", [])})
    for length in lengths:
        prompt, ref, info = (_step(configs, n, length) for n in ("prompt", REFERENCE, "infoprompt"))
        check(f"step L={length}: prompt / peft-prompt", _ratio(prompt and prompt["step_ms"], ref and ref["step_ms"]), 1.0)
        check(f"step L={length}: infoprompt / prompt", _ratio(info and info["step_ms"], prompt and prompt["step_ms"]), 1.25)
        for ours, theirs in (("prompt", REFERENCE), ("infoprompt", REFERENCE), ("lora", "peft-lora")):
            a, b = _step(configs, ours, length), _step(configs, theirs, length)
            check(f"peak memory L={length}: {ours} / {theirs}", _ratio(a and a["peak_mb"], b and b["peak_mb"]), 1.0)
    for row in e2e_rows(report):
        if row["side"] == "infoprompt" and row["method"].split()[0] == "prompt":  # also "prompt --flag ..." runs
            check(f"end to end: {row['method']} wall clock / peft+Trainer", row["wall_vs_peft"], 0.7)
            check(f"end to end: {row['method']} accuracy − peft+Trainer (points)",
                  None if row["accuracy_minus_peft"] is None else 100 * row["accuracy_minus_peft"], -1.0, True)
    return checks


def summarise(report: dict) -> dict:
    """The raw report plus every derived table (what `--json` prints)."""
    return {**report, "step_table": step_rows(report), "eval_table": eval_rows(report), "e2e_table": e2e_rows(report),
            "acceptance": acceptance(report)}


def _fmt(value, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        return f"{value:,.{digits}f}"
    return str(value)


def _table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return lines


def to_markdown(summary: dict) -> str:
    """The report as Markdown: settings, step/memory table, evaluation, end to end, acceptance, notes."""
    s = summary
    lines = [
        f"## infoprompt bench ({'quick' if s['quick'] else 'full'}) on {s['device_name']}",
        "",
        f"device {s['device']}, precision {s['precision']}, torch {s['torch']}, {s['threads']} threads, "
        f"backbone {s['backbone']}, batch {s['batch_size']}; matmul peak {s['matmul_flops_per_s'] / 1e9:,.1f} GFLOP/s; "
        f"memory: {s.get('memory_method', '')}",
        "",
        "### Training step (forward + backward + AdamW), median of "
        f"{s['steps']} steps after {s['warmup']} warm-up",
        "",
    ]
    lines += _table(
        ["method", "L", "tokens", "trainable", "step ms", "× peft-prompt", "floor ms", "× floor", "peak MB",
         "Δ MB", "peak × peft-prompt"],
        [[r["name"], r["length"], r["tokens"], r["trainable_params"], r["step_ms"], r["vs_peft_prompt"], r["floor_ms"],
          r["x_floor"], r["peak_mb"], r["step_mb"], r["peak_vs_peft_prompt"]] for r in s["step_table"]],
    )
    if s["eval_table"]:
        lines += ["", "### Evaluation throughput (SST-2 dev, steady state)", ""]
        lines += _table(["method", "examples", "batch", "examples/s", "× peft-prompt"],
                        [[r["name"], r["examples"], r["batch_size"], r["examples_per_s"], r["vs_peft_prompt"]]
                         for r in s["eval_table"]])
    if s["e2e_table"]:
        e = s["e2e_settings"]
        lines += ["", f"### End to end: {e['shots']}-shot SST-2, {e['epochs']} epochs, batch {e['batch_size']}, "
                      f"lr {e['lr']}, dev evaluation every epoch", ""]
        lines += _table(["side", "method", "wall s", "× peft-prompt run", "dev accuracy", "Δ accuracy vs it (points)"],
                        [[r["side"], r["method"], r["wall_s"], r["wall_vs_peft"], r["accuracy"],
                          None if r["accuracy_minus_peft"] is None else 100 * r["accuracy_minus_peft"]]
                         for r in s["e2e_table"]])
    lines += ["", "### Acceptance", ""]
    lines += _table(["check", "value", "limit", "pass"],
                    [[c["check"], c["value"], c["limit"], {True: "yes", False: "NO", None: "–"}[c["ok"]]]
                     for c in s["acceptance"]])
    notes = [f"{c['name']}: {c['error']}" for c in s["configs"] if "error" in c]
    notes += [f"end to end {r['method']}: {r['error']}" for r in s["e2e_table"] if r.get("error")]
    notes += s.get("notes", [])
    if notes:
        lines += ["", "### Notes", ""] + [f"- {n}" for n in notes]
    if s["e2e_table"]:
        lines += ["", "Commands timed end to end:", ""] + [f"    {r['command']}" for r in s["e2e_table"]]
    return "\n".join(lines) + "\n"
