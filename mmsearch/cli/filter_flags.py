"""The ``--filter`` grammar of ``mmsearch query`` and ``mmsearch eval``: flags in, one ``Filters`` out.

Each flag is one condition; all must hold::

    KEY=V1,V2        any of the values          modality=page,image   collection=finance
    KEY!=V1,V2       none of them (also !KEY=…)  !collection=legal    name!=draft.pdf
    metadata.K>=X    a range (also >, <=, <)    metadata.year>=2023   metadata.published<2024-07-01

KEY: ``path`` (a folder or file; whole path components), ``modality``, ``doc`` (a document id),
``collection``, ``name``, ``folder`` (of document names; whole components), ``group``, ``metadata.K``; ``after``/``before`` take one date (ingest time,
``after <= t < before``). A comma inside a value is written ``\\,``. A metadata value that reads as a
number matches the number and the same text (``year=2024`` finds 2024 and "2024"); a range bound is a
number or an ISO date (naive = UTC). The same key twice adds its values (any of them); two bounds of one
range make it closed on both sides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from mmsearch.errors import QueryError
from mmsearch.index.conditions import METADATA_PREFIX, Bounds, Scalar, metadata_key
from mmsearch.index.store import Filters

# flag key → ``Filters`` field (``metadata.K`` and after/before are handled apart)
LIST_KEYS = {
    "path": "path_prefix", "modality": "modality", "doc": "doc_id", "collection": "collection",
    "name": "name", "folder": "folder", "group": "groups",
}  # fmt: skip
TIME_KEYS = {"after": "ingested_after", "before": "ingested_before"}
KEYS = (*LIST_KEYS, *TIME_KEYS, "metadata.KEY")
RANGE_OPS = {">=": "gte", ">": "gt", "<=": "lte", "<": "lt"}
FLAG = re.compile(r"(?P<not>!)?(?P<key>[^!=<>]+)(?P<op>!=|>=|<=|=|>|<)(?P<value>.*)", re.DOTALL)
INTEGER = re.compile(r"[+-]?\d{1,18}")
DECIMAL = re.compile(r"[+-]?(\d+\.\d*|\.\d+)([eE][+-]?\d+)?|[+-]?\d+[eE][+-]?\d+")
HELP = (
    "KEY=V1,V2: any of the values; KEY!=V or !KEY=V: none of them; metadata.KEY>=X (also >, <=, <): "
    "a range, X a number or an ISO date. KEY: path, modality (page|image|video), doc, collection, name, "
    "folder, group, metadata.KEY; after=DATE, before=DATE (ingest time). Repeatable; all must hold."
)


@dataclass
class _Side:
    """The conditions of one side (kept, or left out by ``not_``), as ``Filters`` keyword arguments."""

    lists: dict[str, list[str]] = field(default_factory=dict)
    times: dict[str, float] = field(default_factory=dict)
    metadata: dict[str, list[Scalar]] = field(default_factory=dict)
    ranges: dict[str, dict[str, Any]] = field(default_factory=dict)

    def filters(self, not_: Filters | None = None) -> Filters:
        return Filters(
            **{name: tuple(values) for name, values in self.lists.items()},  # type: ignore[arg-type]
            **self.times,  # type: ignore[arg-type]
            metadata=self.metadata or None,
            metadata_ranges={key: Bounds(**b) for key, b in self.ranges.items()} or None,
            not_=not_,
        )

    @property
    def empty(self) -> bool:
        return not (self.lists or self.times or self.metadata or self.ranges)


def parse_filters(items: tuple[str, ...] | list[str]) -> Filters | None:
    """``--filter`` flags → ``Filters`` (None when there are none); a bad flag is a usage error."""
    if not items:
        return None
    kept, left_out = _Side(), _Side()
    for item in items:
        match = FLAG.fullmatch(item.strip())
        if match is None:
            raise _bad(f"{item!r}: expected KEY=VALUE, KEY!=VALUE or metadata.KEY>=VALUE")
        negated = bool(match["not"]) or match["op"] == "!="
        if match["not"] and match["op"] == "!=":
            raise _bad(f"{item!r}: negated twice (write KEY=VALUE)")
        op = "=" if match["op"] == "!=" else match["op"]
        _add(left_out if negated else kept, match["key"].strip(), op, match["value"].strip(), item)
    try:
        return kept.filters(left_out.filters() if not left_out.empty else None)
    except QueryError as exc:
        raise _bad(str(exc)) from exc


def _add(side: _Side, key: str, op: str, value: str, item: str) -> None:
    if not value:
        raise _bad(f"{item!r}: no value after {op!r}")
    if key.startswith(METADATA_PREFIX):
        _add_metadata(side, key[len(METADATA_PREFIX) :], op, value, item)
        return
    if key not in LIST_KEYS and key not in TIME_KEYS:
        raise _bad(f"unknown key {key!r}; valid: {', '.join(KEYS)}")
    if op != "=":
        raise _bad(f"{item!r}: {key} takes = or != (a range is for metadata.KEY; ingest time: after/before)")
    if key in TIME_KEYS:
        if side.times.get(TIME_KEYS[key]) is not None:
            raise _bad(f"{item!r}: {key} given twice")
        side.times[TIME_KEYS[key]] = _date(value, item, "an ISO date").timestamp()
        return
    values = _split(value)
    if key == "path":
        values = [str(Path(v).expanduser().resolve()) for v in values]
    side.lists.setdefault(LIST_KEYS[key], []).extend(values)


def _add_metadata(side: _Side, name: str, op: str, value: str, item: str) -> None:
    try:
        metadata_key(name)
    except QueryError as exc:
        raise _bad(str(exc)) from exc
    if op == "=":
        side.metadata.setdefault(name, []).extend(v for text in _split(value) for v in _typed(text))
        return
    bounds = side.ranges.setdefault(name, {})
    bound = RANGE_OPS[op]
    if bound in bounds:
        raise _bad(f"{item!r}: metadata.{name}{op} given twice")
    number = INTEGER.fullmatch(value) or DECIMAL.fullmatch(value)
    bounds[bound] = float(value) if number else _date(value, item, "a number or an ISO date")


def _typed(text: str) -> list[Scalar]:
    """A metadata value as typed on a command line: the text, and the number it reads as, if any."""
    if INTEGER.fullmatch(text):
        return [text, int(text)]
    if DECIMAL.fullmatch(text):
        return [text, float(text)]
    return [text]


def _split(value: str) -> list[str]:
    parts = [p.replace("\\,", ",").strip() for p in re.split(r"(?<!\\),", value)]
    if any(not p for p in parts):
        raise _bad(f"{value!r}: an empty value in the list")
    return parts


def _date(value: str, item: str, wanted: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise _bad(f"{item!r}: {value!r} is not {wanted} (YYYY-MM-DD[THH:MM])") from exc
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _bad(message: str) -> click.BadParameter:
    return click.BadParameter(message, param_hint="--filter")
