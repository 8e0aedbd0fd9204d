"""The ingest's writer thread: every point stored, waiting chunks joined into one upsert, a bounded queue
that makes the embedder wait instead of piling up vectors, and the store's errors raised by flush()."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from mmsearch.errors import DimensionMismatch, StoreError
from mmsearch.index.settings import IndexSettings, StoreSettings
from mmsearch.index.store import Payload, Point, Store
from mmsearch.index.store_registry import open_store
from mmsearch.index.writer import StoreWriter


def make_points(start: int, n: int) -> list[Point]:
    rng = np.random.default_rng(start)
    out = []
    for i in range(start, start + n):
        v = rng.normal(size=32)
        payload = Payload(
            doc_id="d", source_path="/d.pdf", modality="page", text="", media_paths=[], content_hash=str(i),
            source_sha256="s", ingest_time=1.0, model_id="m", dim=32, page=i + 1,
        )  # fmt: skip
        out.append(Point(str(uuid.uuid5(uuid.NAMESPACE_OID, str(i))), v / np.linalg.norm(v), payload))
    return out


class Gated:
    """A real store whose upserts wait for a gate, and which records the size of each upsert."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.gate = threading.Event()
        self.sizes: list[int] = []

    def upsert(self, points: Sequence[Point]) -> None:
        self.gate.wait(30)
        self.sizes.append(len(points))
        self.store.upsert(points)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    opened = open_store(StoreSettings(), IndexSettings(), tmp_path / "q")
    opened.ensure_collection("m", 32)
    return opened


def test_every_point_is_stored_and_waiting_chunks_are_joined(store: Store) -> None:
    gated = Gated(store)
    with StoreWriter(gated, depth=8, max_points=256) as writer:  # type: ignore[arg-type]
        for k in range(8):
            writer.put(make_points(k * 4, 4))
        gated.gate.set()
        writer.flush()
        assert store.count() == 32
    assert sum(gated.sizes) == 32 and len(gated.sizes) < 8  # chunks queued behind the first went as one
    store.close()


def test_put_blocks_once_depth_chunks_are_waiting(store: Store) -> None:
    gated = Gated(store)
    writer = StoreWriter(gated, depth=2)  # type: ignore[arg-type]
    writer.put(make_points(0, 1))  # taken by the thread, which waits at the gate
    time.sleep(0.2)
    writer.put(make_points(1, 1))
    writer.put(make_points(2, 1))  # the queue is full now
    blocked = threading.Thread(target=writer.put, args=(make_points(3, 1),))
    blocked.start()
    blocked.join(0.5)
    assert blocked.is_alive(), "put did not wait for room in the queue"
    gated.gate.set()
    blocked.join(10)
    assert not blocked.is_alive()
    writer.flush()
    writer.close()
    assert store.count() == 4
    store.close()


def test_a_store_error_in_the_thread_is_raised_by_flush(store: Store) -> None:
    wrong = make_points(0, 2)
    bad = Point(wrong[0].id, wrong[0].vector, Payload(**{**wrong[0].payload.to_dict(), "model_id": "other"}))
    with pytest.raises(DimensionMismatch, match="embedded by 'other'"), StoreWriter(store) as writer:
        writer.put([bad])
        writer.flush()
    assert store.count() == 0
    store.close()


def test_any_other_failure_becomes_a_store_error(tmp_path: Path) -> None:
    class Broken:
        def upsert(self, points: Sequence[Point]) -> None:
            raise OSError("disk full")

    writer = StoreWriter(Broken())  # type: ignore[arg-type]
    writer.put(make_points(0, 1))
    with pytest.raises(StoreError, match="storing points failed in the writer thread: disk full"):
        writer.flush()
    writer.close()
