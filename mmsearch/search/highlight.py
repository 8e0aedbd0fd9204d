"""What a hit shows of its words: the snippet around the best-matching passage with its match ranges, and
the boxes of the matched words on the stored page image.

``find_marks(payload, terms)`` finds the query's terms in the unit's ``text`` (``terms.find``: case, accents and
simple English inflections folded; quoted phrases as phrases), cuts the snippet (``snippet.make_snippet``)
and returns, for a page or an image whose words were kept at ingest (``Payload.words``: start, end and a
box per word), the boxes of the words a match touches, in pixels of ``media_paths[0]`` (the preview of a
page or image). A video segment has no boxes: its preview is a middle frame, not the image its words
were read from. Bounded per hit: ``MAX_WORDS`` words read, ``MAX_HIGHLIGHTS`` boxes returned (the
first, in reading order).

``hit_text`` is the unit's text as a hit returns it on request: cut at ``MAX_TEXT_CHARS``.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from mmsearch.index.store import WORD_FIELDS, Payload
from mmsearch.search.snippet import Snippet, make_snippet
from mmsearch.search.terms import Match, Terms, find

MAX_WORDS = 20_000
MAX_HIGHLIGHTS = 100
MAX_TEXT_CHARS = 20_000

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Marks:
    snippet: Snippet
    highlights: tuple[Box, ...] = ()


def find_marks(payload: Payload, terms: Terms) -> Marks:
    """The snippet, its ranges and the highlight boxes of one hit for the query's ``terms``."""
    text = payload.text or ""
    matches = find(text, terms)
    boxes = () if payload.modality == "video" else highlights(payload.words, matches, len(text))
    return Marks(make_snippet(text, matches), boxes)


def highlights(words: Sequence[int], matches: Sequence[Match], text_chars: int) -> tuple[Box, ...]:
    """The boxes of the words (``WORD_FIELDS`` ints each) that overlap a match, in word order, without
    repeats; malformed entries (offsets outside the text, empty or negative boxes) are skipped."""
    if not matches or not words:
        return ()
    spans = _merged_spans(matches)
    starts = [s for s, _ in spans]
    out: dict[Box, None] = {}
    n = min(len(words) // WORD_FIELDS, MAX_WORDS) * WORD_FIELDS
    for start, stop, x0, y0, x1, y1 in zip(
        *(words[k:n:WORD_FIELDS] for k in range(WORD_FIELDS)), strict=True
    ):
        j = bisect_right(starts, stop - 1) - 1  # the last span starting inside or before the word
        if j < 0 or spans[j][1] <= start:
            continue
        if 0 <= start < stop <= text_chars and 0 <= x0 < x1 and 0 <= y0 < y1:
            out[(int(x0), int(y0), int(x1), int(y1))] = None
            if len(out) == MAX_HIGHLIGHTS:
                break
    return tuple(out)


def _merged_spans(matches: Sequence[Match]) -> list[tuple[int, int]]:
    """The matches' character spans, sorted and merged, so one binary search answers "does a word overlap
    any"."""
    spans: list[tuple[int, int]] = []
    for match in sorted(matches, key=lambda m: m.start):
        if spans and match.start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], match.end))
        else:
            spans.append((match.start, match.end))
    return spans


def hit_text(text: str) -> tuple[str, bool]:
    """The unit's text as a hit returns it, and whether it was cut (at ``MAX_TEXT_CHARS``)."""
    return text[:MAX_TEXT_CHARS], len(text) > MAX_TEXT_CHARS
