"""CMI between prompt tokens and the representation given the input (the paper's Fig. 1).

Operational definition (why: Z = Φ(P, X) is a deterministic function of the prompt, so for a
fixed prompt I(P; Z | X) is 0, and for a continuous P it is infinite; a finite, comparable number
needs a prompt distribution and a resolution on Z). For one input x and a source's prompt P₀(x):

    P = P₀(x) + τ · C · diag(σ) · U        C ~ N(0, I) of shape (np, k)
    Z̃ = readout(Φ(P, x)) / s + η · ε        ε ~ N(0, I_D)
    CMI(x) = I(P; Z̃ | X = x)   in nats

U holds the top-k principal axes of the backbone's pretrained input-embedding matrix and σ their
standard deviations, so each prompt token moves by τ token-cloud standard deviations along the
directions in which real tokens differ. s is the RMS spread over the evaluated inputs of the
prompt-free representation readout(Φ(x)), the same for every source, so η is a resolution in units
of "how much inputs differ from one another". The readout is the run's (mask, or mean-text on
MiniLM). The per-input values form the per-source distribution of the plot; their mean is
I(P; Z̃ | X). The estimator is :func:`infoprompt.analysis.mi.likelihood_bounds`: exact-likelihood
InfoNCE (lower) and leave-one-out (upper) bounds from M prompt draws per input, midpoint reported.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from infoprompt.analysis.common import (
    draw_examples,
    embedding_axes,
    pyplot,
    resolve_backbone,
    save_figure,
    write_csv,
)
from infoprompt.analysis.mi import gaussian_check, likelihood_bounds
from infoprompt.analysis.sources import (
    PromptSource,
    build_sources,
    checkpoint_backbone,
    checkpoint_data_dir,
    checkpoint_task,
)
from infoprompt.atomic_files import atomic_write_json
from infoprompt.backbones import Backbone
from infoprompt.data.example import Example
from infoprompt.data.tasks import DATA_ENV, get_task
from infoprompt.errors import ConfigError, check_settings
from infoprompt.prompting.template import Feature, collate, pad_token_id


@dataclass
class CMISettings:
    """Estimator settings; defaults are those of docs/analysis.md (validated there)."""

    inputs: int = 24  # N evaluated inputs, drawn with the seed from `split`
    samples: int = 24  # M prompt draws per input (InfoNCE ceiling log M); cost: N·M forward passes
    replicas: int = 8  # noise draws per prompt draw (cheap: no forward pass)
    directions: int = 4  # k principal axes each prompt token moves along
    tau: float = 0.5  # prompt perturbation, in token-cloud standard deviations
    eta: float = 1.0  # observation noise, in units of the inputs' representation spread
    split: str = "dev"
    seed: int = 0
    max_length: int = 128

    def validate(self) -> None:
        checks = [
            (self.inputs >= 1, f"--inputs must be >= 1, got {self.inputs}"),
            (self.samples >= 2, f"--samples must be >= 2, got {self.samples}"),
            (self.replicas >= 1, f"--replicas must be >= 1, got {self.replicas}"),
            (self.directions >= 1, f"--directions must be >= 1, got {self.directions}"),
            (self.tau >= 0, f"--tau must be >= 0, got {self.tau}"),
            (self.eta > 0, f"--eta must be > 0, got {self.eta}"),
        ]
        check_settings(checks)


@dataclass
class CMIResult:
    """Per-input bounds for each source, plus everything needed to reproduce them."""

    task: str
    backbone: str
    readout: str
    n_prompts: int
    settings: CMISettings
    sources: list[str]
    records: list[dict] = field(default_factory=list)  # source, input, lower, upper, estimate
    representation_scale: float = 0.0
    estimator_check: dict = field(default_factory=dict)
    seconds: float = 0.0

    def values(self, source: str, key: str = "estimate") -> list[float]:
        return [r[key] for r in self.records if r["source"] == source]

    def summary(self) -> dict[str, dict]:
        ceiling = math.log(self.settings.samples)
        out = {}
        for source in self.sources:
            est = self.values(source)
            out[source] = {
                "mean": statistics.fmean(est), "median": statistics.median(est),
                "std": statistics.pstdev(est), "min": min(est), "max": max(est),
                "mean_lower": statistics.fmean(self.values(source, "lower")),
                "mean_upper": statistics.fmean(self.values(source, "upper")),
                # inputs whose lower bound is within 0.5 nat of log M: raise --samples or --eta
                "near_ceiling": sum(v > ceiling - 0.5 for v in self.values(source, "lower")),
                "n": len(est),
            }
        return out

    def to_dict(self) -> dict:
        return {
            "analysis": "cmi", "task": self.task, "backbone": self.backbone, "readout": self.readout,
            "n_prompts": self.n_prompts, "settings": asdict(self.settings), "sources": self.sources,
            "representation_scale": self.representation_scale, "summary": self.summary(),
            "infonce_ceiling_nats": math.log(self.settings.samples), "estimator_check": self.estimator_check,
            "seconds": round(self.seconds, 2), "units": "nats",
        }

    def write(self, out_dir: str | Path) -> dict[str, Path]:
        """cmi.png, cmi.csv (one row per source and input) and cmi.json (settings and summary)."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {"png": out / "cmi.png", "csv": out / "cmi.csv", "json": out / "cmi.json"}
        write_csv(paths["csv"], ["source", "input", "lower", "upper", "estimate"],
                  [[r["source"], r["input"], f"{r['lower']:.6f}", f"{r['upper']:.6f}", f"{r['estimate']:.6f}"]
                   for r in self.records])
        atomic_write_json(paths["json"], self.to_dict())
        plot_cmi(self, paths["png"])
        return paths


