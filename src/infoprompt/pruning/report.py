"""prune.json (everything), prune.md (the tables) and prune.png (dev metric against pruning ratio)."""

from __future__ import annotations

from pathlib import Path

from infoprompt.analysis.common import pyplot, save_figure
from infoprompt.atomic_files import atomic_write_bytes, atomic_write_json


def _fmt(value) -> str:
    return "—" if value is None else f"{100 * value:.2f}"


def _pm(stats: dict | None) -> str:
    return "—" if not stats else f"{100 * stats['mean']:.2f} ± {100 * stats['std']:.2f}"


def markdown(payload: dict) -> str:
    metric = payload["metric"]
    s = payload["settings"]
    lines = [
        f"# XPrompt: {payload['task']} / {payload['method']} / {payload['backbone']} (np={payload['n_prompts']})",
        "",
        f"Granularity `{s['granularity']}`, k = {s['pieces']} pieces per token, dev {metric} (×100). "
        f"Full prompt (stage 1): **{_fmt(payload['stage1']['dev'][metric])}**.",
        "",
        "| ratio | tokens kept | pieces kept | non-zero prompt params | dev before rewinding | dev after rewinding |",
        "|---|---|---|---|---|---|",
    ]
    for row in payload["ratios"]:
        after = row.get("dev_after", {}).get(metric)
        nonzero = row.get("nonzero_prompt_params_after", row["nonzero_prompt_params"])
        lines.append(f"| {row['ratio']:.2f} | {row['tokens_kept']}/{row['tokens_total']} | "
                     f"{row['pieces_kept']}/{row['pieces_total']} | {nonzero}/{row['prompt_params_total']} | "
                     f"{_fmt(row['dev_before'][metric])} | {_fmt(after)} |")
    if payload["ratios"] and payload["ratios"][0].get("prompt_kind") == "generated":
        lines += ["", "Generated prompts: the parameter columns count the generator's weights (its shared "
                  "down-projection is not reduced); the masks remove output units of every generated prompt."]
    control = ((payload.get("comparison") or {}).get("rows") or {}).get("none", {}).get("dev_after")
    if control is not None:
        lines += ["", f"Control: the full prompt, rewound and retrained on the same schedule: **{_fmt(control)}**."]
    selected = payload.get("selected")
    if selected:
        lines += ["", f"Selected on dev: ratio **{selected['ratio']:.2f}** ({selected['by']}: "
                  f"{_fmt(selected['dev'][metric])}), checkpoint `{selected['checkpoint']}`."]
    comparison = payload.get("comparison")
    if comparison and comparison.get("rows"):
        rows = comparison["rows"]
        none, neg, rnd = rows.get("none", {}), rows.get("negative", {}), rows.get("random", {})
        lines += [
            "", f"## Negative vs random token masking (paper Fig. 2), ratio {comparison['ratio']:.2f}: "
            f"{comparison['tokens_masked']} of {comparison['n_prompts']} tokens masked", "",
            "| masking | dev without retraining | dev with retraining |", "|---|---|---|",
            f"| none (full prompt; retrained = the control) | {_fmt(comparison['full'])} | {_fmt(none.get('dev_after'))} |",
            f"| lowest-importance tokens {neg.get('tokens_pruned', '')} | {_fmt(neg.get('dev_before'))} | "
            f"{_fmt(neg.get('dev_after'))} |",
            f"| random tokens ({rnd.get('seeds_done', 0)} seeds, mean ± std) | {_pm(rnd.get('dev_before'))} | "
            f"{_pm(rnd.get('dev_after'))} |",
        ]
    elif comparison and comparison.get("note"):
        lines += ["", f"Negative vs random masking: {comparison['note']}."]
    return "\n".join(lines) + "\n"


def plot(payload: dict, path: Path) -> None:
    plt = pyplot()
    metric = payload["metric"]
    rows = payload["ratios"]
    fig, ax = plt.subplots(figsize=(6, 4))
    ratios = [r["ratio"] for r in rows]
    ax.plot(ratios, [r["dev_before"][metric] for r in rows], "o--", label="pruned, before rewinding")
    done = [r for r in rows if "dev_after" in r]
    if done:
        ax.plot([r["ratio"] for r in done], [r["dev_after"][metric] for r in done], "o-", label="after rewinding")
    ax.axhline(payload["stage1"]["dev"][metric], color="grey", linestyle=":", label="full prompt")
    control = ((payload.get("comparison") or {}).get("rows") or {}).get("none", {}).get("dev_after")
    if control is not None:
        ax.axhline(control, color="black", linestyle="-.", label="full prompt, retrained")
    ax.set_xlabel(f"pruning ratio ({payload['settings']['granularity']})")
    ax.set_ylabel(f"dev {metric}")
    ax.set_title(f"XPrompt: {payload['task']} / {payload['method']} / np={payload['n_prompts']}")
    ax.legend()
    fig.tight_layout()
    save_figure(fig, path)


def write_report(out_dir: str | Path, payload: dict) -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "prune.json", payload)
    atomic_write_bytes(out / "prune.md", markdown(payload).encode("utf-8"))
    if payload["ratios"]:
        plot(payload, out / "prune.png")
