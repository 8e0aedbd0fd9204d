"""Admission for searches: at most ``running`` at once in worker threads, ``queued`` more waiting.

The event loop never runs a model: each search runs in a thread from a bounded pool. When the queue is
full the caller gets a 503 ``busy`` with ``Retry-After`` instead of an ever-growing backlog.

A search is admitted (``admit``) before its body is read, so at most ``running + queued`` bodies are
ever in memory at once, and once a running place is free (``work``) it first asks whether its client is
still there: a search whose client gave up while it queued is dropped before any model work (499). While
it runs, a watcher asks again every ``WATCH_S`` and sets the search's ``stop`` event once the client has
gone; the search stops before its next model batch (``Searcher.search(cancelled=...)``), freeing the model
for the searches behind it.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import anyio
import anyio.to_thread

from mmsearch.api.errors import ApiError

T = TypeVar("T")

CLIENT_GONE = 499  # nginx's "client closed request": never seen by the client, counted in /metrics
WATCH_S = 0.1  # how often a running search asks whether its client is still there


class Gate:
    def __init__(self, running: int, queued: int) -> None:
        self._limiter = anyio.CapacityLimiter(running)
        self.capacity = running + queued
        self.pending = 0  # only touched on the event loop: no lock needed

    def busy(self) -> bool:
        """Whether searches are running or waiting (read from the ingest worker's thread)."""
        return self.pending > 0

    @asynccontextmanager
    async def admit(self) -> AsyncIterator[None]:
        """Hold one of the ``running + queued`` places, or raise 503 ``busy`` when none is left."""
        if self.pending >= self.capacity:
            raise ApiError(
                503,
                "busy",
                f"the server is busy ({self.pending} searches running or queued); retry shortly",
                headers={"Retry-After": "1"},
            )
        self.pending += 1
        try:
            yield
        finally:
            self.pending -= 1

    async def work(
        self,
        fn: Callable[[], T],
        gone: Callable[[], Awaitable[bool]] | None = None,
        stop: threading.Event | None = None,
    ) -> T:
        """Run ``fn`` in a worker thread once a running place is free, unless ``gone()`` says by then
        that nobody waits for the answer (then 499, and ``fn`` never starts). With ``stop``: ``gone()`` is
        asked every ``WATCH_S`` while ``fn`` runs, and ``stop`` set once it says so (``fn`` checks it
        between its model batches: ``Searcher.search(cancelled=stop.is_set)``)."""
        async with self._limiter:
            if gone is not None and await gone():
                raise ApiError(CLIENT_GONE, "client_gone", "the client left before its search started")
            if gone is None or stop is None:
                return await anyio.to_thread.run_sync(fn)
            failed: BaseException | None = None
            async with anyio.create_task_group() as watchers:
                watchers.start_soon(_watch, gone, stop)
                try:
                    result = await anyio.to_thread.run_sync(fn)
                except Exception as exc:  # noqa: BLE001 - raised below as itself, not in an ExceptionGroup
                    failed = exc
                finally:
                    watchers.cancel_scope.cancel()
            if failed is not None:
                raise failed
            return result

    async def run(self, fn: Callable[[], T], gone: Callable[[], Awaitable[bool]] | None = None) -> T:
        """``admit`` and ``work`` in one."""
        async with self.admit():
            return await self.work(fn, gone)


async def _watch(gone: Callable[[], Awaitable[bool]], stop: threading.Event) -> None:
    while not await gone():
        await anyio.sleep(WATCH_S)
    stop.set()
