"""The README's main command and the figures it quotes come from a committed record of that command."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_readme_main_command_figures_are_the_committed_records():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    command = re.search(r"scripts/install\.sh && (infoprompt train [^\n]+)", readme).group(1)
    record_dir = ROOT / re.search(r"\((docs/results/[^)]+)/result\.json\)", readme).group(1)
    result = json.loads((record_dir / "result.json").read_text(encoding="utf-8"))
    argv = json.loads((record_dir / "run.json").read_text(encoding="utf-8"))["argv"]
    # the record is the command: the same flags, apart from where it ran and where the data lives
    given = {a.split("=")[0] for a in argv if a.startswith("--") and not a.startswith("--device")}
    assert given <= set(re.findall(r"--[a-z-]+", command)), (given, command)
    assert f"--method {result['method']}" in command and f"--shots {result['shots']}" in command
    reported = result["reported"]
    rows = re.search(r"n=(\d+)", reported["split"]).group(1)
    quoted = (f"{reported['selected']['accuracy']:.4f} on the {rows}", f"kept step {result['best_step']} of {result['steps']}",
              f"last evaluation {reported['last']['accuracy']:.4f}", f"majority {reported['majority']['rate']:.4f}")
    flat = " ".join(readme.split())
    for text in quoted:
        assert " ".join(text.split()) in flat, text
