"""XPrompt end to end on a trained run: importance, iterative pruning, dev evaluation, rewinding.

    out/masks/r0.100.safetensors   the masks reached at each ratio of the path (resume points)
    out/r0.100/masked/             the pruned prompt at its post-tuning values (a loadable checkpoint)
    out/r0.100/rewound/            the same masks after rewinding + retraining (an `infoprompt train` run dir)
    out/compare/                   negative vs random token masking (paper Fig. 2), see compare.py
    out/prune.json, prune.md, prune.png   the report, rewritten after every finished step

Every step checks for its output first, so rerunning the same command after a kill skips what is
done (a killed retraining resumes from its own resume state).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from infoprompt.api import LoadedModel, TrainConfig, train
from infoprompt.backbones import Backbone, load_backbone
from infoprompt.config import resolve_device
from infoprompt.data.tasks import TaskSpec, resolve_data_dir
from infoprompt.errors import ConfigError, check_settings
from infoprompt.methods import Capability, method_classes
from infoprompt.prompting.template import Feature
from infoprompt.pruning.importance import importance_scores
from infoprompt.pruning.masker import DEFAULT_PIECES, attach_masker, prompt_parameter_counts, zero_pruned
from infoprompt.pruning.rewind import rewind_and_retrain
from infoprompt.pruning.schedule import (
    DEFAULT_SWEEP,
    check_granularity,
    check_ratio,
    lowest,
    ratio_path,
    target_counts,
)
from infoprompt.run import assemble_run, config_from_record
from infoprompt.training.checkpoint import atomic_write_json, read_checkpoint_config, save_checkpoint, save_tensors
from infoprompt.training.inference import evaluate_features

Log = Callable[[str], None]


@dataclass
class PruneSettings:
    ratios: tuple[float, ...] = DEFAULT_SWEEP  # one ratio (--ratio) or a sweep with dev selection
    granularity: str = "both"  # token | piece | both
    pieces: int = DEFAULT_PIECES
    rewind: bool = True
    step: float = 0.1  # the iterative path's grid: importance is recomputed at each of its ratios
    compare: bool = True  # the Fig. 2 experiment: lowest-importance vs random tokens
    compare_ratio: float | None = None  # default: the dev-selected ratio
    random_seeds: int = 3
    compare_retrain: bool = True
    score_batch_size: int | None = None  # default: the run's training batch size

    def validate(self) -> None:
        for ratio in self.ratios:
            check_ratio(ratio)
        check_granularity(self.granularity)
        if self.compare_ratio is not None:
            check_ratio(self.compare_ratio, "--compare-ratio")
        check_settings([
            (len(self.ratios) >= 1, "give --ratio R or --sweep R1,R2,..."),
            (self.pieces >= 1, f"--pieces must be >= 1, got {self.pieces}"),
            (0 < self.step < 1, f"--step must be in (0, 1), got {self.step}"),
            (self.random_seeds >= 1, f"--random-seeds must be >= 1, got {self.random_seeds}"),
            (self.score_batch_size is None or self.score_batch_size >= 1,
             f"--score-batch-size must be >= 1, got {self.score_batch_size}"),
        ])


@dataclass
class StageOne:
    """The trained run being pruned: its model (post-tuning values), config, data and backbone."""

    run_dir: Path
    model: LoadedModel
    cfg: TrainConfig
    train_features: list[Feature]
    dev_features: list[Feature]
    backbone: Backbone

    @property
    def method(self):
        return self.model.method

    @property
    def metric(self) -> str:
        return self.method.task.primary_metric


def check_prunable(method: str, where: str = "") -> None:
    """One line, before any work, when the method declares no prompt XPrompt can prune (Capability.PRUNABLE)."""
    if not method_classes(method)[1].capabilities & Capability.PRUNABLE:
        raise ConfigError(f"{where}method '{method}' has no soft prompt to prune (XPrompt applies to methods with "
                          "a trainable or generated prompt: prompt, warp, idpg, infoprompt)")


def load_stage_one(run_dir: str | Path, data_dir: str | None = None, backbone: Backbone | None = None) -> StageOne:
    """Rebuild a finished run through the run assembly: its checkpoint, exact training draw and dev split."""
    run_dir = Path(run_dir)
    record = read_checkpoint_config(run_dir)
    check_prunable(record["method"], f"{run_dir}: ")
    if record.get("pruning"):
        raise ConfigError(f"{run_dir}: already a pruned checkpoint; prune the stage-1 run instead")
    if not record.get("train_config"):
        raise ConfigError(f"{run_dir}/config.json: no 'train_config' (made by an older version); retrain it")
    cfg = config_from_record(record)
    if not TaskSpec.from_dict(record["task"]).splits:  # built-in task files: this folder, else the run's own
        folder = resolve_data_dir(data_dir) or (Path(record["data_dir"]) if record.get("data_dir") else None)
        cfg = replace(cfg, data_dir=str(folder) if folder else None)
    run = assemble_run(cfg, checkpoint=run_dir, backbone=backbone, splits=("train", "dev"))
    model = LoadedModel(run.method, run.template, run.record)
    return StageOne(run_dir, model, cfg, run.features["train"], run.features["dev"], run.backbone)


def train_stage_one(cfg: TrainConfig, out_dir: Path, backbone: Backbone | None = None) -> Path:
    """Stage 1 (prompt tuning) into out_dir/stage1, skipped when already finished, resumed when killed."""
    run_dir = out_dir / "stage1"
    if not (run_dir / "summary.json").is_file():
        result = train(replace(cfg, output=str(run_dir), resume=True, progress=False), backbone)
        atomic_write_json(run_dir / "summary.json", result.summary)
    return run_dir


def masks_of(masker) -> dict[str, torch.Tensor]:
    return {"token_mask": masker.token_mask.detach().cpu().clone(), "piece_mask": masker.piece_mask.detach().cpu().clone()}


def set_masks(method, masks: dict[str, torch.Tensor], zero: bool = True) -> None:
    """Put `masks` in the method's masker; `zero`: also set the pruned parameter entries to 0."""
    with torch.no_grad():
        method.prompt_masker.token_mask.copy_(masks["token_mask"])
        method.prompt_masker.piece_mask.copy_(masks["piece_mask"])
    if zero:
        zero_pruned(method, method.prompt_masker)


