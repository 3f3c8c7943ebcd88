"""scripts/cmi_study.py: per-seed CMI summaries become a table over seeds and seed-paired differences."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("cmi_study", ROOT / "scripts/cmi_study.py")
cmi_study = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cmi_study)


def fake_seed(out: Path, seed: int, means: dict[str, float]) -> None:
    folder = out / f"seed{seed}"
    folder.mkdir(parents=True)
    (folder / "cmi.json").write_text(json.dumps({"summary": {s: {"mean": m} for s, m in means.items()}}))


def test_the_table_is_over_seeds_and_the_differences_are_paired(tmp_path, capsys):
    out = tmp_path / "cmi"
    fake_seed(out, 0, {"random": 2.0, "WARP": 1.0, "InfoPrompt": 1.2, "InfoPrompt no-MI": 1.1})
    fake_seed(out, 1, {"random": 2.2, "WARP": 1.4, "InfoPrompt": 1.5, "InfoPrompt no-MI": 1.5})
    fake_seed(out, 2, {"random": 1.8, "WARP": 0.6, "InfoPrompt": 0.9, "InfoPrompt no-MI": 0.7})
    result = cmi_study.tabulate(out)
    assert result["ranking"] == ["random", "InfoPrompt", "InfoPrompt no-MI", "WARP"]
    assert result["sources"]["WARP"]["mean"] == pytest.approx(1.0) and result["sources"]["WARP"]["n"] == 3
    pair = result["paired"]["InfoPrompt - WARP"]
    assert pair["mean"] == pytest.approx(0.2) and pair["std"] == pytest.approx(0.1)
    assert pair["ci95"][0] == pytest.approx(0.2 - 4.302653 * 0.1 / 3**0.5, abs=1e-6)
    assert cmi_study.main(["--from", str(out)]) == 0
    assert "| InfoPrompt - WARP | +0.200 ± 0.100 |" in capsys.readouterr().out
    assert json.loads((out / "summary.json").read_text())["seeds"] == [0, 1, 2]
    assert cmi_study.main(["--from", str(tmp_path / "empty")]) == 2


def test_checkpoints_are_found_by_method_ablation_and_seed(tmp_path):
    for name, args, done in [("a", {"method": "warp", "seed": 0}, True),
                             ("b", {"method": "infoprompt", "ablation": "no-mi", "seed": 0}, True),
                             ("c", {"method": "infoprompt", "ablation": "none", "seed": 1}, False),
                             ("d", {"method": "prompt", "seed": 0}, True)]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "run.json").write_text(json.dumps({"args": args}))
        if done:
            (tmp_path / name / "result.json").write_text("{}")
    found = cmi_study.checkpoints_by_seed(tmp_path)
    assert found == {0: {"WARP": tmp_path / "a", "InfoPrompt no-MI": tmp_path / "b"}}
