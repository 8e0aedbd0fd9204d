"""``select``: a score floor, collapsing by a key, and pages that are slices of one list."""

from __future__ import annotations

import pytest

from mmsearch.errors import QueryError
from mmsearch.search.selection import MAX_PAGE_END, Selection, select

SCORES = [0.9, 0.8, 0.8, 0.7, 0.5, 0.4, 0.2]
KEYS = ["a", "a", "b", "c", "b", "d", "e"]


def page(selection: Selection, order: list[int] | None = None) -> tuple[list[int], bool]:
    picked = select(order or list(range(len(SCORES))), SCORES.__getitem__, KEYS.__getitem__, selection)
    return list(picked.chosen), picked.more


@pytest.mark.parametrize(
    ("options", "whole"),
    [
        ({}, [0, 1, 2, 3, 4, 5, 6]),
        ({"min_score": 0.5}, [0, 1, 2, 3, 4]),
        ({"collapse": "document"}, [0, 2, 3, 5, 6]),
        ({"collapse": "content", "min_score": 0.45}, [0, 2, 3]),
    ],
)
def test_pages_are_consecutive_slices_of_one_list(options: dict[str, object], whole: list[int]) -> None:
    assert page(Selection(top_k=100, **options)) == (whole, False)  # type: ignore[arg-type]
    for size in (1, 2, 3):
        pages, offset, more = [], 0, True
        while more:
            chosen, more = page(Selection(top_k=size, offset=offset, **options))  # type: ignore[arg-type]
            pages.append(chosen)
            offset += size
        assert [i for chosen in pages for i in chosen] == whole
        assert all(len(chosen) == size for chosen in pages[:-1]) and pages[-1]


def test_a_longer_input_only_appends() -> None:
    """What the searcher's widening relies on: a prefix of the order gives a prefix of the list."""
    selection = Selection(top_k=2, collapse="document")
    assert page(selection, [0, 1, 2]) == ([0, 2], False)
    assert page(selection, [0, 1, 2, 3]) == ([0, 2], True)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"top_k": 0}, "top_k must be ≥ 1"),
        ({"top_k": 1, "offset": -1}, "offset ≥ 0"),
        ({"top_k": 2, "offset": MAX_PAGE_END - 1}, f"at most {MAX_PAGE_END}"),
        ({"top_k": 1, "collapse": "page"}, "not one of document, content"),
    ],
)
def test_bad_selections_are_refused(options: dict[str, object], message: str) -> None:
    with pytest.raises(QueryError, match=message):
        Selection(**options)  # type: ignore[arg-type]
