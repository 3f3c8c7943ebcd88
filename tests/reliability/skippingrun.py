"""A sweep run function (`--runner skippingrun:run`) whose run reports 3 skipped bad rows, as
`infoprompt train --skip-bad-rows` does in its summary: the sweep must say so."""

from __future__ import annotations


def run(spec, run_dir, resume: bool) -> dict:
    return {"task": "custom", "method": "warp", "dev": {"accuracy": 0.5}, "skipped_rows": 3}
