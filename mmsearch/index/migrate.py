"""Copy a collection between stores: embedded (Qdrant Edge) → a Qdrant server or cluster, a server → the
embedded store, and the old qdrant-client local-mode folder → Qdrant Edge.

Every backend keeps the same schema (``schema.py``: named vectors ``full``/``prefetch``, the stored
payload, the layout), so points are copied as they are — ids, both vectors and payloads — never
re-embedded. The copy walks the source in id order, a page at a time (scroll), and upserts each page;
after every page the next id is written (atomically) to a progress file, so an interrupted copy resumes
where it stopped, and upserts by id make a repeated page harmless. At the end it verifies: the point
counts must be equal, and a sample of points (spread over the id range) must have the same payload and
the same vectors (to 1e-5: a server may store cosine vectors renormalised) on both sides.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mmsearch.errors import StoreError
from mmsearch.index.edge_store import EdgeStore, write_json_atomically
from mmsearch.index.qdrant_store import QdrantStore
from mmsearch.index.schema import FULL, PREFETCH, Layout

log = logging.getLogger(__name__)

AnyStore = EdgeStore | QdrantStore


@dataclass(frozen=True)
class Record:
    """One stored point, as it is stored: its id, named vectors and payload."""

    id: str
    vectors: dict[str, list[float]]
    payload: dict[str, Any]


@dataclass(frozen=True)
class MigrationReport:
    source: str
    target: str
    collection: str
    copied: int  # points upserted by this run
    resumed_from: str | None  # the id this run started from, when it resumed an earlier one
    source_points: int
    target_points: int
    sampled: int
    mismatched: tuple[str, ...]  # ids whose vectors or payload differ

    @property
    def ok(self) -> bool:
        return self.source_points == self.target_points and not self.mismatched


ProgressFn = Callable[[int, int], None]  # (copied so far, source points)


def migrate(
    source: AnyStore,
    target: AnyStore,
    progress_file: Path,
    page: int = 256,
    sample: int = 100,
    on_progress: ProgressFn | None = None,
) -> MigrationReport:
    """Copy ``source``'s collection into ``target`` (created with the same layout), resuming from
    ``progress_file`` if an earlier run was interrupted; then verify."""
    layout = _layout(source)
    _prepare(target, layout)
    state = _read_progress(progress_file, source, target)
    start: str | None = state.get("next")
    total = source.count()
    copied = 0
    offset: Any = start
    while True:
        records, offset = read_page(source, offset, page)
        if records:
            write_records(target, records, layout)
            copied += len(records)
        write_json_atomically(
            progress_file, {**_identity(source, target), "next": offset, "done": offset is None}
        )
        if on_progress is not None:
            on_progress(copied, total)
        if offset is None:
            break
    _carry_fingerprint(source, target)
    report = verify(source, target, sample)
    log.info("copied %d points from %s to %s", copied, report.source, report.target)
    return MigrationReport(
        report.source, report.target, report.collection, copied, start, report.source_points,
        report.target_points, report.sampled, report.mismatched,
    )  # fmt: skip


def verify(source: AnyStore, target: AnyStore, sample: int = 100) -> MigrationReport:
    """Counts equal, and ``sample`` points spread over the ids identical on both sides."""
    source_points, target_points = source.count(), target.count()
    ids = _sample_ids(source, sample)
    theirs = retrieve_records(target, ids)
    mine = retrieve_records(source, ids)
    bad = [i for i in ids if i not in theirs or not same_record(mine[i], theirs[i])]
    return MigrationReport(
        _where(source), _where(target), source.collection, 0, None, source_points, target_points, len(ids),
        tuple(bad),
    )  # fmt: skip


def same_record(a: Record, b: Record) -> bool:
    if a.payload != b.payload or set(a.vectors) != set(b.vectors):
        return False
    return all(np.allclose(a.vectors[k], b.vectors[k], atol=1e-5) for k in a.vectors)


# -- reading and writing raw points, per engine -------------------------------------------------------


def read_page(store: AnyStore, offset: Any, limit: int) -> tuple[list[Record], Any]:
    """Up to ``limit`` points from ``offset`` (an id, or None for the first) in id order, and the next id."""
    if isinstance(store, EdgeStore):
        found, after = store.scroll_page(offset, limit)
        records = [Record(str(r.id), _vectors(r.vector), dict(r.payload or {})) for r in found]
        return records, None if after is None else str(after)
    with store._calling("read points to copy"):
        points, after = store.client.scroll(
            store.collection, offset=offset, limit=limit, with_payload=True, with_vectors=True
        )
    records = [Record(str(p.id), _vectors(p.vector), dict(p.payload or {})) for p in points]
    return records, None if after is None else str(after)


def write_records(store: AnyStore, records: Sequence[Record], layout: Layout) -> None:
    _check_vectors(records, layout)
    if isinstance(store, EdgeStore):
        import qdrant_edge as qe

        store.upsert_raw([qe.Point(r.id, dict(r.vectors), r.payload) for r in records])
        return
    from qdrant_client import models

    structs = [models.PointStruct(id=r.id, vector=dict(r.vectors), payload=r.payload) for r in records]
    with store._calling(f"store {len(structs)} copied points"):
        store.client.upsert(store.collection, points=structs, wait=True)


def retrieve_records(store: AnyStore, ids: Sequence[str]) -> dict[str, Record]:
    if not ids:
        return {}
    if isinstance(store, EdgeStore):
        found = store.retrieve_raw(ids)
        return {str(r.id): Record(str(r.id), _vectors(r.vector), dict(r.payload or {})) for r in found}
    with store._calling(f"read {len(ids)} points to compare"):
        points = store.client.retrieve(store.collection, list(ids), with_payload=True, with_vectors=True)
    return {str(p.id): Record(str(p.id), _vectors(p.vector), dict(p.payload or {})) for p in points}


def _vectors(value: Any) -> dict[str, list[float]]:
    if not isinstance(value, dict) or FULL not in value:
        raise StoreError(f"a stored point has no '{FULL}' vector: not an mmsearch collection")
    return {name: list(map(float, vector)) for name, vector in value.items() if name in (FULL, PREFETCH)}


def _check_vectors(records: Sequence[Record], layout: Layout) -> None:
    for r in records:
        if len(r.vectors[FULL]) != layout.dim or (layout.prefetch_dim is None) != (PREFETCH not in r.vectors):
            raise StoreError(f"point {r.id} does not fit the collection layout {layout.describe()}")


# -- the two collections --------------------------------------------------------------------------------


def _layout(store: AnyStore) -> Layout:
    layout = store.layout() if isinstance(store, EdgeStore) else store._read_layout()
    if layout is None:
        raise StoreError(
            f"nothing to copy: collection '{store.collection}' does not exist at {_where(store)}"
        )
    if layout.model_id is None:
        raise StoreError(f"collection '{store.collection}' at {_where(store)} records no model: not copied")
    return layout


def _prepare(target: AnyStore, layout: Layout) -> None:
    """Create the target collection with the source's layout; an existing one must match it."""
    if target.index.prefetch_dim != layout.prefetch_dim:
        target.index = target.index.model_copy(update={"prefetch_dim": layout.prefetch_dim})
    assert layout.model_id is not None
    target.ensure_collection(layout.model_id, layout.dim)


