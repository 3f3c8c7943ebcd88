"""Loss landscape of one prompt token in the embedding matrix's top-2 principal plane (the paper's Fig. 2).

Protocol (spec "Analyses" 2; the paper's section 6.1):
- one prompt token (np = 1) in the WARP template, InfoPrompt with β = 0.1;
- the plane: mean token embedding + a·σ1·u1 + b·σ2·u2, u1/u2 the top-2 principal axes of the
  backbone's pretrained input-embedding matrix and σ1/σ2 their standard deviations; a, b on a
  grid of ±extent (1.5). Units: by default each axis's std (`units="std"`), so the grid covers the
  cloud of real token embeddings on any backbone; `units="raw"` takes a, b in raw embedding units
  (σ = 1), the paper's reading for RoBERTa-large, which on MiniLM (σ ≈ 0.15, token norms ≈ 1.1)
  spans ±10 std and shows mostly off-vocabulary space. When a trajectory leaves the grid, the
  extent grows to 1.1 × its largest coordinate (the extent used is in the JSON);
- at each grid point every input gets that token as its prompt, and the task loss (cross-entropy)
  and the representation loss (InfoNCE for I(P; Z | X), unclamped) are averaged over `examples`
  random training examples. The other parameters (head, bottleneck, critics) are those of the
  reference run (the first γ) after its `steps` steps. Losses come from the method's own forward in
  training mode with a fixed random seed at every grid point (common random numbers), so the
  sampled latents do not add noise between neighbouring points;
- two short runs from the same initialisation, one per γ (default 0.05 and 0), each recording its
  prompt token (the mean over the same examples: InfoPrompt's prompts depend on the input) after
  every step; the trajectories are projected onto the same plane and overlaid, a star at step 0.
The runs use a loop of their own (AdamW, gradient clipping at 1.0, constant lr: the trainer's
defaults) that calls `method(batch).total()`, so training/loop.py is untouched.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from infoprompt.analysis.common import (
    draw_examples,
    embedding_axes,
    pyplot,
    resolve_backbone,
    save_figure,
    write_csv,
)
from infoprompt.atomic_files import atomic_write_json
from infoprompt.backbones import Backbone
from infoprompt.data.example import Example
from infoprompt.data.sampling import sample_few_shot
from infoprompt.data.tasks import get_task, load_split, resolve_data_dir
from infoprompt.errors import check_settings
from infoprompt.methods import PromptMethod
from infoprompt.prompting.template import Feature, collate, pad_token_id
from infoprompt.run import assemble_run

LOSS_NAMES = {"pred": "task loss", "rep": "representation loss"}


@dataclass
class LandscapeSettings:
    gammas: tuple[float, ...] = (0.05, 0.0)
    beta: float = 0.1
    steps: int = 50  # trajectory length (the paper shows 500; see docs/analysis.md for the cost)
    grid: int = 11  # points per axis
    extent: float = 1.5
    units: str = "std"  # std | raw
    examples: int = 20
    shots: int | None = 256  # training pool for the short runs (a seeded few-shot draw); None: all
    batch_size: int = 8
    lr: float = 1e-3
    seed: int = 0
    max_length: int = 128

    def validate(self) -> None:
        checks = [
            (len(self.gammas) >= 1, "give at least one γ (--gammas)"),
            (all(g >= 0 for g in self.gammas), f"--gammas must be >= 0, got {list(self.gammas)}"),
            (self.beta > 0, f"--beta must be > 0 (the representation loss is part of the picture), got {self.beta}"),
            (self.steps >= 0, f"--steps must be >= 0, got {self.steps}"),
            (self.grid >= 2, f"--grid must be >= 2, got {self.grid}"),
            (self.extent > 0, f"--extent must be > 0, got {self.extent}"),
            (self.units in ("raw", "std"), f"--units must be raw or std, got '{self.units}'"),
            (self.examples >= 1, f"--examples must be >= 1, got {self.examples}"),
            (self.shots is None or self.shots >= 1, f"--shots must be >= 1, got {self.shots}"),
            (self.batch_size >= 1, f"--batch-size must be >= 1, got {self.batch_size}"),
            (self.lr > 0, f"--lr must be > 0, got {self.lr}"),
        ]
        check_settings(checks)


@dataclass
class Trajectory:
    gamma: float
    coords: list[tuple[float, float]]  # step 0..steps, in plane units
    losses: list[dict[str, float]] = field(default_factory=list)  # per training step


@dataclass
class LandscapeResult:
    task: str
    backbone: str
    readout: str
    settings: LandscapeSettings
    axis: list[float]  # grid coordinates along each axis, in plane units
    surfaces: dict[str, list[list[float]]]  # loss name -> [row b][column a]
    trajectories: list[Trajectory]
    axis_std: list[float]
    extent: float = 0.0  # the extent used (>= settings.extent; grown to fit the trajectories)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {
            "analysis": "landscape", "task": self.task, "backbone": self.backbone, "readout": self.readout,
            "settings": asdict(self.settings), "axis": self.axis, "axis_std": self.axis_std, "extent": self.extent,
            "surfaces": self.surfaces, "seconds": round(self.seconds, 2),
            "trajectories": [asdict(t) for t in self.trajectories],
        }

    def write(self, out_dir: str | Path) -> dict[str, Path]:
        """landscape.png, landscape.json (grid, surfaces, trajectories), landscape.csv (a, b, losses)."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {"png": out / "landscape.png", "json": out / "landscape.json", "csv": out / "landscape.csv"}
        names = list(self.surfaces)
        rows = [[f"{a:.4f}", f"{b:.4f}", *(f"{self.surfaces[n][j][i]:.6f}" for n in names)]
                for j, b in enumerate(self.axis) for i, a in enumerate(self.axis)]
        write_csv(paths["csv"], ["pc1", "pc2", *names], rows)
        atomic_write_json(paths["json"], self.to_dict())
        plot_landscape(self, paths["png"])
        return paths


