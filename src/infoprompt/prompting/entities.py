"""Entity spans for the template: relation markers, the typing mask position, and span-safe truncation.

Relations (two spans, e1 and e2) are marked in the text with the punctuation markers of Zhou & Chen
(2021, "An Improved Baseline for Sentence-level Relation Extraction"): `@ e1 @` and `# e2 #`.
Punctuation is used instead of new `[E1]`-style tokens because the backbone is frozen: a new token
would have an untrained embedding, while `@`/`#` are single, pretrained tokens in both WordPiece and
byte-level BPE vocabularies. Entity typing (one span) adds no marker; the template puts the mask
right before the span (InfoPrompt's NER template).

Each entity together with its markers is a protected *region*: truncation never removes a token of
a region, and removes the other tokens farthest from any region first (`keep_near`).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass

from infoprompt.data.example import Example
from infoprompt.errors import DataError

E1_MARKERS = ("@", "@")
E2_MARKERS = ("#", "#")


@dataclass(frozen=True)
class SpanLayout:
    """The text to tokenise, the character regions that must survive, and where the mask goes."""

    text: str
    regions: tuple[tuple[int, int], ...]  # [start, end) character ranges, one per entity
    mask_before_region: bool  # typing: the mask goes right before the first region's first token


def _where(example: Example) -> str:
    return example.source or "example"


def _check_spans(example: Example) -> None:
    where = _where(example)
    if example.text_b is not None:
        raise DataError(f"{where}: field 'spans': entity spans are for single texts, not sentence pairs")
    if len(example.spans) not in (1, 2):
        raise DataError(
            f"{where}: field 'spans': expected 1 span (entity typing) or 2 (relation e1, e2), got {len(example.spans)}"
        )
    for k, (start, end) in enumerate(example.spans):
        if not 0 <= start < end <= len(example.text_a):
            raise DataError(
                f"{where}: field 'spans[{k}]': [{start}, {end}) is not a non-empty range inside the "
                f"{len(example.text_a)}-character text"
            )
        if not example.text_a[start:end].strip():
            raise DataError(f"{where}: field 'spans[{k}]': the span holds only whitespace")
    if len(example.spans) == 2:
        (s1, e1), (s2, e2) = example.spans
        if (s1, e1) == (s2, e2):
            raise DataError(f"{where}: field 'spans': e1 and e2 are the same span [{s1}, {e1})")
        nested = (s1 <= s2 and e2 <= e1) or (s2 <= s1 and e1 <= e2)
        if s1 < e2 and s2 < e1 and not nested:
            raise DataError(f"{where}: field 'spans': e1 [{s1}, {e1}) and e2 [{s2}, {e2}) cross each other")


def layout_spans(example: Example) -> SpanLayout:
    """Insert the relation markers (two spans) or keep the text as it is (one span)."""
    _check_spans(example)
    text = example.text_a
    if len(example.spans) == 1:
        return SpanLayout(text, (example.spans[0],), True)
    # Marker events; at one position closers come before openers, and nesting stays proper:
    # the longer span opens first and closes last.
    events = []
    for k, ((start, end), (opener, closer)) in enumerate(zip(example.spans, (E1_MARKERS, E2_MARKERS))):
        events.append((start, 1, -(end - start), k, True, opener))
        events.append((end, 0, end - start, k, False, closer))
    events.sort()
    out, prev = "", 0
    starts: dict[int, int] = {}
    ends: dict[int, int] = {}
    for pos, _, _, k, is_open, marker in events:
        out += text[prev:pos]
        prev = pos
        if out and not out[-1].isspace():
            out += " "
        if is_open:
            starts[k] = len(out)
        out += marker
        if not is_open:
            ends[k] = len(out)
        if pos < len(text) and not text[pos].isspace():
            out += " "
    out += text[prev:]
    return SpanLayout(out, tuple((starts[k], ends[k]) for k in range(2)), False)


def token_regions(offsets: Sequence[tuple[int, int]], regions: Sequence[tuple[int, int]]) -> list[frozenset[int]]:
    """For each token (by its character offsets), the indices of the regions it falls in (nested
    entities: possibly several).

    A token belongs to a region when their character ranges overlap; zero-width tokens (byte-level
    BPE reports a bare space prefix as (i, i)) belong to a region when i lies inside it.
    """
    return [
        frozenset(
            k for k, (a, b) in enumerate(regions)
            if (start < b and end > a) or (start == end and a <= start < b)
        )
        for start, end in offsets
    ]


def keep_near(protected: Sequence[bool], budget: int) -> list[int]:
    """Indices of the tokens to keep: every protected one, then the rest nearest to a protected token.

    Ties in distance keep the earlier token. With no protected token, the first `budget` are kept.
    The caller guarantees budget >= the number of protected tokens.
    """
    n = len(protected)
    if n <= budget:
        return list(range(n))
    anchors = [i for i, p in enumerate(protected) if p]
    if not anchors:
        return list(range(budget))
    if budget < len(anchors):
        raise ValueError(f"budget {budget} is smaller than the {len(anchors)} protected tokens")

    def distance(i: int) -> int:
        j = bisect_left(anchors, i)
        near = [abs(anchors[m] - i) for m in (j - 1, j) if 0 <= m < len(anchors)]
        return min(near)

    context = sorted((i for i in range(n) if not protected[i]), key=lambda i: (distance(i), i))
    return sorted(anchors + context[: budget - len(anchors)])
