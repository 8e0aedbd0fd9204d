"""``lexical_query``: a query's words and quoted phrases for the lexical stage, bounded."""

from __future__ import annotations

import pytest

from mmsearch.errors import QueryError
from mmsearch.index.store import Lexical
from mmsearch.search.query_text import MAX_LEXICAL_CHARS, MAX_PHRASES, lexical_query


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("gross margin", Lexical("gross margin")),
        ('invoice "part 7731-B"  total', Lexical("invoice part 7731-B total", ("part 7731-B",))),
        ("“net revenue” and “Q3”", Lexical("net revenue and Q3", ("net revenue", "Q3"))),
        ('"a b" "a b"', Lexical("a b a b", ("a b",))),  # one phrase once
        ('an open "quote', Lexical('an open "quote')),  # unmatched: an ordinary character
        ('"" empty ""', Lexical("empty")),  # an empty pair quotes nothing
        ("quroroni1", Lexical("quroroni1")),
    ],
)
def test_words_and_phrases(text: str, expected: Lexical) -> None:
    assert lexical_query(text) == expected


@pytest.mark.parametrize("text", [None, "", "   ", "?! …", '""'])
def test_no_words_is_no_lexical_half(text: str | None) -> None:
    assert lexical_query(text) is None


def test_bounds() -> None:
    long = lexical_query("word " * 1000)
    assert long is not None and len(long.text) <= MAX_LEXICAL_CHARS and long.text.endswith("word")
    assert lexical_query(" ".join(f'"p{i}"' for i in range(MAX_PHRASES))) is not None
    with pytest.raises(QueryError, match=f"at most {MAX_PHRASES}"):
        lexical_query(" ".join(f'"p{i}"' for i in range(MAX_PHRASES + 1)))
