"""Pieces both analyses share: the embedding matrix's principal axes, inputs, and atomic output files."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import torch

from infoprompt.atomic_files import atomic_write_bytes
from infoprompt.backbones import Backbone, load_backbone
from infoprompt.data.example import Example
from infoprompt.data.sampling import sample_few_shot
from infoprompt.data.tasks import TaskSpec, load_split, resolve_data_dir
from infoprompt.errors import ConfigError


@dataclass(frozen=True)
class EmbeddingAxes:
    """Mean token embedding (D,), top-k unit principal directions (k, D) and their std (k,)."""

    mean: torch.Tensor
    directions: torch.Tensor
    std: torch.Tensor

    def project(self, points: torch.Tensor) -> torch.Tensor:
        """(..., D) embeddings -> (..., k) coordinates along the axes, offsets from the mean."""
        return (points - self.mean) @ self.directions.t()


def embedding_axes(backbone: Backbone, k: int) -> EmbeddingAxes:
    """Principal axes of the backbone's pretrained input-embedding matrix, largest variance first.

    Hand-written rather than sklearn's PCA: sklearn's exact solver runs a full SVD of the V x D
    matrix (measured 30+ s for MiniLM's 30522 x 384 on a shared CPU), its covariance solver needs
    sklearn >= 1.5, and the randomised one is not exact. The D x D covariance eigendecomposition is
    exact and takes about a second. Signs are fixed (largest |component| positive) so every run
    gets the same axes.
    """
    weight = backbone.input_embeddings.weight.detach().double()
    if not 1 <= k <= min(weight.shape):
        raise ConfigError(f"need 1 <= number of principal axes <= {min(weight.shape)}, got {k}")
    mean = weight.mean(0)
    centred = weight - mean
    cov = centred.t() @ centred / max(1, weight.shape[0] - 1)
    values, vectors = torch.linalg.eigh(cov)  # ascending
    values, vectors = values.flip(0)[:k], vectors.flip(1)[:, :k].t()
    signs = torch.sign(vectors.gather(1, vectors.abs().argmax(1, keepdim=True)))
    return EmbeddingAxes(mean=mean.float(), directions=(vectors * signs).float(), std=values.clamp(min=0).sqrt().float())


def resolve_backbone(backbone: str | Backbone | None, default: str = "minilm") -> Backbone:
    if isinstance(backbone, Backbone):
        return backbone
    return load_backbone(backbone or default)


def draw_examples(task: TaskSpec, split: str, n: int, seed: int, data_dir: str | Path | None,
                  examples: list[Example] | None = None) -> list[Example]:
    """n examples of a split, drawn with the seed (all of them when the split is smaller)."""
    if examples is None:
        examples = load_split(task, split, resolve_data_dir(data_dir) if not task.splits else None)
    if not examples:
        raise ConfigError(f"the {split} split of {task.name} is empty")
    return sample_few_shot(examples, min(n, len(examples)), seed)


def write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    atomic_write_bytes(path, buf.getvalue().encode("utf-8"))


def save_figure(fig, path: Path, dpi: int = 110) -> None:
    """Save a matplotlib figure atomically (render to memory, then one atomic write)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def pyplot():
    """matplotlib.pyplot on the non-interactive backend (analyses run headless)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
