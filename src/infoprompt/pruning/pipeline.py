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
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from infoprompt.api import LoadedModel, TrainConfig, train
from infoprompt.atomic_files import atomic_write_json
from infoprompt.backbones import Backbone, load_backbone
from infoprompt.data.tasks import TaskSpec, resolve_data_dir
from infoprompt.errors import ConfigError
from infoprompt.methods import Capability, method_classes
from infoprompt.pruning.compare import compare_masking
from infoprompt.pruning.masker import prompt_parameter_counts
from infoprompt.pruning.rewind import rewind_and_retrain
from infoprompt.pruning.stage import (
    Log,
    PruneSettings,
    StageOne,
    evaluate_dev,
    ratio_name,
    restore_values,
    set_masks,
    walk_path,
)
from infoprompt.run import assemble_run, config_from_record
from infoprompt.rundir import CONFIG
from infoprompt.training.checkpoint import read_checkpoint_config, save_checkpoint


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
        if (folder / "masked" / CONFIG).is_file():
            dev = json.loads((folder / "masked" / CONFIG).read_text(encoding="utf-8"))["dev_metrics"]
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


def select(rows: list[dict], metric: str, rewound: bool) -> dict:
    """The dev-best ratio (after rewinding when it ran); ties go to the larger ratio (the smaller prompt)."""
    key = "dev_after" if rewound else "dev_before"
    best = max(rows, key=lambda r: (r[key][metric], r["ratio"]))
    return {"ratio": best["ratio"], "by": key, "dev": best[key],
            "checkpoint": best["checkpoint_rewound" if rewound else "checkpoint_masked"]}