def prune_tokens(stage: StageOne, n_tokens: int, batch_size: int) -> list | None:
    """Mask the lowest-importance alive tokens until `n_tokens` are masked (importance at the current masks)."""
    masker = stage.method.prompt_masker
    extra = n_tokens - int((masker.token_mask == 0).sum())
    if extra <= 0:
        return None
    scores = importance_scores(stage.method, stage.train_features, "token", batch_size=batch_size,
                               seed=stage.cfg.seed, device=resolve_device(stage.cfg.device))
    chosen = lowest(scores, masker.token_mask > 0, extra).to(masker.token_mask.device)
    with torch.no_grad():
        masker.token_mask.index_fill_(0, chosen, 0.0)
    return scores.tolist()


def prune_pieces(stage: StageOne, n_pieces: int, batch_size: int) -> list | None:
    """Mask the lowest-importance alive pieces of alive tokens until `n_pieces` pieces are masked in total
    (a masked token counts as its k pieces)."""
    masker = stage.method.prompt_masker
    extra = n_pieces - int((masker.unit_mask() == 0).sum())
    if extra <= 0:
        return None
    scores = importance_scores(stage.method, stage.train_features, "piece", batch_size=batch_size,
                               seed=stage.cfg.seed, device=resolve_device(stage.cfg.device))
    chosen = lowest(scores, masker.unit_mask() > 0, extra).to(masker.piece_mask.device)
    with torch.no_grad():
        masker.piece_mask.view(-1).index_fill_(0, chosen, 0.0)
    return scores.tolist()


def evaluate_dev(stage: StageOne) -> dict[str, float]:
    """Dev metrics of the method as it is now, computed as `infoprompt evaluate` computes them on its checkpoint."""
    method = stage.method
    if Capability.RUN_STATE in method.capabilities:
        method.clear_run_state()  # a loaded checkpoint starts with an empty prompt-free cache: so must this score
    batch_size = stage.model.record.get("eval_batch_size", 64)
    return evaluate_features(method, stage.dev_features, method.task.metrics, batch_size, resolve_device(stage.cfg.device))


