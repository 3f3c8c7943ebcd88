"""Sweep files (YAML or TOML): which `infoprompt train` flags to hold fixed and which to grid over.

    runs_dir: runs/table1          # optional; `--runs-dir` overrides it
    fixed:                         # the same for every run
      epochs: 30
      data_dir: ../shared/data
    grid:                          # every combination (a list of such mappings: their union)
      method: [warp, idpg, infoprompt]
      task: [cola, rte, mrpc, sst2]
      n_prompts: [1, 4]
      seed: [0, 1, 2, 3, 4]

Every key is an `infoprompt train` flag (`n_prompts`, `n-prompts` and `--n-prompts` are the same
key; `methods`/`tasks`/`seeds` are accepted for the axes). `null` (YAML) means "the flag's
default", e.g. `shots: [null, 64, 256]` puts full-data and few-shot runs in one grid. Values are
checked with the train command's own types and choices, so a bad file fails before any run starts,
with one line naming the file, the line and the key. A key given twice in one mapping (YAML or TOML)
is such an error, never "the last value wins"; so is a grid of more than `MAX_RUNS` runs, refused
from the lengths of its value lists before a single run is expanded.
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infoprompt.errors import ConfigError
from infoprompt.sweep.flags import resolve_key
from infoprompt.sweep.spec import RunSpec

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

TOP_LEVEL = ("runs_dir", "fixed", "grid", "description")
# The most runs one sweep may hold (each grid entry, and all of them together): a sweep is expanded and every
# run checked before the first starts (about 3 ms a run), so a typo'd 10**6-run grid must be refused up front.
MAX_RUNS = 10_000


@dataclass
class SweepConfig:
    """A parsed, validated sweep file; values are already converted to the train flags' types."""

    path: Path
    grids: list[dict[str, list[Any]]]
    fixed: dict[str, Any] = field(default_factory=dict)
    runs_dir: str | None = None
    description: str | None = None


