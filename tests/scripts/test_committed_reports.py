"""The SmolLM2 MI-effect report and the CMI table regenerate byte for byte from their committed files (issue 17:
every figure traces to a committed file and the command that made it)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "docs/results"


def test_the_smollm2_report_regenerates_exactly(tmp_path: Path):
    from infoprompt.cli import main as cli

    folder = RESULTS / "smollm2_mi_effect"
    compare = json.loads((folder / "compare_args.json").read_text())
    for name, extra in (("report", []), ("report_last", ["--score", "last"])):
        out = tmp_path / name
        assert cli(["report", str(folder / "records"), "--out", str(out), "--quiet", "--no-plots", *extra, *compare]) == 0
        committed = sorted(p.name for p in (folder / name).iterdir() if p.is_file() and not p.name.startswith("."))
        assert committed and committed == sorted(p.name for p in out.iterdir() if p.is_file() and not p.name.startswith("."))
        for file in committed:
            assert (out / file).read_bytes() == (folder / name / file).read_bytes(), f"{name}/{file}"


def test_the_cmi_table_regenerates_exactly(tmp_path: Path):
    spec = importlib.util.spec_from_file_location("cmi_study", ROOT / "scripts/cmi_study.py")
    cmi_study = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cmi_study)
    folder = RESULTS / "cmi_minilm"
    result = cmi_study.tabulate(folder)
    assert cmi_study.markdown(result) == (folder / "summary.md").read_text(encoding="utf-8")
    assert result["seeds"] == [0, 1, 2] and {"WARP", "InfoPrompt", "InfoPrompt no-MI", "random"} <= set(result["sources"])
