"""One headline number (issue 26 item 5) and the model card of every run directory (item 2)."""

from __future__ import annotations

import json

from infoprompt.api import TrainConfig, train
from infoprompt.cli import describe_result
from infoprompt.export.model_card import read_card_header
from infoprompt.testing import CORPUS
from infoprompt.training.progress import LineProgress, close_at_stop


def _rows(n: int, offset: int = 0) -> list[dict]:
    return [{"sentence": f"{CORPUS[(i + offset) % len(CORPUS)]} {i}", "label": (i * 7 + offset) % 3 % 2}
            for i in range(n)]


def test_summary_leads_with_one_score_and_says_it_stopped_early(tmp_path, tiny_bert):
    cfg = TrainConfig(task="custom", method="prompt", train_data=_rows(8), dev_data=_rows(20, 3),
                      text_fields=["sentence"], epochs=30, batch_size=4, lr=1e-9, patience=1, seed=1,
                      output=str(tmp_path / "run"), progress=False, device="cpu", max_length=24)
    summary = train(cfg, backbone=tiny_bert).summary
    assert summary["stopped_early"] and summary["planned_steps"] == 60 and summary["last_step"] < 60
    first, second = describe_result(summary).splitlines()
    value = summary["reported"]["selected"]["accuracy"]
    majority = summary["reported"]["majority"]["metrics"]["accuracy"]
    assert first.startswith(f"custom / prompt: accuracy on 10 held-back dev rows: {value:.4f}, majority {majority:.4f}")
    assert f"stopped early at step {summary['last_step']} of 60: 1 evaluations without improvement" in first
    assert second.strip().startswith(f"also: full dev split at the kept step {summary['selected_step']} "
                                     f"{summary['dev']['accuracy']:.4f}")
    # the same numbers under the same names in config.json, the JSON line and the summary
    record = json.loads((tmp_path / "run" / "config.json").read_text())
    assert record["dev_metrics"] == summary["dev_metrics"] == summary["dev"]
    assert summary["headline"] == {"metric": "accuracy", "value": value, "split": "held-back dev", "rows": 10,
                                   "majority": majority, "step": summary["selected_step"]}
    # the run directory's model card: Hub format, parsed from its YAML header
    header = read_card_header(tmp_path / "run" / "README.md")
    assert header["base_model"] == tiny_bert.name and header["library_name"] == "infoprompt"
    assert "prompt" in header["tags"] and header["pipeline_tag"] == "text-classification"
    metrics = header["model-index"][0]["results"][0]["metrics"]
    assert metrics[0]["value"] == round(value, 6) and metrics[1]["value"] == round(majority, 6)
    body = (tmp_path / "run" / "README.md").read_text()
    assert "**Trainable parameters:**" in body and "Selection protocol:** `dev-split`" in body


def test_progress_closes_at_the_stop():
    bar = LineProgress(total=90, desc="train", unit="step", interval=1e9)
    bar.update(30)
    close_at_stop(bar)
    assert bar.total == bar.n == 30
