"""Admission for searches: at most ``running`` at once in worker threads, ``queued`` more waiting.

The event loop never runs a model: each search runs in a thread from a bounded pool. When the queue is
full the caller gets a 503 ``busy`` with ``Retry-After`` instead of an ever-growing backlog.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import anyio
import anyio.to_thread

from mmsearch.api.errors import ApiError

T = TypeVar("T")


class Gate:
    def __init__(self, running: int, queued: int) -> None:
        self._limiter = anyio.CapacityLimiter(running)
        self.capacity = running + queued
        self.pending = 0  # only touched on the event loop: no lock needed

    def busy(self) -> bool:
        """Whether searches are running or waiting (read from the ingest worker's thread)."""
        return self.pending > 0

    async def run(self, fn: Callable[[], T]) -> T:
        if self.pending >= self.capacity:
            raise ApiError(
                503,
                "busy",
                f"the server is busy ({self.pending} searches running or queued); retry shortly",
                headers={"Retry-After": "1"},
            )
        self.pending += 1
        try:
            return await anyio.to_thread.run_sync(fn, limiter=self._limiter)
        finally:
            self.pending -= 1
