"""Upserts in a writer thread, so the embedder never waits on the store.

The ingest loop hands each embedded chunk to ``StoreWriter.put`` and goes on embedding the next one;
one thread takes chunks off a bounded queue and upserts them, joining whatever is already waiting into
one call (up to ``max_points``). The queue's bound caps the memory held by vectors not yet written
(``depth`` chunks): a store slower than the embedder makes ``put`` wait instead of piling up.

``flush`` waits until everything handed over is stored and raises the writer's error, if any, in the
caller's thread — the ingest calls it before deleting a document's stale points and before the manifest
marks the file done, so the crash-safety order (points stored → file marked done) is unchanged.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence
from types import TracebackType
from typing import Self

from mmsearch.errors import StoreError
from mmsearch.index.store import Point, Store

_STOP = None


class StoreWriter:
    """One writer thread in front of ``store.upsert``. Use as a context manager."""

    def __init__(self, store: Store, depth: int = 4, max_points: int = 256) -> None:
        self.store = store
        self.max_points = max_points
        self._queue: queue.Queue[list[Point] | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="mmsearch-store-writer", daemon=True)
        self._thread.start()

    def put(self, points: Sequence[Point]) -> None:
        """Queue ``points`` for upsert; blocks while ``depth`` chunks are already waiting."""
        self._raise()
        if points:
            self._queue.put(list(points))

    def flush(self) -> None:
        """Wait until every queued point is stored; raise the first error the writer met."""
        self._queue.join()
        self._raise()

    def close(self) -> None:
        """Stop the thread after the queued points are stored (errors are not raised here)."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
        if kind is None:
            self._raise()

    def _work(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                self._queue.task_done()
                return
            batch, taken, stop = first, 1, False
            while len(batch) < self.max_points:  # join what is already waiting into one upsert
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                taken += 1
                if more is _STOP:
                    stop = True
                    break
                batch = batch + more
            try:
                if self._error is None:  # after a failure the rest is dropped: flush raises it
                    self.store.upsert(batch)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread by flush()
                self._error = exc
            finally:
                for _ in range(taken):
                    self._queue.task_done()
            if stop:
                return

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            if isinstance(error, StoreError):
                raise error
            raise StoreError(f"storing points failed in the writer thread: {error}") from error
