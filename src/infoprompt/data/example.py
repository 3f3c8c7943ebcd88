"""The unit of data that flows from readers to templates."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Example:
    """One labelled (or unlabelled, label=None) text or text pair, with where it came from.

    `source` is "file:line" so that any later error can still point the user at the row.
    `spans` are character spans [start, end) into `text_a`: none for sentence classification, one
    for entity typing (the template puts the mask right before it), two for a relation (e1, e2:
    the template wraps each in entity markers and never truncates them).
    `group` ties examples scored together (MultiRC: the answer options of one question, for exact match).
    """

    text_a: str
    text_b: str | None = None
    label: int | None = None
    source: str = ""
    spans: tuple[tuple[int, int], ...] = ()
    group: str | None = None
