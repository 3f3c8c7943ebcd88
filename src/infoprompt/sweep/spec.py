"""Run identity: one `RunSpec` per distinct set of `infoprompt train` flags.

A run's identity is its flags with every value equal to the train default dropped, so writing
`epochs: 30` (the default) or leaving it out names the same run, and a flag added to
`infoprompt train` later does not rename old runs. Its directory name is a readable prefix plus a
short hash of that flag set; the sweep finds an existing run by the hash alone.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from infoprompt.sweep.flags import train_flags

HASH_CHARS = 10
# Shown first in every run name, in this order.
NAME_HEAD = ("task", "method", "n_prompts", "shots", "seed")
# Never part of the readable name (paths, long strings); still part of the hash.
NAME_SKIP = frozenset({"data_dir", "train_file", "dev_file", "test_file", "text_fields", "label_field", "verbalizer",
                       "device", "backbone"})
NAME_MAX = 110
# Values that were the train default when runs were first named: leaving them out of the identity keeps
# older runs' names (`device: cpu` was the default before `auto`). They are still passed to the run.
IDENTITY_NEUTRAL = {"device": "cpu"}


@dataclass
class RunSpec:
    """One grid point: the train flags that differ from their defaults (values already converted)."""

    flags: dict[str, Any]

    def __post_init__(self) -> None:
        defaults = {dest: flag.default for dest, flag in train_flags().items()}
        self.flags = {k: v for k, v in sorted(self.flags.items()) if v is not None and v != defaults.get(k)}

    @property
    def identity(self) -> dict[str, Any]:
        return {k: v for k, v in self.flags.items() if IDENTITY_NEUTRAL.get(k, object()) != v}

    @property
    def hash(self) -> str:
        canonical = json.dumps(self.identity, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:HASH_CHARS]

    @property
    def args(self) -> dict[str, Any]:
        """Every train flag's value for this run (defaults filled in): what reports group by."""
        return {**{dest: flag.default for dest, flag in train_flags().items()}, **self.flags}

    @property
    def name(self) -> str:
        args = self.args
        head = [str(args["task"]), str(args["method"]), f"np{args['n_prompts']}",
                f"shots{args['shots']}" if args["shots"] else "full", f"seed{args['seed']}"]
        extra = [f"{k}-{_short(v)}" for k, v in self.identity.items() if k not in NAME_HEAD and k not in NAME_SKIP]
        readable = _safe("_".join(head + extra))[:NAME_MAX].rstrip("_-.")
        return f"{readable}_{self.hash}"

    def argv(self) -> list[str]:
        """`infoprompt train` arguments, without --output/--json/--quiet/--resume (the sweep adds those)."""
        flags = train_flags()
        out = ["train"]
        for dest, value in self.flags.items():
            out += flags[dest].to_argv(value)
        return out

    def to_json(self) -> dict:
        return {"format": 1, "name": self.name, "hash": self.hash, "flags": self.flags, "args": self.args,
                "argv": self.argv()}


def _short(value: Any) -> str:
    text = "true" if value is True else str(value)
    return text[:16]


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=-]+", "-", text)
