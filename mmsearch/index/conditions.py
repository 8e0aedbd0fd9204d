"""The engine-neutral filter algebra: conditions on a point's payload, and their translation into an engine's
own filter types.

A ``Condition`` is a leaf — ``AnyOf`` (the payload value, or one of its list elements, equals one of
``values``), ``Range`` (numbers, or datetimes compared as ISO 8601), ``IsEmpty`` (the key is missing,
null or an empty list) — or a combination: ``All`` (every part holds), ``Either`` (at least one does),
``Not`` (the part does not hold). ``compile_filter`` turns one into an engine's filter through the four
builders each store gives (``Builders``); the Qdrant engines share the semantics above: a ``Filter`` is
itself a condition, so nesting is kept as it is written.

Two facts of the engines (tested in tests/index/test_conditions.py): an ``AnyOf`` with no values matches
nothing (Qdrant's ``MatchAny([])``), and Qdrant Edge 0.9's Python binding reads ``True``/``False`` in a
match as the integers 1/0, so a boolean never matches there: ``compile_filter`` refuses it for an engine
that says so (``Builders.booleans``) rather than answering nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from mmsearch.errors import QueryError
from mmsearch.ingest.names import METADATA_KEY  # a key ingest accepts is one a filter can name

Scalar = str | int | float | bool
Bound = float | datetime

METADATA_PREFIX = "metadata."
NOTHING_KEY = "doc_id"  # any key: an any-of with no values matches no point


@dataclass(frozen=True)
class AnyOf:
    key: str
    values: tuple[Scalar, ...]


@dataclass(frozen=True)
class Bounds:
    """A range: numbers (unix times for ``ingest_time``) or timezone-aware datetimes, never both."""

    gte: Bound | None = None
    gt: Bound | None = None
    lte: Bound | None = None
    lt: Bound | None = None

    def __post_init__(self) -> None:
        given = [b for b in (self.gte, self.gt, self.lte, self.lt) if b is not None]
        if not given:
            raise QueryError("a range needs at least one of gte, gt, lte, lt")
        if any(isinstance(b, bool) for b in given):
            raise QueryError("a range bound is a number or a date, not true/false")
        kinds = {isinstance(b, datetime) for b in given}
        if len(kinds) > 1:
            raise QueryError("a range mixes numbers and dates: give all its bounds the same kind")
        for name in ("gte", "gt", "lte", "lt"):
            value = getattr(self, name)
            if isinstance(value, datetime) and value.tzinfo is None:
                object.__setattr__(self, name, value.replace(tzinfo=UTC))
            elif isinstance(value, int | float) and not math.isfinite(value):
                raise QueryError(f"range bound {name}={value} is not a finite number")
        low = self.gte if self.gte is not None else self.gt
        high = self.lte if self.lte is not None else self.lt
        if low is not None and high is not None:
            both_closed = self.gte is not None and self.lte is not None
            if low > high or (low == high and not both_closed):  # type: ignore[operator]
                raise QueryError(f"range is empty: nothing is above {_text(low)} and below {_text(high)}")

    @property
    def dates(self) -> bool:
        return any(isinstance(b, datetime) for b in (self.gte, self.gt, self.lte, self.lt))

    def as_numbers(self) -> Bounds:
        """The same range with dates as unix times (for ``ingest_time``, stored as a number)."""
        return Bounds(*(_unix(b) for b in (self.gte, self.gt, self.lte, self.lt)))

    def limits(self) -> dict[str, Any]:
        """The four bounds as a store's range takes them (``gte=``, ``gt=``, ``lte=``, ``lt=``): ISO
        strings for dates, floats for numbers, None where unset."""
        return {name: _limit(getattr(self, name)) for name in ("gte", "gt", "lte", "lt")}


def _limit(value: Bound | None) -> str | float | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, datetime) else float(value)


@dataclass(frozen=True)
class Range:
    key: str
    bounds: Bounds


@dataclass(frozen=True)
class IsEmpty:
    key: str


@dataclass(frozen=True)
class All:
    parts: tuple[Condition, ...]


@dataclass(frozen=True)
class Either:
    parts: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    part: Condition


Condition = AnyOf | Range | IsEmpty | All | Either | Not

C = TypeVar("C")  # an engine's condition
F = TypeVar("F")  # an engine's filter (itself a condition in both Qdrant engines)


@dataclass(frozen=True)
class Builders(Generic[C, F]):
    """How one engine writes the leaves and the boolean filter."""

    match: Callable[[str, Scalar], C]  # payload ``key`` equals the value (or holds it in a list)
    match_any: Callable[[str, list[str] | list[int]], C]  # one of these (all str or all int)
    range: Callable[[str, Bounds], C]
    is_empty: Callable[[str], C]
    filter: Callable[[list[C | F], list[C | F], list[C | F]], F]  # (must, should, must_not)
    booleans: bool = True  # whether a true/false match works in this engine
    engine: str = field(default="this store")
    # the text-indexed payload ``key`` holds the words of the phrase, in order (the lexical stage's quoted
    # phrases; Qdrant's ``MatchPhrase``, which needs the field's text index made with ``phrase_matching``)
    phrase: Callable[[str, str], C] | None = None


def compile_filter(condition: Condition, build: Builders[C, F]) -> F:
    """``condition`` as the engine's filter."""
    if isinstance(condition, All):
        return build.filter([_part(p, build) for p in condition.parts], [], [])
    if isinstance(condition, Either):
        if not condition.parts:  # an empty ``should`` would match everything: nothing matches none
            return build.filter([build.match_any(NOTHING_KEY, [])], [], [])
        return build.filter([], [_part(p, build) for p in condition.parts], [])
    if isinstance(condition, Not):
        return build.filter([], [], [_part(condition.part, build)])
    return build.filter([_part(condition, build)], [], [])


