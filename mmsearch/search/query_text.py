"""A query's words as the lexical (BM25) stage takes them: the words to score and the quoted phrases.

``lexical_query('invoice "part 7731-B" total')`` is ``Lexical(text='invoice part 7731-B total',
phrases=('part 7731-B',))``: every word is scored, and a point is a lexical candidate only when it holds
each quoted phrase, its words in order (the store's text index splits both sides the same way, with the
collection's tokenizer, stemmer and stopwords). Straight and curly double quotes both quote; a quote
left open is an ordinary character. Bounded: at most ``MAX_LEXICAL_CHARS`` of text are scored (a longer
query is cut at a word boundary: a pasted paragraph still searches by its start) and at most
``MAX_PHRASES`` phrases, past which the query is refused.
"""

from __future__ import annotations

import re

from mmsearch.errors import QueryError
from mmsearch.index.store import Lexical

MAX_LEXICAL_CHARS = 1024
MAX_PHRASES = 8
_QUOTED = re.compile(r"[\"“”]([^\"“”]*)[\"“”]")
_WORD = re.compile(r"\w", re.UNICODE)


def lexical_query(text: str | None) -> Lexical | None:
    """The lexical half of a search for ``text``; None when it has no word to search by."""
    if not text or not _WORD.search(text):
        return None
    phrases = tuple(dict.fromkeys(p for p in (_plain(m) for m in _QUOTED.findall(text)) if _WORD.search(p)))
    if len(phrases) > MAX_PHRASES:
        raise QueryError(f"the query quotes {len(phrases)} phrases; at most {MAX_PHRASES}")
    words = _plain(_QUOTED.sub(lambda m: f" {m.group(1)} ", text))
    return Lexical(text=_cut(words), phrases=tuple(_cut(p) for p in phrases))


def _plain(text: str) -> str:
    return " ".join(text.split())


def _cut(text: str) -> str:
    if len(text) <= MAX_LEXICAL_CHARS:
        return text
    head = text[:MAX_LEXICAL_CHARS]
    return head.rsplit(" ", 1)[0] if " " in head else head
