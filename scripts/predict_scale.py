"""Does `infoprompt predict` stream? Rows/s and peak RSS of one `predict` process per input size.

    OMP_NUM_THREADS=1 nice -n 10 python3 scripts/predict_scale.py --checkpoint RUN_DIR --rows 5000 50000

Each size gets a JSONL input of that many rows (the synthetic sentences below, cycled, each row made unique
by its index), predicted by a fresh `python -m infoprompt.cli predict --output OUT.jsonl` whose peak RSS is
its own (`os.wait4`). Prints one JSON line per size and a last line with the ratios the acceptance asks
for: peak RSS at the largest size within 1.2x of the smallest, rows/s at least the smallest size's rate.
Exit 0 when both hold. The checkpoint's task must read a `sentence` field (--field to change it).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS = ["a gripping, beautiful film", "boring and far too long", "the cast is wonderful", "a thin plot",
         "I laughed the whole way through", "nothing works here", "a quiet, moving story", "dull"]


def measure(checkpoint: str, rows: int, field: str, folder: Path) -> dict:
    inp, out = folder / f"in{rows}.jsonl", folder / f"out{rows}.jsonl"
    with inp.open("w", encoding="utf-8") as fh:
        for i in range(rows):
            fh.write(json.dumps({field: f"{WORDS[i % len(WORDS)]} #{i}"}) + "\n")
    cmd = [sys.executable, "-m", "infoprompt.cli", "predict", "--checkpoint", checkpoint, "--input", str(inp),
           "--output", str(out)]
    start = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    err = child.stderr.read().decode(errors="replace").strip().splitlines()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"predict failed on {rows} rows: {err[-1] if err else status}")
    written = sum(1 for _ in out.open(encoding="utf-8"))
    return {"rows": rows, "written": written, "seconds": round(seconds, 2), "rows_per_s": round(rows / seconds, 1),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--rows", type=int, nargs="+", default=[5000, 50000])
    parser.add_argument("--field", default="sentence")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = [measure(args.checkpoint, n, args.field, Path(tmp)) for n in args.rows]
    for record in results:
        print(json.dumps(record))
    small, large = results[0], results[-1]
    verdict = {"rss_ratio": round(large["peak_rss_mb"] / small["peak_rss_mb"], 3),
               "rate_ratio": round(large["rows_per_s"] / small["rows_per_s"], 3)}
    verdict["ok"] = verdict["rss_ratio"] <= 1.2 and verdict["rate_ratio"] >= 1.0
    print(json.dumps(verdict))
    return 0 if verdict["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