class _FixedPrompt(nn.Module):
    """Stands in the method's prompt seam (`prompt_masker`): every input gets `value` (np, D)."""

    def __init__(self, value: torch.Tensor):
        super().__init__()
        self.value = value  # a plain attribute, not a buffer: never part of a state dict

    def forward(self, prompts: torch.Tensor) -> torch.Tensor:
        return self.value.to(prompts.dtype).expand_as(prompts)


@contextlib.contextmanager
def fixed_prompt(method: PromptMethod, value: torch.Tensor):
    """Temporarily replace every prompt the method produces by `value`."""
    previous = method.prompt_masker
    method.prompt_masker = _FixedPrompt(value)
    try:
        yield
    finally:
        method.prompt_masker = previous


@contextlib.contextmanager
def unclamped(method: PromptMethod):
    """The NCE clamp bounds the training gradient; the landscape shows the loss itself."""
    config = method.config
    saved = getattr(config, "nce_clamp_mode", None)
    if saved is not None:
        config.nce_clamp_mode = "none"
    try:
        yield
    finally:
        if saved is not None:
            config.nce_clamp_mode = saved


def mean_prompt(method: PromptMethod, batch: dict) -> torch.Tensor:
    """(np, D): the prompt tokens averaged over the batch's inputs."""
    with torch.no_grad():
        return method.prompts(batch).mean(0).float()


def evaluate_losses(method: PromptMethod, batch: dict, value: torch.Tensor, seed: int) -> dict[str, float]:
    """The method's loss terms on `batch` with every prompt replaced by `value`, at a fixed seed."""
    was_training = method.training
    method.train()
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=[]), fixed_prompt(method, value), unclamped(method):
            torch.manual_seed(seed)
            out = method(batch)
        return {name: float(loss) for name, loss in out.losses.items() if name in LOSS_NAMES}
    finally:
        method.train(was_training)


def train_short_run(method: PromptMethod, features: list[Feature], probe: dict, settings: LandscapeSettings,
                    project) -> Trajectory:
    """`settings.steps` AdamW steps; returns the probe-mean prompt token after every step."""
    pad = pad_token_id(method.backbone_info.tokenizer)
    params = [p for p in method.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=settings.lr, weight_decay=0.0)
    order_gen = torch.Generator().manual_seed(settings.seed)
    trajectory = Trajectory(getattr(method.config, "gamma", 0.0), [project(mean_prompt(method, probe)[0])])
    order: list[int] = []
    method.train()
    torch.manual_seed(settings.seed)  # the loss's own sampling (latents, negatives)
    for _ in range(settings.steps):
        if len(order) < settings.batch_size:
            order += torch.randperm(len(features), generator=order_gen).tolist()
        rows, order = order[:settings.batch_size], order[settings.batch_size:]
        out = method(collate([features[i] for i in rows], pad))
        loss = out.total()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        trajectory.losses.append({k: float(v.detach()) for k, v in out.losses.items()})
        trajectory.coords.append(project(mean_prompt(method, probe)[0]))
    return trajectory


