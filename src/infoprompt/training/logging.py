"""Per-step JSONL log of every named loss term and dev metric, and the learning-curve PNG."""

from __future__ import annotations

import json
from pathlib import Path


class JsonlLog:
    """Append-only; each record is flushed so a killed run keeps its log up to the last step."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = path.open("a", encoding="utf-8")

    def write(self, record: dict) -> None:
        self._fh.write(json.dumps(record, sort_keys=True) + "\n")
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


def read_log(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def plot_learning_curve(log_path: Path, png_path: Path, metric: str, title: str = "") -> None:
    """Dev metric against step, with the training loss (running mean) on a second axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = read_log(log_path)
    evals = [r for r in records if r.get("type") == "eval"]
    trains = [r for r in records if r.get("type") == "train"]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([r["step"] for r in evals], [r["metrics"][metric] for r in evals], "o-", color="C0", label=f"dev {metric}")
    ax.set_xlabel("step")
    ax.set_ylabel(f"dev {metric}", color="C0")
    if trains:
        window = max(1, len(trains) // 50)
        losses = [r["total"] for r in trains]
        smooth = [sum(losses[max(0, i - window + 1): i + 1]) / len(losses[max(0, i - window + 1): i + 1]) for i in range(len(losses))]
        ax2 = ax.twinx()
        ax2.plot([r["step"] for r in trains], smooth, color="C1", alpha=0.7, label="train loss")
        ax2.set_ylabel("train loss (running mean)", color="C1")
    ax.set_title(title)
    fig.tight_layout()
    png_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
