"""The query's terms as snippets and highlights match them, and where they occur in a unit's text.

A query's text becomes ``Terms``: its words (stopwords left out when it has other words) and its quoted
phrases (``"gross margin"``, straight or curly quotes), each word reduced to a key: Unicode-folded (NFKD,
accents dropped, ``casefold``) and lightly stemmed by ``stem``, a conservative English suffix rule in the
spirit of the store's Snowball stemmer (``reports``, ``reported``, ``reporting`` → ``report``;
``policies`` → ``policy``), so a page BM25 found by an inflected form shows that form marked. A phrase
matches where its words' keys follow each other in the text.

Tokens are runs of letters and digits (``[^\\W_]+``), as the store's word tokenizer splits them. The work
is bounded whatever a query or a text holds: ``MAX_QUERY_CHARS`` of a query are read, at most
``MAX_TERMS`` words and phrases (``MAX_PHRASE_WORDS`` words each) kept, ``MAX_SCAN_CHARS`` of a text
scanned and its first ``MAX_MATCHES`` matches kept.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

MAX_QUERY_CHARS = 4096
MAX_TERMS = 32
MAX_PHRASE_WORDS = 12
MAX_SCAN_CHARS = 50_000
MAX_MATCHES = 2_000

_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
_PHRASE = re.compile(r"[\"“”„«»](.*?)(?:[\"“”„«»]|$)", re.DOTALL)
_VOWELS = frozenset("aeiouy")
# Function words a query's loose words skip (a quoted phrase keeps them): the common core of the English
# stopword lists (Snowball's, Lucene's), so "the revenue of the quarter" marks revenue and quarter only.
_STOPWORDS = (
    "a about above after again against all am an and any are as at be because been before being below "
    "between both but by can did do does doing down during each few for from further had has have having "
    "he her here hers herself him himself his how i if in into is it its itself just me more most my "
    "myself no nor not now of off on once only or other our ours ourselves out over own same she should so "
    "some such than that the their theirs them themselves then there these they this those through to too "
    "under until up very was we were what when where which while who whom why will with would you your "
    "yours yourself yourselves"
)
STOPWORDS = frozenset(_STOPWORDS.split())


@dataclass(frozen=True)
class Terms:
    """A query's words (keys, distinct, in query order) and quoted phrases (tuples of keys)."""

    words: tuple[str, ...] = ()
    phrases: tuple[tuple[str, ...], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.words or self.phrases)

    @property
    def count(self) -> int:
        """How many distinct terms: each word and each phrase counts one."""
        return len(self.words) + len(self.phrases)


@dataclass(frozen=True)
class Match:
    """One occurrence of a term in a text: ``text[start:end]``; ``term`` indexes the words, then the
    phrases, of the ``Terms`` matched (``len(words) + i`` for phrase ``i``)."""

    start: int
    end: int
    term: int


@lru_cache(maxsize=1 << 16)  # a page's words repeat, and so do a corpus's: most lookups are hits
def key(word: str) -> str:
    """A word as it is compared: accents dropped, case folded, lightly stemmed."""
    if word.isascii():
        return stem(word.lower())
    decomposed = unicodedata.normalize("NFKD", word)
    folded = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return stem(folded)


def stem(word: str) -> str:
    """A conservative English suffix rule: plural ``-s``/``-es``/``-ies``, ``-ed`` and ``-ing`` off, then
    ``-eed`` → ``-ee``, a doubled final consonant undoubled and a final ``e`` off, so the forms of one word
    share a key (``make``/``makes``/``making`` → ``mak``; ``stopped`` → ``stop``; ``agreed`` → ``agre``).
    Words with digits or under four letters stay as they are."""
    if len(word) < 4 or not word.isalpha():
        return word
    base = _strip_suffix(word)
    if base.endswith("eed"):
        base = base[:-1]
    if len(base) > 3 and base[-1] == base[-2] and base[-1] not in "lsz" and base[-1] not in _VOWELS:
        base = base[:-1]  # running → runn → run; stopped → stopp → stop
    if len(base) > 3 and base.endswith("e"):
        base = base[:-1]
    return base


def _strip_suffix(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("sses"):
        return word[:-2]
    if word.endswith("es") and word[:-2].endswith(("s", "x", "z", "ch", "sh")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    for suffix in ("ing", "ed"):
        base = word[: -len(suffix)]
        if word.endswith(suffix) and not word.endswith("eed") and len(base) >= 3 and _VOWELS & set(base):
            return base
    return word


def query_terms(text: str | None) -> Terms:
    """The terms of a query's text: quoted phrases (two or more words; one quoted word is a word), then
    the other words, stopwords dropped unless nothing else is left. Bounded (``MAX_*``)."""
    text = (text or "")[:MAX_QUERY_CHARS]
    phrases: list[tuple[str, ...]] = []
    loose: list[str] = []
    for quoted in _PHRASE.findall(text):
        words = tuple(key(w) for w in _TOKEN.findall(quoted)[:MAX_PHRASE_WORDS])
        if len(words) > 1 and words not in phrases:
            phrases.append(words)
        elif len(words) == 1:
            loose.append(words[0])
    loose += [key(w) for w in _TOKEN.findall(_PHRASE.sub(" ", text))]
    keys = list(dict.fromkeys(loose))
    kept = [k for k in keys if k not in STOPWORDS] or keys
    phrases = phrases[:MAX_TERMS]
    return Terms(tuple(kept[: MAX_TERMS - len(phrases)]), tuple(phrases))


def find(text: str, terms: Terms) -> list[Match]:
    """The occurrences of ``terms`` in the first ``MAX_SCAN_CHARS`` of ``text``, in text order, at most
    ``MAX_MATCHES``."""
    if not terms or not text:
        return []
    tokens = [(m.start(), m.end(), key(m.group())) for m in _TOKEN.finditer(text, 0, MAX_SCAN_CHARS)]
    if tokens and tokens[-1][1] == MAX_SCAN_CHARS < len(text):
        tokens.pop()  # a word the scan's end cut in two
    words = {word: i for i, word in enumerate(terms.words)}
    found = [Match(s, e, words[k]) for s, e, k in tokens if k in words]
    for p, phrase in enumerate(terms.phrases, start=len(terms.words)):
        found += _phrase_matches(tokens, phrase, p)
    found.sort(key=lambda m: (m.start, m.end))
    return found[:MAX_MATCHES]


def _phrase_matches(tokens: list[tuple[int, int, str]], phrase: tuple[str, ...], term: int) -> list[Match]:
    n = len(phrase)
    return [
        Match(tokens[i][0], tokens[i + n - 1][1], term)
        for i in range(len(tokens) - n + 1)
        if tokens[i][2] == phrase[0] and all(tokens[i + j][2] == phrase[j] for j in range(1, n))
    ]