def _carry_fingerprint(source: AnyStore, target: AnyStore) -> None:
    """The record of how the vectors were made (``index/fingerprint.py``) goes with them."""
    made = source.preprocessing()
    if made is not None:
        target.record_preprocessing(made)


def _sample_ids(store: AnyStore, sample: int) -> list[str]:
    """About ``sample`` ids spread over the collection: every k-th point of one pass over the ids."""
    total = store.count()
    if total == 0 or sample <= 0:
        return []
    step = max(1, total // sample)
    ids: list[str] = []
    offset: Any = None
    seen = 0
    while True:
        records, offset = read_ids(store, offset, 1024)
        ids.extend(r for k, r in enumerate(records, start=seen) if k % step == 0)
        seen += len(records)
        if offset is None or len(ids) >= sample:
            return ids[:sample]


def read_ids(store: AnyStore, offset: Any, limit: int) -> tuple[list[str], Any]:
    if isinstance(store, EdgeStore):
        found, after = store.scroll_page(offset, limit, with_vectors=False, with_payload=False)
        return [str(r.id) for r in found], None if after is None else str(after)
    with store._calling("list point ids"):
        points, after = store.client.scroll(
            store.collection, offset=offset, limit=limit, with_payload=False, with_vectors=False
        )
    return [str(p.id) for p in points], None if after is None else str(after)


def _where(store: AnyStore) -> str:
    return store.location


def _identity(source: AnyStore, target: AnyStore) -> dict[str, str]:
    return {"source": _where(source), "target": _where(target), "collection": source.collection}


def _read_progress(path: Path, source: AnyStore, target: AnyStore) -> dict[str, Any]:
    """An unfinished earlier copy between the same two places: where to resume; else start afresh."""
    try:
        state = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {}
    if (
        not isinstance(state, dict)
        or state.get("done")
        or any(state.get(k) != v for k, v in _identity(source, target).items())
    ):
        return {}
    log.info("resuming the copy to %s from point %s", _where(target), state.get("next"))
    return state
