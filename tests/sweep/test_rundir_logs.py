"""The attempts log is read by infoprompt.rundir's one JSON-lines reader: a torn last line is skipped, a damaged
line elsewhere is a DataError naming file:line (issue 24)."""

from __future__ import annotations

import re

import pytest

from infoprompt.errors import DataError
from infoprompt.sweep import rundir as rd


def test_a_torn_last_attempt_is_skipped(tmp_path):
    (tmp_path / rd.ATTEMPTS).write_text('{"event": "start"}\n{"event": "fin')
    assert rd.read_attempts(tmp_path) == [{"event": "start"}]
    assert rd.read_attempts(tmp_path / "absent") == []


def test_a_damaged_attempt_before_the_last_is_named(tmp_path):
    (tmp_path / rd.ATTEMPTS).write_text('{"event": "start"}\n{"event": "sta\n{"event": "failed"}\n')
    with pytest.raises(DataError, match="^" + re.escape(f"{tmp_path / rd.ATTEMPTS}:2: not a JSON record")):
        rd.read_attempts(tmp_path)
