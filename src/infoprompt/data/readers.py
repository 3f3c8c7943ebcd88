"""Readers for delimited and JSON-lines files that report problems as `file:line: field: problem`.

Why hand-written rather than `pandas.read_csv` or `datasets.load_dataset("csv")`: both either drop or
coerce malformed rows silently, or fail with an error that does not name the line and field. The
toolkit's contract is that every bad row is either a precise error or a counted, reported skip.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import numbers
import re
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
        # A file read twice (labels, then rows) reports a row once, even if the two reads found
        # different problems in it: a skip is counted per record (its `file:line`), not per message.
        where = _location(message)
        if all(_location(seen) != where for seen in self.skipped):
            self.skipped.append(message)

    @property
    def count(self) -> int:
        return len(self.skipped)

    def summary(self, show: int = 3) -> str:
        head = "; ".join(self.skipped[:show])
        more = f" (+{len(self.skipped) - show} more)" if len(self.skipped) > show else ""
        return f"skipped {len(self.skipped)} bad row(s): {head}{more}"


_WHERE = re.compile(r"^(.*?:\d+)(?::|$)")


def _location(message: str) -> str:
    """The `file:line` a row message starts with (the whole message if it has none)."""
    match = _WHERE.match(message)
    return match.group(1) if match else message


def file_error(path: Path, err: OSError) -> DataError:
    """The one-line DataError for a data file that cannot be opened or read."""
    if isinstance(err, FileNotFoundError):
        return DataError(f"{path}: file not found")
    if isinstance(err, PermissionError):
        return DataError(f"{path}: permission denied (cannot read the file)")
    return DataError(f"{path}: cannot read ({err.strerror or err})")


def read_text(path: Path) -> str:
    """Decode a file as UTF-8 (BOM tolerated), naming the line of the first undecodable byte.

    Every way a path can fail to be a readable file is one DataError naming the path."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path}: is a directory, expected a data file")
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise file_error(path, err) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = len(LINE_BREAK.findall(raw[:err.start].decode("utf-8", "replace"))) + 1
        raise DataError(
            f"{path}:{line}: undecodable byte 0x{raw[err.start]:02x} (file must be UTF-8)"
        ) from None


# A physical line ends in \r\n, \n or a lone \r (old Mac files): all three count, nothing else does
# (str.splitlines would also split on form feeds and other separators that can occur inside text).
LINE_BREAK = re.compile(r"\r\n|\r|\n")


def read_lines(path: Path, chunk_size: int = 1 << 16) -> Iterator[str]:
    """The physical lines of a UTF-8 file (BOM tolerated), each with its line break, read in chunks so
    memory stays bounded whatever the file's size; line breaks after the last record are not records
    (held back until more text follows). The same errors as `read_text`, naming the line."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path}: is a directory, expected a data file")
    try:
        handle = path.open("rb")
    except OSError as err:
        raise file_error(path, err) from None
    number, carry, held, first = 0, b"", [], True
    with handle:
        while True:
            chunk = handle.read(chunk_size)
            data = carry + chunk
            if first and data.startswith(b"\xef\xbb\xbf"):
                data, first = data[3:], False
            elif len(data) >= 3:
                first = False
            pieces = _BYTE_LINE.findall(data)
            carry = b""
            if chunk and pieces and (not pieces[-1].endswith((b"\n", b"\r")) or pieces[-1].endswith(b"\r")):
                carry = pieces.pop()  # an unfinished line, or a \r that may be the first half of \r\n
            for raw in pieces:
                number += 1
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as err:
                    raise DataError(f"{path}:{number}: undecodable byte 0x{raw[err.start]:02x} (file must be UTF-8)"
                                    ) from None
                if line in ("\n", "\r", "\r\n"):
                    held.append(line)  # trailing line breaks are not records: wait for more text
                    continue
                yield from held
                held = []
                yield line
            if not chunk:
                return


_BYTE_LINE = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")


def split_lines(text: str) -> list[str]:
    """Physical lines; line terminators after the last record are not records."""
    text = text.rstrip("\r\n")
    return LINE_BREAK.split(text) if text else []


def _without_last_break(lines: Iterator[str]) -> Iterator[str]:
    """`lines` with the last line's break removed (the whole-text reader stripped it: same records)."""
    previous = None
    for line in lines:
        if previous is not None:
            yield previous
        previous = line
    if previous is not None:
        yield previous.rstrip("\r\n")


