"""The loop's evaluator: scores dev, and makes the selection protocol's keep and stop decisions.

With --eval-subsample, in-training evaluations score (and are compared on) a fixed seeded subset of
the dev rows; the last evaluation, and every evaluation whose checkpoint is kept or that stops the run
early, are scored on the full dev split too, so the kept and reported scores are full-split scores.
"""

from __future__ import annotations

import torch

from infoprompt.prompting.batches import eval_batches
from infoprompt.prompting.template import Feature
from infoprompt.training.config import TrainerConfig
from infoprompt.training.inference import predict_logits
from infoprompt.training.selection import Protocol
from infoprompt.training.state import LoopPosition


def eval_subset(n_dev: int, size: int | None, seed: int) -> list[int] | None:
    """The fixed dev rows in-training evaluations score (`--eval-subsample`): a seeded draw, in file order.
    None when there is no subsample (not asked for, or not smaller than the split)."""
    if size is None or size >= n_dev:
        return None
    generator = torch.Generator().manual_seed(seed * 1_000_003 + 7_919)
    return sorted(torch.randperm(n_dev, generator=generator)[:size].tolist())


def make_protocol(config: TrainerConfig, dev_features: list[Feature], metrics: list[str],
                  primary_metric: str) -> Protocol:
    """The run's selection protocol over its dev features (the dev-split halves are seeded by the run's seed)."""
    groups = [getattr(f, "group", None) for f in dev_features]
    return Protocol(config.select_on, config.patience, [f.label for f in dev_features], metrics, primary_metric,
                    config.seed, groups if any(groups) else None)


def compared(record: dict) -> dict:
    """The fields evaluations are compared on: the subsample's when there is one (every evaluation has it)."""
    return record.get("subset", record)


class Evaluator:
    """Scores a method on dev for the loop; `chooser` (the subsample's protocol, else `protocol`) decides."""

    def __init__(self, method, dev_features: list[Feature], metrics: list[str], primary_metric: str,
                 config: TrainerConfig, device: torch.device):
        self.method, self.features, self.config, self.device = method, dev_features, config, device
        self.primary_metric = primary_metric
        self.protocol = make_protocol(config, dev_features, metrics, primary_metric)
        self.subset = eval_subset(len(dev_features), config.eval_subsample, config.seed)  # --eval-subsample rows
        self.subset_features = None if self.subset is None else [dev_features[i] for i in self.subset]
        self.chooser = (self.protocol if self.subset is None
                        else make_protocol(config, self.subset_features, metrics, primary_metric))
        self._batches: dict[str, list] = {}  # collated once, on the first evaluation that scores them

    def _predictions(self, which: str, features: list[Feature]) -> list[int]:
        config = self.config
        if which not in self._batches:
            self._batches[which] = eval_batches(self.method, features, config.eval_batch_size, self.device)
        logits = predict_logits(self.method, features, config.eval_batch_size, self.device, config.precision,
                                self._batches[which], config.progress)
        return logits.argmax(-1).tolist()

    def full_record(self) -> dict:
        """Every dev example scored (the protocol's fields), plus the subsample's fields when there is one."""
        predictions = self._predictions("dev", self.features)
        record = self.protocol.score(predictions)
        if self.subset is not None:
            record["subset"] = self.chooser.score([predictions[i] for i in self.subset])
        return record

    def evaluate(self, pos: LoopPosition, epoch: int, final: bool) -> tuple[dict, bool]:
        """The evaluation record at `pos.step`, and whether the protocol prefers it to the kept one."""
        if self.subset is None or final:
            fields = self.full_record()
        else:
            fields = self.chooser.score(self._predictions("subset", self.subset_features))
        record = {"type": "eval", "step": pos.step, "epoch": epoch, **fields}
        if self.subset is not None:
            record["subsample"] = len(self.subset)
        kept = next((r for r in pos.history if r.get("type") == "eval" and r["step"] == pos.best_step), None)
        better = self.chooser.is_better(compared(record), compared(kept) if pos.best and kept else None)
        stops = self.should_stop([*pos.history, record])
        keeps = better and self.chooser.select_on != "last"  # under `last` only the final evaluation is kept
        if "subset" not in record and self.subset is not None and (keeps or stops):
            record = {**record, **self.full_record()}  # the subsample's fields move under "subset"
        return record, better

    def should_stop(self, history: list[dict]) -> bool:
        """Early stopping on the evaluations so far (the protocol's patience)."""
        return self.chooser.should_stop([compared(r) for r in history])

    def shown(self, record: dict) -> str:
        """The primary metric the progress bar shows for an evaluation (the compared one)."""
        return f"{compared(record)['metrics'][self.primary_metric]:.4f}"
