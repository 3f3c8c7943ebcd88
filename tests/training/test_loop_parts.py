"""The training loop's parts, each alone: plan and position, evaluator decisions, keeper, log truncation."""

from __future__ import annotations

import json
from types import SimpleNamespace

import torch

from infoprompt.prompting.template import Feature, pad_token_id
from infoprompt.training.config import TrainerConfig
from infoprompt.training.evaluator import Evaluator
from infoprompt.training.fault_injection import _last_step
from infoprompt.training.keeper import Keeper
from infoprompt.training.records import truncate_log
from infoprompt.training.state import LoopPlan, LoopPosition


def test_plan_counts_steps_per_epoch_and_max_steps():
    plan = LoopPlan.of(TrainerConfig(epochs=3, batch_size=4), 10)
    assert (plan.batches_per_epoch, plan.total_steps, plan.epochs) == (3, 9, 3)
    capped = LoopPlan.of(TrainerConfig(epochs=1, batch_size=4, grad_accum=2, max_steps=5), 10)
    assert (capped.batches_per_epoch, capped.total_steps, capped.epochs) == (2, 5, 3)
    pos = LoopPosition(step=2, batch_in_epoch=2)
    assert not plan.epoch_ends(pos) and not plan.done(pos, stopped=False) and plan.done(pos, stopped=True)
    pos.advance(0.5)
    assert (pos.step, pos.batch_in_epoch, pos.train_seconds) == (3, 3, 0.5) and plan.epoch_ends(pos)


def test_position_keeps_an_evaluation_only_when_it_is_better():
    pos = LoopPosition(step=4)
    pos.keep({"step": 4, "metrics": {"accuracy": 0.5}}, better=True)
    pos.step = 8
    pos.keep({"step": 8, "metrics": {"accuracy": 0.25}}, better=False)
    assert (pos.best, pos.best_step, len(pos.history)) == ({"accuracy": 0.5}, 4, 2)


class _Stub(torch.nn.Module):
    """Predicts the first token id of each row (mod 2), or its opposite when `flip` is set."""

    def __init__(self):
        super().__init__()
        self.backbone_info = SimpleNamespace(tokenizer=SimpleNamespace(pad_token_id=None))
        self.flip = False

    def forward(self, batch):
        guess = (batch["input_ids"][:, 0] + int(self.flip)) % 2
        return SimpleNamespace(logits=torch.nn.functional.one_hot(guess, 2).float())


def _feature(first: int, label: int) -> Feature:
    return Feature((first, 7, 8), (0, 0, 0), (-1, -1, -1), 1, (first, 7), (0, 0), 1, label)


def test_evaluator_keeps_the_better_evaluation_and_stops_after_patience():
    features = [_feature(i % 2, i % 2) for i in range(8)]
    config = TrainerConfig(select_on="dev", patience=1, progress=False, eval_batch_size=3)
    method, pos = _Stub(), LoopPosition(step=1)
    evaluator = Evaluator(method, features, ["accuracy"], "accuracy", config, torch.device("cpu"))
    record, better = evaluator.evaluate(pos, epoch=1, final=False)
    assert better and record["type"] == "eval" and record["metrics"]["accuracy"] == 1.0
    pos.keep(record, better)
    method.flip, pos.step = True, 2
    record, better = evaluator.evaluate(pos, epoch=1, final=False)
    assert not better and record["metrics"]["accuracy"] == 0.0
    pos.keep(record, better)
    assert evaluator.should_stop(pos.history) and evaluator.shown(record) == "0.0000"


def test_keeper_names_the_kept_checkpoint_only_when_it_is_on_disk(tmp_path):
    keeper = Keeper(tmp_path, None, None, None, {}, main=True, saves=True)
    assert keeper.kept_checkpoint(3).startswith("no checkpoint was saved")
    (tmp_path / "config.json").write_text("{}")
    assert keeper.kept_checkpoint(3) == f"the last good checkpoint (step 3) is kept: {tmp_path / 'config.json'}"
    assert keeper.kept_checkpoint(-1).startswith("no checkpoint was saved")


def test_truncate_log_keeps_records_up_to_the_step_byte_for_byte(tmp_path):
    log = tmp_path / "metrics.jsonl"
    lines = [json.dumps({"type": "train", "step": s, "total": 0.1 * s}) + "\n" for s in (1, 2, 3)]
    log.write_text("".join(lines) + '{"type": "train", "st')  # a torn last write
    assert _last_step(log) == 3
    truncate_log(log, 2)
    assert log.read_text() == "".join(lines[:2])
    assert _last_step(tmp_path / "missing.jsonl") == 0


def test_pad_token_id_falls_back_to_zero():
    assert pad_token_id(SimpleNamespace(pad_token_id=5)) == 5
    assert pad_token_id(SimpleNamespace(pad_token_id=None)) == 0 and pad_token_id(object()) == 0