def save_masked(stage: StageOne, directory: Path, dev: dict[str, float], pruning: dict) -> None:
    """The pruned prompt at its post-tuning values, as a checkpoint `infoprompt evaluate` can score."""
    keep = ("template", "backbone_dropout", "eval_batch_size", "data_dir", "train_config", "step")
    meta = {k: stage.model.record[k] for k in keep if k in stage.model.record}
    save_checkpoint(directory, stage.method, {**meta, "dev_metrics": dev, "pruning": pruning})


def pruning_record(stage: StageOne, ratio: float, granularity: str, rewound: bool) -> dict:
    method = stage.method
    return {"pieces": method.prompt_masker.pieces, "granularity": granularity, "ratio": ratio, "rewound": rewound,
            "source": str(stage.run_dir), **method.prompt_masker.summary(),
            **prompt_parameter_counts(method, method.prompt_masker)}


def ratio_name(ratio: float) -> str:
    return f"r{ratio:.3f}"


def walk_path(stage: StageOne, out_dir: Path, settings: PruneSettings, granularity: str, tag: str,
              batch_size: int, log: Log) -> dict[float, dict[str, torch.Tensor]]:
    """Prune iteratively along the ratio path from all-ones masks; returns the masks of every requested ratio.

    `token` and `piece`: one nested path, importance recomputed at every grid point. `both`: the token
    level walks the nested path; at each requested ratio the pieces of its surviving tokens are then
    pruned (one importance pass) to the ratio's exact count, and the path goes on from the token-level
    masks, so a token pruned later never carries pieces pruned earlier (which would overshoot the count).
    Saved under out_dir/masks/<tag>/ (the path's state last: it is the resume point).
    """
    method = stage.method
    masker = attach_masker(method, settings.pieces)
    targets = {round(r, 6) for r in settings.ratios}
    reached: dict[float, dict[str, torch.Tensor]] = {}
    folder = out_dir / "masks" / tag
    for ratio in ratio_path(list(settings.ratios), settings.step):
        state_file = folder / f"{ratio_name(ratio)}.safetensors"
        target_file = folder / f"{ratio_name(ratio)}.target.safetensors"
        if state_file.is_file():
            set_masks(method, _read_masks(state_file), zero=False)
            if ratio in targets:
                reached[ratio] = _read_masks(target_file)
            continue
        start = time.perf_counter()
        n_tokens, n_pieces = target_counts(ratio, masker.n_prompts, masker.pieces, granularity)
        scores = {"token": prune_tokens(stage, n_tokens, batch_size)}
        if granularity != "both":
            scores["piece"] = prune_pieces(stage, n_pieces, batch_size)
        state = masks_of(masker)
        if ratio in targets:
            if granularity == "both":
                scores["piece"] = prune_pieces(stage, n_pieces, batch_size)
                reached[ratio] = masks_of(masker)
                set_masks(method, state, zero=False)
            else:
                reached[ratio] = state
            save_tensors(target_file, reached[ratio])
        atomic_write_json(state_file.with_suffix(".json"), {"ratio": ratio, "importance": scores})
        save_tensors(state_file, state)
        shown = reached.get(ratio, state)
        log(f"pruned to {ratio:.2f} ({granularity}): {int(shown['token_mask'].sum())} tokens, "
            f"{int((shown['token_mask'].unsqueeze(1) * shown['piece_mask']).sum())} pieces kept "
            f"in {time.perf_counter() - start:.1f}s")
    return reached


def _read_masks(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path))


@dataclass
class PruneReport:
    out_dir: Path
    payload: dict = field(default_factory=dict)

    def write(self) -> None:
        from infoprompt.pruning.report import write_report

        write_report(self.out_dir, self.payload)