def _part(condition: Condition, build: Builders[C, F]) -> C | F:
    if isinstance(condition, AnyOf):
        return _any_of(condition, build)
    if isinstance(condition, Range):
        return build.range(condition.key, condition.bounds)
    if isinstance(condition, IsEmpty):
        return build.is_empty(condition.key)
    return compile_filter(condition, build)


def _any_of(condition: AnyOf, build: Builders[C, F]) -> C | F:
    """Strings and integers as one ``MatchAny`` each; a float as a closed range on itself (Qdrant matches
    no float by value); booleans one by one. Several kinds: any of them (``should``)."""
    key, values = condition.key, condition.values
    flags = [v for v in values if isinstance(v, bool)]
    if flags and not build.booleans:
        raise QueryError(
            f"{build.engine} cannot match true/false values (filter on {key!r}): qdrant-edge 0.9 reads them "
            'as 1/0. Store such metadata as a string ("yes"), or use a Qdrant server (store.url).'
        )
    texts = [v for v in values if isinstance(v, str)]
    whole = [v for v in values if isinstance(v, int) and not isinstance(v, bool)]
    fractions = [v for v in values if isinstance(v, float)]
    parts: list[C | F] = []
    if texts or not values:  # no values: MatchAny([]) matches nothing
        parts.append(build.match(key, texts[0]) if len(texts) == 1 else build.match_any(key, texts))
    if whole:
        parts.append(build.match(key, whole[0]) if len(whole) == 1 else build.match_any(key, whole))
    parts += [build.range(key, Bounds(gte=v, lte=v)) for v in fractions]
    parts += [build.match(key, v) for v in dict.fromkeys(flags)]
    return parts[0] if len(parts) == 1 else build.filter([], parts, [])


def conjunction(parts: Sequence[Condition]) -> Condition | None:
    """All of ``parts`` (None when there are none; the part itself when there is one)."""
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else All(tuple(parts))


def metadata_key(key: str) -> str:
    """The payload path of metadata ``key``, refused unless it is a plain key (``METADATA_KEY``)."""
    if not isinstance(key, str) or not METADATA_KEY.fullmatch(key):
        raise QueryError(f"metadata key {key!r} cannot be filtered on: use 1-64 letters, digits, '_' or '-'")
    return METADATA_PREFIX + key


def _unix(value: Bound | None) -> float | None:
    if isinstance(value, datetime):
        return value.timestamp()
    return None if value is None else float(value)


def _text(value: Bound) -> str:
    return value.isoformat() if isinstance(value, datetime) else f"{value:g}"
