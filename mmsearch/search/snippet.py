"""A short piece of a unit's text for display: the passage with the most distinct query terms, and where
they are in it.

The window (``width`` characters of the text) is the one holding the most distinct terms, then the most
matches, then the earliest; the matched passage is centred in it and its ends moved to word boundaries.
Whitespace runs become one space; a cut end is marked with ``…``. ``ranges`` are (start, end) offsets of
the matches inside the snippet, in code points (Python ``str`` indices; JavaScript counts UTF-16 units, so
a client there indexes ``Array.from(snippet)``), plain numbers, never markup. With no match the snippet is
the text's start.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from mmsearch.search.terms import Match

WIDTH = 240
ELLIPSIS = "…"


@dataclass(frozen=True)
class Snippet:
    text: str
    ranges: tuple[tuple[int, int], ...] = ()


def make_snippet(text: str, matches: Sequence[Match] = (), width: int = WIDTH) -> Snippet:
    """The best window of ``text`` for ``matches`` (``terms.find``'s, in text order)."""
    chosen = _best_window(matches, width)
    if not chosen:
        start, end = 0, min(len(text), width)
    else:
        start, end = _place(text, chosen[0].start, max(m.end for m in chosen), width)
    end = _word_end(text, end, chosen[-1].end if chosen else start)
    return _render(text, start, end, chosen)


def _best_window(matches: Sequence[Match], width: int) -> list[Match]:
    """The run of matches that fits in ``width`` with the most distinct terms, then the most matches,
    then the earliest (two pointers: linear in the matches)."""
    best: tuple[int, int] | None = None
    best_score = (0, 0)  # distinct terms, matches
    seen: Counter[int] = Counter()
    right = 0
    for left, first in enumerate(matches):
        right = max(right, left)
        while right < len(matches) and matches[right].end - first.start <= width:
            seen[matches[right].term] += 1
            right += 1
        if right == left:
            continue  # one match longer than the window (a long phrase): not shown whole anywhere
        score = (len(seen), right - left)
        if score > best_score:
            best, best_score = (left, right), score
        seen[first.term] -= 1
        if not seen[first.term]:
            del seen[first.term]
    return list(matches[best[0] : best[1]]) if best else []


def _place(text: str, first: int, last: int, width: int) -> tuple[int, int]:
    """A ``width`` window around ``text[first:last]``, its slack split before and after, starting on a
    word."""
    slack = max(0, width - (last - first))
    start = max(0, min(first - slack // 2, len(text) - width))
    if start > 0 and not text[start - 1].isspace():
        space = _next_space(text, start, first)
        start = space + 1 if space is not None else start
    return start, min(len(text), start + width)


def _next_space(text: str, start: int, limit: int) -> int | None:
    for i in range(start, limit):
        if text[i].isspace():
            return i
    return None


def _word_end(text: str, end: int, keep: int) -> int:
    """``end`` moved back to the last space before it when it cuts a word, never before ``keep``."""
    if end >= len(text) or text[end].isspace():
        return end
    cut = text.rfind(" ", keep, end)
    return cut if cut > keep else end


def _render(text: str, start: int, end: int, matches: Sequence[Match]) -> Snippet:
    """``text[start:end]`` with whitespace runs made one space and ellipses where cut, and the matches'
    offsets carried into it."""
    out: list[str] = [ELLIPSIS] if text[:start].strip() else []
    at: dict[int, int] = {}  # text offset → snippet offset, for each character kept
    space = False  # a whitespace run is pending: written as one space before the next character
    for i in range(start, end):
        if text[i].isspace():
            space = len(out) > 0 and out != [ELLIPSIS]
            continue
        if space:
            out.append(" ")
            space = False
        at[i] = len(out)
        out.append(text[i])
    if text[end:].strip():
        out.append(ELLIPSIS)
    ranges = [(at[m.start], at[m.end - 1] + 1) for m in matches if m.start in at and m.end - 1 in at]
    return Snippet("".join(out), _merged(ranges))


def _merged(ranges: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return tuple(merged)
