"""Waiting for a job without polling: requests that wait on a job wake when the job list writes it.

The job list (``job_store.py``) tells its watchers the id of every job it writes, from whichever thread
wrote it (the ingest worker, a cancel); ``JobWatch.notify`` is that watcher, and wakes, on its own event
loop, each request subscribed to that job. A long poll (``GET /v1/jobs/{id}?wait=30``) and an event
stream (``GET /v1/jobs/{id}/events``) subscribe *before* they read the job, so a write between the read and
the wait is never missed; they also read again every ``RECHECK_S`` whatever they heard, so a write this
process was not told of (another process sharing the job list) is seen late, never lost.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

RECHECK_S = 2.0


class JobWatch:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}

    def notify(self, job_id: str) -> None:
        """The job list wrote ``job_id``: wake whoever waits on it (safe from any thread)."""
        with self._lock:
            waiting = list(self._waiting.get(job_id, ()))
        for loop, event in waiting:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # that loop has closed: its request is gone
                continue

    @contextmanager
    def subscribe(self, job_id: str) -> Iterator[asyncio.Event]:
        """An event set whenever ``job_id`` is written, while the block runs (call it on the event loop;
        clear the event before each read)."""
        entry = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiting.setdefault(job_id, set()).add(entry)
        try:
            yield entry[1]
        finally:
            with self._lock:
                waiting = self._waiting.get(job_id)
                if waiting is not None:
                    waiting.discard(entry)
                    if not waiting:
                        del self._waiting[job_id]

    @property
    def subscribers(self) -> int:
        with self._lock:
            return sum(len(w) for w in self._waiting.values())


async def changed(event: asyncio.Event, timeout: float) -> bool:
    """Wait until ``event`` is set, at most ``timeout`` (and at most ``RECHECK_S``) seconds; whether it was."""
    try:
        await asyncio.wait_for(event.wait(), max(0.0, min(timeout, RECHECK_S)))
    except TimeoutError:
        return False
    return True
