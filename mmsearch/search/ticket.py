"""A search's ticket: how long its model calls waited in a queue, and whether its caller still wants it.

The model queues (``api/services/batcher.py``) and the serialised models (``api/services/serial.py``) read
the ticket of the thread that calls them (``current()``): before each model batch they ask ``gone()`` and
raise :class:`~mmsearch.errors.SearchAbandoned` instead of running it, and they add the time the call
waited for the model to ``waited_ms``. The searcher holds a ticket for every search (``holding``), so it
can report queue wait apart from model time; a caller that knows when its client has left (the API)
passes its own ticket with a ``gone`` check.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

_CURRENT: ContextVar[Ticket | None] = ContextVar("mmsearch_search_ticket", default=None)
_COUNT = threading.Lock()
_in_flight = 0  # searches in this process holding a ticket now


def _never() -> bool:
    return False


@dataclass
class Ticket:
    gone: Callable[[], bool] = field(default=_never)  # True once nobody waits for the answer
    waited_ms: float = 0.0  # time this search's model calls spent queued (not running), so far
    queued: int = 0  # model calls that went through a queue or lock (and reported their wait), so far

    def wait(self, ms: float) -> None:
        self.waited_ms += ms
        self.queued += 1


def current() -> Ticket | None:
    """The ticket of the search running in this thread (or context), if any."""
    return _CURRENT.get()


@contextmanager
def holding(ticket: Ticket | None = None) -> Iterator[Ticket]:
    """Make ``ticket`` (else the one already held, else a new one) this context's ticket."""
    global _in_flight
    outermost = _CURRENT.get() is None
    held = ticket or _CURRENT.get() or Ticket()
    token = _CURRENT.set(held)
    if outermost:
        with _COUNT:
            _in_flight += 1
    try:
        yield held
    finally:
        _CURRENT.reset(token)
        if outermost:
            with _COUNT:
                _in_flight -= 1


def in_flight() -> int:
    """Searches in this process holding a ticket now: a batch need not wait for more queries than this."""
    return _in_flight