def representation_scale(source: PromptSource, features: list[Feature]) -> float:
    """RMS over dimensions of the std over inputs of the prompt-free readout(Φ(x))."""
    method = source.method
    batch = collate(features, pad_token_id(method.backbone_info.tokenizer))
    z = method.read_prompt_free(batch, list(range(len(features)))).z  # read where the backbone's family reads Z
    if z.shape[0] < 2:
        return float(z.pow(2).mean().sqrt())  # one input: no spread to measure; use its RMS size
    return float(z.var(0, unbiased=True).mean().sqrt())


def source_cmi(source: PromptSource, features: list[Feature], perturb: torch.Tensor, scale: float,
               settings: CMISettings) -> tuple[torch.Tensor, torch.Tensor]:
    """(N,) lower and upper bounds for one source. `perturb` is the (k, D) matrix σ·U."""
    method = source.method
    pad = pad_token_id(method.backbone_info.tokenizer)
    n_prompts = method.config.n_prompts
    m, r, k = settings.samples, settings.replicas, settings.directions
    base = source.base_prompts(collate(features, pad), 0).float()
    means, observations = [], []
    for i, feature in enumerate(features):
        # Common random numbers: input i gets the same draws for every source.
        gen = torch.Generator().manual_seed(settings.seed * 1_000_003 + i)
        coeff = torch.randn(m, n_prompts, k, generator=gen)
        prompts = base[i] + settings.tau * coeff @ perturb
        z = method.encode(collate([feature] * m, pad), prompts).float() / scale
        means.append(z)
        observations.append(z + settings.eta * torch.randn(r, *z.shape, generator=gen))
    bounds = likelihood_bounds(torch.stack(observations), torch.stack(means), settings.eta)
    return bounds.lower.float(), bounds.upper.float()


