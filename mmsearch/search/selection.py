"""Which ranked points become a search's hits: a score floor, one hit per document or content, a page.

A search ranks its points (reranked, or in the store's order), then ``select`` walks that order: it
drops each point scored below ``min_score``, and with ``collapse`` each point whose document
(``"document"``) or content hash (``"content"``: the same bytes under two names) an earlier, better
point already stands for; what is left is one list, and a page is its slice ``[offset, offset + top_k)``.

Pages are stable: the same query over the same points gives the same list, so consecutive offsets
neither overlap nor leave a gap. A longer input only appends to the list (a prefix of the order gives
a prefix of the list), which is what lets the searcher fetch more points when a floor or collapse left
too few, without reordering what it had.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from mmsearch.errors import QueryError

Collapse = Literal["document", "content"]
COLLAPSES: tuple[Collapse, ...] = get_args(Collapse)
MAX_PAGE_END = 1000  # offset + top_k: how deep one query may be paged


@dataclass(frozen=True)
class Selection:
    """A page of a ranked list, after a score floor and collapsing. ``min_score`` applies to the score
    the ranking used (``Hit.score``)."""

    top_k: int
    offset: int = 0
    min_score: float | None = None
    collapse: Collapse | None = None

    def __post_init__(self) -> None:
        if self.top_k < 1 or self.offset < 0:
            raise QueryError(f"top_k must be ≥ 1 and offset ≥ 0 (got {self.top_k}, {self.offset})")
        if self.end > MAX_PAGE_END:
            raise QueryError(
                f"offset + top_k is {self.end}; a query is paged to at most {MAX_PAGE_END} hits deep: "
                "narrow it with filters instead"
            )
        if self.collapse is not None and self.collapse not in COLLAPSES:
            raise QueryError(f"collapse {self.collapse!r} is not one of {', '.join(COLLAPSES)}")

    @property
    def end(self) -> int:
        return self.offset + self.top_k

    @property
    def narrows(self) -> bool:
        """Whether points may be left out before the page is cut (so more may have to be fetched)."""
        return self.min_score is not None or self.collapse is not None


@dataclass(frozen=True)
class Page:
    """The chosen positions (into the ranked input, best first) and whether hits follow this page."""

    chosen: tuple[int, ...]
    more: bool
    kept: int  # points kept before the page was cut (at most ``end + 1``)


def select(
    order: Sequence[int],
    score: Callable[[int], float],
    key: Callable[[int], str],
    selection: Selection,
) -> Page:
    """The page of ``order`` (positions, best first): ``score(i)`` is what ``min_score`` is held to,
    ``key(i)`` the document id or content hash that ``collapse`` keeps one of."""
    floor, seen, kept = selection.min_score, set(), []
    for i in order:
        if floor is not None and score(i) < floor:
            continue
        if selection.collapse is not None:
            k = key(i)
            if k in seen:
                continue
            seen.add(k)
        kept.append(i)
        if len(kept) > selection.end:  # one past the page: enough to know more follow
            break
    chosen = tuple(kept[selection.offset : selection.end])
    return Page(chosen=chosen, more=len(kept) > selection.end, kept=len(kept))