def prune(run_dir: str | Path | None, out_dir: str | Path, settings: PruneSettings | None = None, *,
          train_config: TrainConfig | None = None, data_dir: str | None = None, backbone: Backbone | None = None,
          log: Log = lambda message: None) -> PruneReport:
    """XPrompt on a trained run (or on one trained first from `train_config`); see the module docstring."""
    settings = settings or PruneSettings()
    settings.validate()
    settings = replace(settings, ratios=tuple(sorted({round(r, 6) for r in settings.ratios})))
    if (run_dir is None) == (train_config is None):
        raise ConfigError("give either a trained run directory (--run) or a training config (--task ...), not both")
    out_dir = Path(out_dir)
    started = time.perf_counter()
    if train_config is not None:
        check_prunable(train_config.method)
        backbone = backbone or load_backbone(train_config.backbone, dropout=train_config.backbone_dropout)
        log("stage 1: prompt tuning")
        run_dir = train_stage_one(train_config, out_dir, backbone)
    stage = load_stage_one(run_dir, data_dir, backbone)
    method = stage.method
    batch_size = settings.score_batch_size or stage.cfg.batch_size
    full = stage.model.record["dev_metrics"]
    report = PruneReport(out_dir, {
        "task": method.task.name, "method": stage.model.record["method"], "backbone": stage.cfg.backbone,
        "n_prompts": method.config.n_prompts, "hidden": method.hidden_size, "metric": stage.metric,
        "settings": asdict(settings), "stage1": {"run_dir": str(stage.run_dir), "dev": full,
                                                 "train_config": stage.model.record["train_config"]},
        "ratios": [], "selected": None, "comparison": None,
    })
    reached = walk_path(stage, out_dir, settings, settings.granularity, settings.granularity, batch_size, log)
    post = {k: v.clone() for k, v in method.trainable_state_dict().items() if not k.startswith("prompt_masker.")}
    rows = []
    for ratio in sorted(settings.ratios):
        set_masks(method, reached[ratio])
        folder = out_dir / ratio_name(ratio)
        record = pruning_record(stage, ratio, settings.granularity, rewound=False)
        if (folder / "masked" / "config.json").is_file():
            dev = json.loads((folder / "masked" / "config.json").read_text(encoding="utf-8"))["dev_metrics"]
        else:
            dev = evaluate_dev(stage)
            save_masked(stage, folder / "masked", dev, record)
        rows.append({"ratio": ratio, **{k: v for k, v in record.items() if k not in ("source", "rewound")},
                     "dev_before": dev, "checkpoint_masked": str(folder / "masked")})
        restore_values(method, post)
        log(f"ratio {ratio:.2f}: dev {stage.metric} before rewinding {dev[stage.metric]:.4f}")
    report.payload["ratios"] = rows
    report.write()
    if settings.rewind:
        for row in rows:
            pruning = {k: row[k] for k in ("pieces", "granularity", "ratio")} | {"source": str(stage.run_dir)}
            summary = rewind_and_retrain(stage.cfg, post, reached[row["ratio"]], pruning,
                                         out_dir / ratio_name(row["ratio"]) / "rewound", stage.backbone)
            row["dev_after"] = summary["dev"]
            row["checkpoint_rewound"] = summary["checkpoint"]
            row["nonzero_prompt_params_after"] = summary["nonzero_prompt_params"]
            log(f"ratio {row['ratio']:.2f}: dev {stage.metric} after rewinding {summary['dev'][stage.metric]:.4f}")
            report.write()
    report.payload["selected"] = select(rows, stage.metric, settings.rewind)
    report.write()
    if settings.compare:
        from infoprompt.pruning.compare import compare_masking

        def partial(result: dict) -> None:
            report.payload["comparison"] = result
            report.write()

        ratio = settings.compare_ratio or report.payload["selected"]["ratio"]
        token_level = settings.granularity == "token"
        partial(compare_masking(stage, out_dir / "compare", settings, ratio, post, batch_size,
                                reached if token_level else None,
                                out_dir / ratio_name(ratio) / "rewound" if token_level else None,
                                on_progress=partial, log=log))
    report.payload["seconds"] = round(time.perf_counter() - started, 1)
    report.write()
    return report


def restore_values(method, post: dict[str, torch.Tensor]) -> None:
    live = dict(method.named_parameters())
    with torch.no_grad():
        for name, value in post.items():
            if name in live:
                live[name].copy_(value)


def select(rows: list[dict], metric: str, rewound: bool) -> dict:
    """The dev-best ratio (after rewinding when it ran); ties go to the larger ratio (the smaller prompt)."""
    key = "dev_after" if rewound else "dev_before"
    best = max(rows, key=lambda r: (r[key][metric], r["ratio"]))
    return {"ratio": best["ratio"], "by": key, "dev": best[key],
            "checkpoint": best["checkpoint_rewound" if rewound else "checkpoint_masked"]}