def _blank(values: list[str]) -> bool:
    return all(not v.strip() for v in values)


def read_delimited(
    path: Path,
    delimiter: str,
    *,
    header: bool = True,
    columns: list[str] | None = None,
    quoting: int = csv.QUOTE_MINIMAL,
    policy: BadRowPolicy | None = None,
) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line number, row dict) for every record; a blank row or a row whose field count
    differs from the header is bad (an error, or a counted skip). Never a silent drop.

    The csv module reads the whole file as one stream, so a quoted field may span lines (the line
    number is the record's first physical line) and any line ending (\n, \r\n, lone \r) works.
    """
    path = Path(path)
    policy = policy or BadRowPolicy()
    # strict: a quote inside an unquoted field is an error, not a silently different value.
    reader = csv.reader(_without_last_break(read_lines(path)), delimiter=delimiter, quoting=quoting,
                        strict=quoting != csv.QUOTE_NONE)
    end = 0  # the last physical line the reader consumed

    def records() -> Iterator[tuple[int, list[str]]]:
        nonlocal end
        while True:
            first = end + 1
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as err:
                # Not skippable: after an unclosed quote nobody can tell where the next record starts,
                # so skipping would silently drop every line up to the end of the file.
                raise DataError(f"{path}:{first}: unparsable record spanning lines {first}-{reader.line_num} "
                                f"({err}; is a quote left open?)") from None
            end = reader.line_num
            yield first, values

    stream = records()
    if header:
        first = next(stream, None)
        if first is None:
            raise DataError(f"{path}:1: empty file, expected a header row")
        columns = [c.strip() for c in first[1]]
        if _blank(columns):
            raise DataError(f"{path}:1: blank header row, expected column names")
    elif columns is None:  # headerless: columns are named by position, "0", "1", ..., counted on the first row
        peeked = []
        for record in stream:
            peeked.append(record)
            if not _blank(record[1]):
                break
        if not peeked or _blank(peeked[-1][1]):
            raise DataError(f"{path}:1: empty file, expected at least one row")
        columns = [str(i) for i in range(len(peeked[-1][1]))]
        stream = itertools.chain(peeked, stream)
    if len(set(columns)) != len(columns):
        raise DataError(f"{path}:1: duplicate column names in header {columns}")
    for line_no, values in stream:
        if _blank(values):
            policy.handle(f"{path}:{line_no}: blank row (expected {len(columns)} fields {columns})")
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
    """Yield (line number, object) for each line of a JSON-lines file; a blank line is a bad row."""
    policy = policy or BadRowPolicy()
    for idx, text in enumerate(line.rstrip("\r\n") for line in read_lines(path)):
        if not text.strip():
            policy.handle(f"{path}:{idx + 1}: blank line (expected a JSON object)")
            continue
        try:
            obj = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=unique_keys)
        except json.JSONDecodeError as err:
            policy.handle(f"{path}:{idx + 1}: invalid JSON ({err.msg})")
            continue
        except ValueError as err:  # NaN / Infinity (Python's parser accepts them), a key given twice
            policy.handle(f"{path}:{idx + 1}: invalid JSON ({err})")
            continue
        except RecursionError:
            policy.handle(f"{path}:{idx + 1}: invalid JSON (nested too deeply)")
            continue
        if not isinstance(obj, dict):
            policy.handle(f"{path}:{idx + 1}: expected a JSON object, got {_json_type(obj)}")
            continue
        yield idx + 1, obj


def unique_keys(pairs: list[tuple[str, object]]) -> dict:
    """`object_pairs_hook` refusing a key given twice (the last one would silently win)."""
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"field '{key}' is given twice in one object")
        out[key] = value
    return out


def _reject_constant(name: str):
    raise ValueError(f"bare {name} is not a JSON value")


def _json_type(value) -> str:
    """The JSON name of a parsed value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object"


def read_table(path: Path, policy: BadRowPolicy | None = None, *, header: bool = True) -> Iterator[tuple[int, dict]]:
    """Read a user file by extension: .csv (quoted), .tsv (unquoted, GLUE style), .jsonl/.json.

    header=False (`--no-header`): a CSV/TSV without a header row; its columns are named by position,
    "0", "1", ..., and the first row fixes how many fields every row must have."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path}: is a directory, expected a data file ({', '.join(SUPPORTED_SUFFIXES)})")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return read_delimited(path, ",", header=header, policy=policy)
    if suffix in (".tsv", ".txt"):
        return read_delimited(path, "\t", header=header, quoting=csv.QUOTE_NONE, policy=policy)
    if suffix in (".jsonl", ".json"):
        if not header:
            raise DataError(f"{path}: --no-header is for CSV/TSV files; JSON-lines rows name their own fields")
        return read_jsonl(path, policy=policy)
    raise DataError(
        f"{path}: unsupported file type '{suffix}' (expected one of {', '.join(SUPPORTED_SUFFIXES)})"
    )


def require_field(row: dict, name: str, where: str, *, allow_empty: bool = False) -> str:
    """Fetch a text field or raise a DataError naming `where` (file:line) and the field.

    Text must be text: a number, list or object in a JSON row is an error, never `str()`-ed into data."""
    if name not in row or row[name] is None:
        raise DataError(f"{where}: missing field '{name}'")
    value = row[name]
    if not isinstance(value, str):
        raise DataError(f"{where}: field '{name}': expected a string, got {_json_type(value)} ({_short(value)})")
    if not allow_empty and not _visible(value):
        after = " after normalisation (only invisible, format or control characters)" if value.strip() else ""
        raise DataError(f"{where}: field '{name}' is empty{after}")
    return value


def _visible(text: str) -> bool:
    """True if `text` holds a character a tokenizer keeps: not only whitespace, control (Cc), format (Cf:
    zero-width spaces, joiners, BOMs) or unassigned code points."""
    import unicodedata

    return any(not ch.isspace() and unicodedata.category(ch) not in ("Cc", "Cf", "Cn") for ch in text)


def label_text(row: dict, name: str, where: str) -> str:
    """A label as the text that names it. Labels are scalars; how JSON values map (docs/reliability.md, "Typed fields"):

    - a string is its own name, stripped: "1" is the label named "1";
    - an integer is its decimal text: 1 -> "1", so 1 and "1" are the same label;
    - an integral float is the integer it equals: 1.0 -> "1" (JSON writers often emit 1.0 for 1);
    - a boolean is its JSON spelling: true -> "true" (so true and "true" are one label);
    - anything else (a fraction, NaN, a list, an object, null) is an error naming the field.
    CSV/TSV values are always strings, so there "1.0" and "1" stay two different labels.
    """
    if name not in row or row[name] is None:
        raise DataError(f"{where}: missing field '{name}'")
    value = row[name]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):  # int, and numpy integers from a DataFrame or Dataset
        return str(int(value))
    if isinstance(value, numbers.Real):
        value = float(value)
        if math.isfinite(value) and value.is_integer():
            return str(int(value))
        raise DataError(f"{where}: field '{name}': a label must be text, an integer or a boolean, got {value!r}")
    if isinstance(value, str):
        if not value.strip():
            raise DataError(f"{where}: field '{name}' is empty")
        return value.strip()
    raise DataError(f"{where}: field '{name}': a label must be text, an integer or a boolean, "
                    f"got {_json_type(value)} ({_short(value)})")


def _short(value, limit: int = 40) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."
