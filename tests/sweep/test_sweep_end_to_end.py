"""One real sweep: `infoprompt sweep` runs `infoprompt train` in worker processes on a tiny random BERT saved to
disk and a 16-row custom task; then `infoprompt report` tabulates it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from infoprompt.report import build_report
from infoprompt.rundir import TRAIN_LOG
from infoprompt.sweep import rundir as rd
from infoprompt.testing import make_tiny_backbone

ROWS = [("a great movie", 1), ("a terrible film", 0), ("wonderful cast and fun", 1), ("boring and long", 0)]


@pytest.fixture
def tiny_task(tmp_path, bert_tokenizer):
    backbone = make_tiny_backbone("bert", bert_tokenizer)
    backbone.model.config.architectures = ["BertModel"]
    backbone.model.save_pretrained(tmp_path / "tiny-bert")
    bert_tokenizer.save_pretrained(tmp_path / "tiny-bert")
    for name, repeat in (("train", 4), ("dev", 2)):
        lines = ["sentence\tlabel"] + [f"{text}\t{label}" for text, label in ROWS * repeat]
        (tmp_path / f"{name}.tsv").write_text("\n".join(lines) + "\n")
    return tmp_path


def test_real_sweep_trains_reports_and_skips_on_rerun(tiny_task):
    config = tiny_task / "sweep.yaml"
    config.write_text(f"""\
runs_dir: {tiny_task / "runs"}
fixed:
  task: custom
  train_file: {tiny_task / "train.tsv"}
  dev_file: {tiny_task / "dev.tsv"}
  text_fields: sentence
  verbalizer: 0=terrible,1=great
  backbone: {tiny_task / "tiny-bert"}
  epochs: 2
  max_length: 32
grid:
  method: [warp]
  seed: [3]
""")
    # One run: the cost is the worker process importing torch and transformers.
    command = [sys.executable, "-m", "infoprompt.sweep.cli", str(config)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1/1 runs finished" in done.stdout
    run_dirs = sorted(p for p in (tiny_task / "runs").iterdir() if (p / rd.SPEC).is_file())
    assert [p.name[:-11] for p in run_dirs] == ["custom_warp_np4_full_seed3_epochs-2_max_length-32"]
    for run_dir in run_dirs:
        result = json.loads((run_dir / rd.RESULT).read_text())
        checkpoint = json.loads((run_dir / "config.json").read_text())
        assert result["dev"] == checkpoint["dev_metrics"] and result["method"] == "warp"
        assert (run_dir / "model.safetensors").is_file() and "$ infoprompt train" in (run_dir / TRAIN_LOG).read_text()
        evals = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines() if '"eval"' in x]
        assert [e["step"] for e in evals] == [2, 4]  # 16 rows, batch 8, 2 epochs
    report = build_report(tiny_task / "runs")
    table1 = report.tables[0]
    assert [c.label for c in table1.columns] == [f"custom:{tiny_task.name} np4"]
    cell = table1.rows[0].cells[table1.columns[0].key]
    assert table1.rows[0].label == "WARP" and cell.values == [result["dev"]["accuracy"]]
    again = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "1 already finished, 0 to run" in again.stderr