def estimate_prompt_cmi(
    sources: list[str], *, task: str | None = None, data_dir: str | Path | None = None,
    backbone: str | Backbone | None = None, n_prompts: int | None = None, readout: str = "auto",
    settings: CMISettings | None = None, examples: list[Example] | None = None, progress: bool = False,
) -> CMIResult:
    """Estimate the per-input CMI of each prompt source (see the module docstring for the definition).

    sources: "random", "text:<words>", or checkpoint directories (optionally "LABEL=SPEC").
    task: needed when no checkpoint is given; else taken from the checkpoints. examples: evaluate
    on these instead of the task's `settings.split`.
    """
    started = time.perf_counter()
    settings = settings or CMISettings()
    settings.validate()
    saved_task = checkpoint_task(sources)
    if task is None and saved_task is None:
        raise ConfigError("give --task (no checkpoint among the prompt sources to take it from)")
    task_spec = saved_task if task is None or (saved_task and saved_task.name == task) else get_task(task)
    if saved_task is not None and task_spec.name != saved_task.name:
        raise ConfigError(f"--task {task} differs from the checkpoints' task '{saved_task.name}'")
    backbone_obj = resolve_backbone(backbone, checkpoint_backbone(sources) or "minilm")
    built = build_sources(sources, backbone_obj, task_spec, n_prompts=n_prompts, readout=readout,
                          max_length=settings.max_length, seed=settings.seed)
    if data_dir is None and not os.environ.get(DATA_ENV):
        data_dir = checkpoint_data_dir(sources)
    chosen = draw_examples(task_spec, settings.split, settings.inputs, settings.seed, data_dir, examples)
    axes = embedding_axes(backbone_obj, settings.directions)
    perturb = axes.std.unsqueeze(1) * axes.directions  # (k, D): σ_a · u_a
    result = CMIResult(task_spec.name, backbone_obj.name, built[0].method.readout,
                       built[0].method.config.n_prompts, settings, [s.label for s in built])
    with torch.inference_mode():
        result.representation_scale = representation_scale(built[0], built[0].template.encode(chosen))
        if not result.representation_scale > 0:
            raise ConfigError("the inputs' representations do not vary (scale 0); use more or different inputs")
        for source in built:
            t0 = time.perf_counter()
            lower, upper = source_cmi(source, source.template.encode(chosen), perturb,
                                      result.representation_scale, settings)
            for i, (lo, up) in enumerate(zip(lower.tolist(), upper.tolist())):
                result.records.append({"source": source.label, "input": i, "lower": lo, "upper": up,
                                       "estimate": (lo + up) / 2})
            if progress:
                mean = statistics.fmean(result.values(source.label))
                print(f"  {source.label}: mean CMI {mean:.3f} nats ({time.perf_counter() - t0:.0f}s)", flush=True)
    result.estimator_check = gaussian_check(samples=settings.samples, groups=max(settings.inputs, 24),
                                            replicas=settings.replicas, seed=settings.seed)
    result.seconds = time.perf_counter() - started
    return result


def plot_cmi(result: CMIResult, path: str | Path) -> None:
    """Per-source distribution of the per-input CMI (box + points), with the InfoNCE ceiling log M."""
    plt = pyplot()
    labels = result.sources
    data = [result.values(s) for s in labels]
    fig, ax = plt.subplots(figsize=(1.3 * len(labels) + 2.5, 4))
    ax.boxplot(data, showmeans=True, showfliers=False, widths=0.5)  # every point is drawn below
    for i, values in enumerate(data, start=1):
        jitter = torch.linspace(-0.12, 0.12, len(values)).tolist() if len(values) > 1 else [0.0]
        ax.scatter([i + j for j in jitter], values, s=8, alpha=0.5, color="C0", zorder=3)
    ax.axhline(math.log(result.settings.samples), ls="--", color="grey", lw=1)
    ax.text(0.55, math.log(result.settings.samples), " log M", va="bottom", fontsize=8, color="grey")
    ax.set_xticks(range(1, len(labels) + 1), labels, rotation=15)
    ax.set_ylabel("CMI  I(P; Z | X)  [nats]")
    s = result.settings
    ax.set_title(f"{result.task} / {result.backbone} / np={result.n_prompts} / readout {result.readout}\n"
                 f"τ={s.tau}, η={s.eta}, k={s.directions}, M={s.samples}, N={s.inputs} inputs", fontsize=9)
    fig.tight_layout()
    save_figure(fig, Path(path))