def loss_landscape(
    task: str = "sst2", *, data_dir: str | Path | None = None, backbone: str | Backbone | None = None,
    settings: LandscapeSettings | None = None, train_examples: list[Example] | None = None,
    progress: bool = False,
) -> LandscapeResult:
    """Train one short InfoPrompt run per γ, then map task and representation loss over the plane."""
    from infoprompt.api import TrainConfig

    started = time.perf_counter()
    settings = settings or LandscapeSettings()
    settings.validate()
    task_spec = get_task(task)
    backbone_obj = resolve_backbone(backbone)
    if train_examples is None:
        train_examples = load_split(task_spec, "train", resolve_data_dir(data_dir))
    if settings.shots is not None and settings.shots < len(train_examples):
        train_examples = sample_few_shot(train_examples, settings.shots, settings.seed)
    probe_examples = draw_examples(task_spec, "train", settings.examples, settings.seed, None, train_examples)
    axes = embedding_axes(backbone_obj, 2)
    unit = axes.std if settings.units == "std" else torch.ones(2)

    def project(token: torch.Tensor) -> tuple[float, float]:
        a, b = (axes.project(token) / unit).tolist()
        return (a, b)

    runs, features, probe = [], None, None
    for gamma in settings.gammas:
        t0 = time.perf_counter()
        run = assemble_run(TrainConfig(  # seeded with settings.seed: the same initialisation for every γ
            task=task_spec.name, method="infoprompt", backbone=backbone_obj.name, n_prompts=1, seed=settings.seed,
            max_length=settings.max_length,
            method_options={"beta": settings.beta, "gamma": gamma, "layout": "warp"}),
            backbone=backbone_obj, task=task_spec, splits=())
        if features is None:  # every γ has the same template (one warp-layout prompt token)
            features = run.template.encode(train_examples)
            probe = collate(run.template.encode(probe_examples), run.template.pad_id)
        runs.append((run.method, train_short_run(run.method, features, probe, settings, project)))
        if progress:
            print(f"  run γ={gamma}: {settings.steps} steps ({time.perf_counter() - t0:.0f}s)", flush=True)
    reference = runs[0][0]
    reach = max(abs(c) for _, t in runs for point in t.coords for c in point)
    extent = max(settings.extent, 1.1 * reach)
    axis = torch.linspace(-extent, extent, settings.grid)
    surfaces: dict[str, list[list[float]]] = {}
    t0 = time.perf_counter()
    for j, b in enumerate(axis.tolist()):
        for i, a in enumerate(axis.tolist()):
            token = axes.mean + a * unit[0] * axes.directions[0] + b * unit[1] * axes.directions[1]
            losses = evaluate_losses(reference, probe, token.unsqueeze(0), settings.seed)
            for name, value in losses.items():
                surfaces.setdefault(name, [[0.0] * settings.grid for _ in range(settings.grid)])[j][i] = value
    if progress:
        print(f"  grid {settings.grid}x{settings.grid}: {time.perf_counter() - t0:.0f}s", flush=True)
    return LandscapeResult(task_spec.name, backbone_obj.name, reference.readout, settings, axis.tolist(), surfaces,
                           [t for _, t in runs], axes.std.tolist(), extent, time.perf_counter() - started)


def plot_landscape(result: LandscapeResult, path: str | Path) -> None:
    """One contour panel per loss, trajectories overlaid (star: start, dot: end)."""
    plt = pyplot()
    names = [n for n in LOSS_NAMES if n in result.surfaces]
    fig, axes = plt.subplots(1, len(names), figsize=(5.2 * len(names), 4.6), squeeze=False)
    grid = result.axis
    unit = "raw embedding units" if result.settings.units == "raw" else "axis std"
    colours = ["tab:green", "tab:purple", "tab:orange", "tab:blue"]
    for ax, name in zip(axes[0], names):
        filled = ax.contourf(grid, grid, result.surfaces[name], levels=20, cmap="viridis")
        ax.contour(grid, grid, result.surfaces[name], levels=10, colors="white", linewidths=0.4, alpha=0.6)
        fig.colorbar(filled, ax=ax)
        for k, traj in enumerate(result.trajectories):
            xs, ys = zip(*traj.coords)
            colour = colours[k % len(colours)]
            ax.plot(xs, ys, "-", color=colour, lw=1.5, label=f"γ = {traj.gamma:g}")
            ax.plot(xs[0], ys[0], "*", color=colour, ms=14, mec="black")
            ax.plot(xs[-1], ys[-1], "o", color=colour, ms=5, mec="black")
        ax.set_xlim(grid[0], grid[-1])
        ax.set_ylim(grid[0], grid[-1])
        ax.set_xlabel(f"principal component 1 ({unit})")
        ax.set_ylabel(f"principal component 2 ({unit})")
        ax.set_title(f"{LOSS_NAMES[name]} (β = {result.settings.beta:g})")
        ax.legend(loc="upper right", fontsize=8)
    s = result.settings
    fig.suptitle(f"{result.task} / {result.backbone} / readout {result.readout}: one prompt token, "
                 f"mean over {s.examples} training examples, first {s.steps} steps", fontsize=10)
    fig.tight_layout()
    save_figure(fig, Path(path))
