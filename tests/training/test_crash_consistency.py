"""Issue 25: a save is one atomic step. A kill at any write boundary of a checkpoint save or a resume-state
save leaves a complete, loadable pair (the previous one, or the new one once its record is committed);
the backbone fingerprint covers every weight and the tokenizer; a sealed resume record refuses edits."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from infoprompt.data.tasks import get_task
from infoprompt.errors import CheckpointError
from infoprompt.methods import build_method
from infoprompt.testing import load_checkpoint, make_tiny_backbone
from infoprompt.training.checkpoint import read_checkpoint_config, save_checkpoint, seal_record
from infoprompt.training.resume import load_training_state, save_training_state
from infoprompt.training.state import LoopPosition

META = {"template": {"max_length": 64, "layout": "warp"}, "eval_batch_size": 4}


def _method(backbone, shift: float):
    torch.manual_seed(0)
    method = build_method("warp", backbone, get_task("sst2"), {"n_prompts": 3})
    with torch.no_grad():
        for p in method.parameters():
            if p.requires_grad:
                p.add_(shift)
    return method.eval()


def _trainable(method) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in method.trainable_state_dict().items()}


class Snapshots:
    """Copies of a folder taken at every write boundary (before and after each create, rename, fsync and
    unlink): each is the folder as a SIGKILL at that instant would leave it, temporary files included."""

    def __init__(self, monkeypatch, folder: Path, out: Path):
        self.folder, self.out, self.taken = folder, out, []
        for name in ("replace", "rename", "unlink", "fsync"):
            real = getattr(os, name)
            monkeypatch.setattr(os, name, self._around(real))

    def _around(self, real):
        def call(*args, **kwargs):
            self.take()
            try:
                return real(*args, **kwargs)
            finally:
                self.take()
        return call

    def take(self) -> None:
        target = self.out / f"kill{len(self.taken):03d}"
        shutil.copytree(self.folder, target, symlinks=True)
        self.taken.append(target)


def test_a_kill_at_every_write_boundary_of_a_checkpoint_save_leaves_a_loadable_checkpoint(tmp_path, tiny_bert,
                                                                                         monkeypatch):
    run = tmp_path / "run"
    old, new = _method(tiny_bert, 0.1), _method(tiny_bert, 0.2)
    save_checkpoint(run, old, {**META, "step": 1})
    with monkeypatch.context() as patch:
        snaps = Snapshots(patch, run, tmp_path / "snaps")
        save_checkpoint(run, new, {**META, "step": 2})
    assert len(snaps.taken) >= 8
    seen = set()
    for snap in snaps.taken:
        method, record = load_checkpoint(snap, tiny_bert)
        expected = {1: _trainable(old), 2: _trainable(new)}[record["step"]]
        got = method.trainable_state_dict()
        assert all(torch.equal(got[k], expected[k]) for k in expected), (snap.name, record["step"])
        seen.add(record["step"])
    assert seen == {1, 2}  # the kills landed before and after the commit point
    assert not (run / ".pending").exists()


def test_a_kill_at_every_write_boundary_of_a_resume_save_leaves_a_resumable_state(tmp_path, tiny_bert, monkeypatch):
    run = tmp_path / "run"
    method = _method(tiny_bert, 0.1)
    optimizer = torch.optim.AdamW([p for p in method.parameters() if p.requires_grad], lr=0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0)
    config = {"seed": 1}
    save_training_state(run, method, optimizer, scheduler, LoopPosition(step=3), config)
    with torch.no_grad():
        for p in method.parameters():
            if p.requires_grad:
                p.add_(1.0)
    with monkeypatch.context() as patch:
        snaps = Snapshots(patch, run, tmp_path / "snaps")
        save_training_state(run, method, optimizer, scheduler, LoopPosition(step=7), config)
    steps = {load_training_state(snap, method, optimizer, scheduler, config).step for snap in snaps.taken}
    assert steps == {3, 7}


def test_a_full_disk_during_a_save_keeps_the_previous_checkpoint(tmp_path, tiny_bert, monkeypatch):
    run = tmp_path / "run"
    save_checkpoint(run, _method(tiny_bert, 0.1), {**META, "step": 1})
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}

    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", full)
        with pytest.raises(OSError, match="No space left"):
            save_checkpoint(run, _method(tiny_bert, 0.2), {**META, "step": 2})
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before
    assert load_checkpoint(run, tiny_bert)[1]["step"] == 1


def test_an_edited_sealed_resume_record_is_refused(tmp_path, tiny_bert):
    method = _method(tiny_bert, 0.1)
    optimizer = torch.optim.AdamW([p for p in method.parameters() if p.requires_grad], lr=0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0)
    save_training_state(tmp_path, method, optimizer, scheduler, LoopPosition(step=3, best={"accuracy": 0.55}), {})
    path = tmp_path / "resume" / "state.json"
    state = json.loads(path.read_text())
    state["position"]["best"] = {"accuracy": 0.99}
    path.write_text(json.dumps(state))
    with pytest.raises(CheckpointError, match="record_sha256"):
        load_training_state(tmp_path, method, optimizer, scheduler, {})


def test_same_shapes_other_weights_or_tokenizer_are_refused_and_old_records_still_load(tmp_path, tiny_bert,
                                                                                      bert_tokenizer,
                                                                                      roberta_tokenizer):
    save_checkpoint(tmp_path, _method(tiny_bert, 0.1), META)
    twin = make_tiny_backbone("bert", bert_tokenizer)
    with torch.no_grad():  # same first 64 embedding rows (the old digest), one deeper weight changed
        next(p for n, p in twin.model.named_parameters() if "encoder" in n).add_(1e-3)
    from infoprompt.backbones import Backbone

    twin = Backbone(twin.name, twin.model, twin.tokenizer, twin.has_mlm_head, twin.family)
    with pytest.raises(CheckpointError, match="its weights are not the same"):
        load_checkpoint(tmp_path, twin)
    other_tok = Backbone(tiny_bert.name, tiny_bert.model, roberta_tokenizer, tiny_bert.has_mlm_head, tiny_bert.family)
    if other_tok.vocab_size == tiny_bert.vocab_size:  # same vocabulary size, other tokens
        with pytest.raises(CheckpointError, match="tokenizer is not the same"):
            load_checkpoint(tmp_path, other_tok)
    record = json.loads((tmp_path / "config.json").read_text())
    for key in ("weights_digest", "tokenizer_digest"):  # as written before issue 25
        del record["backbone"][key]
    (tmp_path / "config.json").write_text(json.dumps(seal_record(record)))
    assert read_checkpoint_config(tmp_path)["backbone"].get("weights_digest") is None
    load_checkpoint(tmp_path, tiny_bert)  # the old fingerprint, checked as it was
    with pytest.raises(CheckpointError, match="embedding_digest"):
        load_checkpoint(tmp_path, make_tiny_backbone("bert", bert_tokenizer, seed=1))
