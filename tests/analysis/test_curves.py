"""`analyze curves` delegates to infoprompt.report.curves; here only its files and filters are checked."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

pytest.importorskip("infoprompt.report.curves", reason="infoprompt.report.curves (issue 4) is not in this tree yet")

from infoprompt.analysis import learning_curves  # noqa: E402
from infoprompt.cli import main  # noqa: E402
from infoprompt.errors import ConfigError  # noqa: E402


def _run(root: Path, method: str, seed: int, curve: list[float]) -> None:
    run_dir = root / f"sst2_{method}_seed{seed}"
    run_dir.mkdir(parents=True)
    summary = {"task": "sst2", "method": method, "seed": seed, "shots": 256, "n_prompts": 4,
               "backbone": "minilm", "dev": {"accuracy": max(curve)}}
    (run_dir / "result.json").write_text(json.dumps(summary))
    records = [{"type": "eval", "step": 10 * (i + 1), "epoch": i + 1, "metrics": {"accuracy": v}}
               for i, v in enumerate(curve)]
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


@pytest.fixture
def runs(tmp_path):
    root = tmp_path / "runs"
    _run(root, "warp", 0, [0.5, 0.6, 0.7])
    _run(root, "warp", 1, [0.5, 0.55, 0.72])
    _run(root, "infoprompt", 0, [0.6, 0.74, 0.75])
    return root


def test_files_per_condition(runs, tmp_path):
    paths = learning_curves(runs, tmp_path / "out", task="sst2")
    saved = json.loads(paths["json"].read_text())
    by_method = {members[0]["method"]: members for members in saved["conditions"].values()}
    assert {method: len(members) for method, members in by_method.items()} == {"warp": 2, "infoprompt": 1}
    infoprompt = by_method["infoprompt"][0]
    assert infoprompt["best"] == 0.75 and infoprompt["steps_to_level"] == 20  # 0.74 >= SST-2's level 0.70
    assert by_method["warp"][0]["steps_to_level"] == 30 and saved["convergence_levels"] == {"sst2": 0.7}
    assert infoprompt["auc"] == pytest.approx(((0.6 + 0.74) / 2 + (0.74 + 0.75) / 2) / 2)
    rows = list(csv.DictReader(paths["csv"].open()))
    assert len(rows) == 9 and {r["method"] for r in rows} == {"warp", "infoprompt"}
    assert paths["png"].read_bytes()[:4] == b"\x89PNG"


def test_filters_and_cli(runs, tmp_path, capsys):
    assert main(["analyze", "curves", str(runs), "--out", str(tmp_path / "w"), "--method", "warp"]) == 0
    saved = json.loads((tmp_path / "w" / "curves.json").read_text())
    assert [m["method"] for members in saved["conditions"].values() for m in members] == ["warp", "warp"]
    with pytest.raises(ConfigError, match="no finished run"):
        learning_curves(runs, tmp_path / "none", method="idpg")
    assert main(["analyze", "curves", str(runs), "--out", str(tmp_path / "x"), "--where", "oops"]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err
