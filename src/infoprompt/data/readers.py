"""Readers for delimited and JSON-lines files that report problems as `file:line: field: problem`.

Why hand-written rather than `pandas.read_csv` or `datasets.load_dataset("csv")`: both either drop or
coerce malformed rows silently, or fail with an error that does not name the line and field. The
toolkit's contract is that every bad row is either a precise error or a counted, reported skip.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from infoprompt.errors import DataError

SUPPORTED_SUFFIXES = (".csv", ".tsv", ".jsonl", ".json", ".txt")


@dataclass
class BadRowPolicy:
    """Raise on the first bad row (default), or skip and record it (`--skip-bad-rows`)."""

    skip: bool = False
    skipped: list[str] = field(default_factory=list)

    def handle(self, message: str) -> None:
        if not self.skip:
            raise DataError(message)
        if message not in self.skipped:  # a file read twice (labels, then rows) reports a row once
            self.skipped.append(message)

    def summary(self, show: int = 3) -> str:
        head = "; ".join(self.skipped[:show])
        more = f" (+{len(self.skipped) - show} more)" if len(self.skipped) > show else ""
        return f"skipped {len(self.skipped)} bad row(s): {head}{more}"


def read_text(path: Path) -> str:
    """Decode a file as UTF-8 (BOM tolerated), naming the line of the first undecodable byte."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, expected a file") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise DataError(
            f"{path}:{line}: undecodable byte 0x{raw[err.start]:02x} (file must be UTF-8)"
        ) from None


def _lines(path: Path) -> list[str]:
    # splitlines() would also split on form feeds and other exotic separators; only \n and \r\n count.
    text = read_text(path).replace("\r\n", "\n")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def read_delimited(
    path: Path,
    delimiter: str,
    *,
    header: bool = True,
    columns: list[str] | None = None,
    quoting: int = csv.QUOTE_MINIMAL,
    policy: BadRowPolicy | None = None,
) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line number, row dict). A row whose field count differs from the header is bad."""
    policy = policy or BadRowPolicy()
    lines = _lines(path)
    if header:
        if not lines:
            raise DataError(f"{path}:1: empty file, expected a header row")
        columns = next(csv.reader([lines[0]], delimiter=delimiter, quoting=quoting))
        columns = [c.strip() for c in columns]
        start = 1
    else:
        if columns is None:
            raise ValueError("columns are required when header=False")
        start = 0
    if len(set(columns)) != len(columns):
        raise DataError(f"{path}:1: duplicate column names in header {columns}")
    # Parse line by line (not as one stream) so a stray quote cannot swallow the following rows.
    for idx in range(start, len(lines)):
        line_no = idx + 1
        text = lines[idx]
        if not text.strip():
            continue
        try:
            values = next(csv.reader(io.StringIO(text), delimiter=delimiter, quoting=quoting))
        except csv.Error as err:
            policy.handle(f"{path}:{line_no}: unparsable row ({err})")
            continue
        if len(values) != len(columns):
            missing = columns[len(values)] if len(values) < len(columns) else None
            what = f"missing field '{missing}'" if missing else "extra field(s)"
            policy.handle(
                f"{path}:{line_no}: {what}: expected {len(columns)} fields {columns}, got {len(values)}"
            )
            continue
        yield line_no, dict(zip(columns, values))


def read_jsonl(path: Path, policy: BadRowPolicy | None = None) -> Iterator[tuple[int, dict]]:
    """Yield (line number, object) for each non-empty line of a JSON-lines file."""
    policy = policy or BadRowPolicy()
    for idx, text in enumerate(_lines(path)):
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as err:
            policy.handle(f"{path}:{idx + 1}: invalid JSON ({err.msg})")
            continue
        if not isinstance(obj, dict):
            policy.handle(f"{path}:{idx + 1}: expected a JSON object, got {type(obj).__name__}")
            continue
        yield idx + 1, obj


def read_table(path: Path, policy: BadRowPolicy | None = None) -> Iterator[tuple[int, dict]]:
    """Read a user file by extension: .csv (quoted), .tsv (unquoted, GLUE style), .jsonl/.json."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return read_delimited(path, ",", policy=policy)
    if suffix in (".tsv", ".txt"):
        return read_delimited(path, "\t", quoting=csv.QUOTE_NONE, policy=policy)
    if suffix in (".jsonl", ".json"):
        return read_jsonl(path, policy=policy)
    raise DataError(
        f"{path}: unsupported file type '{suffix}' (expected one of {', '.join(SUPPORTED_SUFFIXES)})"
    )


def require_field(row: dict, name: str, where: str, *, allow_empty: bool = False) -> str:
    """Fetch a text field or raise a DataError naming `where` (file:line) and the field."""
    if name not in row or row[name] is None:
        raise DataError(f"{where}: missing field '{name}'")
    value = row[name]
    if not isinstance(value, str):
        value = str(value)
    if not allow_empty and not value.strip():
        raise DataError(f"{where}: field '{name}' is empty")
    return value
