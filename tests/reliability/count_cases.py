"""Count the reliability catalogue's cases by category, without running them:

    python3 tests/reliability/count_cases.py                    # cases per category
    PYTHONPATH=src python3 tests/reliability/run_catalogue.py   # runs them: answered, tracebacks, silent, hangs
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from catalogue import CASES, CATEGORIES  # noqa: E402


def main() -> None:
    counts = Counter(category for category, _ in CASES.values())
    for category in CATEGORIES:
        print(f"{category:<12} {counts[category]:>3}")
    print(f"{'total':<12} {sum(counts.values()):>3}")


if __name__ == "__main__":
    main()