def load_sweep(path: str | Path) -> SweepConfig:
    """Read and validate a .yaml/.yml/.toml sweep file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: sweep file not found")
    from infoprompt.data.readers import read_text

    text = read_text(path)  # UTF-8, or one line naming the line of the first undecodable byte
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        data, locate = _parse_yaml(path, text)
    elif suffix == ".toml":
        data, locate = _parse_toml(path, text)
    else:
        raise ConfigError(f"{path}: sweep files are .yaml, .yml or .toml, not '{suffix or path.name}'")
    return _validate(path, data, locate)


# --- parsing with line numbers -----------------------------------------------------------------


def _unique_key_loader(path: Path):
    """A SafeLoader whose mappings refuse a key given twice, at any level (PyYAML keeps the last value)."""
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base`: merged keys may be overridden
                    continue
                key, line = self.construct_object(key_node, deep=True), key_node.start_mark.line + 1
                try:
                    first = seen.get(key)
                except TypeError:  # an unhashable key: SafeLoader's own error names it
                    continue
                if first is not None:
                    raise ConfigError(f"{path}:{line}: key '{key}' is given twice (first on line {first}); "
                                      "give each key once")
                seen[key] = line
            return super().construct_mapping(node, deep=deep)

    return UniqueKeyLoader


def _parse_yaml(path: Path, text: str):
    import yaml

    try:
        data = yaml.load(text, Loader=_unique_key_loader(path))  # noqa: S506 - a SafeLoader subclass
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None

    def locate(keys: tuple) -> int | None:
        # The line of the last key found (a mapping key's own line, or a list item's line).
        node, line = root, None
        for key in keys:
            if isinstance(node, yaml.MappingNode):
                pair = next(((k, v) for k, v in node.value if getattr(k, "value", None) == key), None)
                if pair is None:
                    break
                line, node = pair[0].start_mark.line + 1, pair[1]
            elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
                node = node.value[key]
                line = node.start_mark.line + 1
            else:
                break
        return line

    return data, locate


def _parse_toml(path: Path, text: str):
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(_toml_error(path, text, str(err))) from None
    lines = text.splitlines()

    def locate(keys: tuple) -> int | None:
        # tomllib keeps no positions; find the key's `name =` line inside its [table] / n-th [[table]].
        start, names = 0, [k for k in keys if isinstance(k, str)]
        if not names:
            return None
        if len(keys) > 1:
            header = re.compile(rf"^\s*\[\[?\s*{re.escape(names[0])}\s*\]\]?\s*(#.*)?$")
            heads = [i for i, line in enumerate(lines) if header.match(line)]
            index = keys[1] if isinstance(keys[1], int) else 0
            if heads:
                start = heads[min(index, len(heads) - 1)]
        leaf = re.compile(rf"""^\s*["']?{re.escape(names[-1])}["']?\s*=""")
        for i in range(start, len(lines)):
            if leaf.match(lines[i]):
                return i + 1
        return start + 1 if start else None

    return data, locate


_TOML_AT = re.compile(r"^(?P<problem>.*) \(at line (?P<line>\d+), column \d+\)$")
_TOML_TWICE = re.compile(r"^(Cannot overwrite a value|Cannot declare \((?P<table>.*)\) twice|"
                         r"Cannot mutate immutable namespace \((?P<value>.*)\)|Duplicate inline table key '(?P<inline>.*)')$")


def _toml_error(path: Path, text: str, message: str) -> str:
    """tomllib's error as our one line; a key given twice (tomllib refuses it, but names no key) names its
    line and key like the YAML reader does."""
    at, lines = _TOML_AT.match(message), text.splitlines()
    if at is None:
        return f"{path}: invalid TOML: {message}"
    line, twice = int(at["line"]), _TOML_TWICE.match(at["problem"])
    if twice is None:
        return f"{path}:{line}: invalid TOML: {at['problem']}"
    dotted = twice["table"] or twice["value"] or ""
    key = twice["inline"] or dotted.strip(",").replace("'", "").replace(", ", ".")
    if not key and line <= len(lines):  # `name = value` on that line
        key = lines[line - 1].split("=", 1)[0].strip().strip("'\"")
    return f"{path}:{line}: key '{key}' is given twice; give each key once (invalid TOML: {at['problem']})"


# --- validation ---------------------------------------------------------------------------------


def _key_path(keys: tuple) -> str:
    out = ""
    for key in keys:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out


def _validate(path: Path, data: Any, locate) -> SweepConfig:
    def where(*keys) -> str:
        line = locate(keys) if keys else None
        prefix = f"{path}:{line}" if line else str(path)
        return f"{prefix}: key '{_key_path(keys)}'" if keys else prefix

    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a sweep file must be a mapping with a 'grid' (got {type(data).__name__})")
    for key in data:
        if key not in TOP_LEVEL:
            raise ConfigError(f"{where(key)}: unknown top-level key (expected: {', '.join(TOP_LEVEL)})")
    if "grid" not in data:
        raise ConfigError(f"{path}: key 'grid' missing: give at least one flag with a list of values")

    fixed_raw = data.get("fixed") or {}
    if not isinstance(fixed_raw, dict):
        raise ConfigError(f"{where('fixed')}: must be a mapping of flag: value")
    fixed: dict[str, Any] = {}
    for key, value in fixed_raw.items():
        flag = resolve_key(key, where("fixed", key))
        if flag.dest in fixed:
            raise ConfigError(f"{where('fixed', key)}: flag {flag.option} given twice")
        fixed[flag.dest] = flag.convert(value, where("fixed", key))

    raw = data["grid"]
    raw_grids = raw if isinstance(raw, list) else [raw]
    if not raw_grids:
        raise ConfigError(f"{where('grid')}: empty list of grids")
    grids = []
    for index, grid in enumerate(raw_grids):
        prefix = ("grid", index) if isinstance(raw, list) else ("grid",)
        if not isinstance(grid, dict) or not grid:
            raise ConfigError(f"{where(*prefix)}: a grid is a non-empty mapping of flag: [values]")
        converted: dict[str, list[Any]] = {}
        for key, values in grid.items():
            at = prefix + (key,)
            flag = resolve_key(key, where(*at))
            if flag.dest in fixed:
                raise ConfigError(f"{where(*at)}: {flag.option} is both fixed and in the grid")
            if flag.dest in converted:
                raise ConfigError(f"{where(*at)}: flag {flag.option} given twice")
            if not isinstance(values, list) or not values:
                raise ConfigError(f"{where(*at)}: grid values must be a non-empty list (put single values under 'fixed')")
            items = [flag.convert(v, where(*at, i)) for i, v in enumerate(values)]
            duplicates = sorted({str(v) for v in items if items.count(v) > 1})
            if duplicates:
                raise ConfigError(f"{where(*at)}: repeated value(s) {duplicates}")
            converted[flag.dest] = items
        check_grid_size(converted, where(*prefix), "grid entry")
        grids.append(converted)

    runs_dir = data.get("runs_dir")
    if runs_dir is not None and not isinstance(runs_dir, str):
        raise ConfigError(f"{where('runs_dir')}: must be a path string")
    description = data.get("description")
    return SweepConfig(path=path, grids=grids, fixed=fixed, runs_dir=runs_dir,
                       description=str(description) if description is not None else None)


def grid_size(grid: dict[str, list[Any]]) -> int:
    """How many runs a grid entry expands to: the product of its value-list lengths (nothing is expanded)."""
    return math.prod(len(values) for values in grid.values())


def check_grid_size(grid: dict[str, list[Any]], where: str, what: str) -> None:
    """Refuse, before expansion, a grid entry of more than MAX_RUNS runs: one line with its size."""
    size = grid_size(grid)
    if size > MAX_RUNS:
        factors = " x ".join(f"{len(v)} {k}" for k, v in grid.items())
        raise ConfigError(f"{where}: {what} holds {size:,} runs ({factors}), more than the limit of {MAX_RUNS:,} "
                          "runs a sweep may hold; split the sweep into several files")


# --- the whole sweep, before its first run --------------------------------------------------------


def check_runs(specs: list[RunSpec], path: str | Path, check_files: bool = True) -> None:
    """Every run of the sweep checked by the configuration schema (ranges, method options, conflicts) and,
    with `check_files`, its data folder and files found; the first problem is one ConfigError naming the
    sweep file and the run. Nothing starts unless the whole sweep is valid. Devices are not checked:
    a sweep may be written on one machine for another (`device: cuda` checked on a laptop)."""
    from infoprompt.config import train_config_from_settings

    checked_dirs: set[str | None] = set()
    for spec in specs:
        try:
            cfg = train_config_from_settings(spec.flags)
            if check_files:
                _check_data(cfg, checked_dirs)
        except ConfigError as err:
            raise ConfigError(f"{path}: run {spec.name}: {err}") from None


def _check_data(cfg, checked_dirs: set) -> None:
    """The run's data folder ($INFOPROMPT_DATA included) or custom files exist, as `infoprompt train` will
    look for them from this working directory."""
    from infoprompt.data.tasks import resolve_data_dir

    if cfg.task != "custom":
        if cfg.data_dir not in checked_dirs:
            resolve_data_dir(cfg.data_dir)
            checked_dirs.add(cfg.data_dir)
        return
    for name in ("train_file", "dev_file", "test_file"):
        value = getattr(cfg, name)
        if value and not Path(value).expanduser().is_file():
            raise ConfigError(f"--{name.replace('_', '-')}: no such file '{value}'")
