"""Serialised access to parts that are not thread-safe: in-process models and the embedded store.

``serialised(part, lock)`` returns a stand-in whose every method call runs while holding ``lock``.
Searches (in worker threads) and an ingest (in its own thread) share one lock, so they interleave call
by call — a search waits for at most one embedding chunk of an ingest, never for the whole file — and
the event loop itself never blocks on a model.

A part that locks its own forward pass (it has a ``model_lock``: the in-process embedder and reranker,
which keep their processor to one thread by a lock of their own) is given ``lock`` as that lock instead,
and its calls are not wrapped: only the forward pass holds ``lock``, and a call's CPU preprocessing
(prompt, resizing, the processor's patchify) runs while another call's forward holds the model.
"""

from __future__ import annotations

import functools
from contextlib import AbstractContextManager, nullcontext
from typing import Any, TypeVar, cast

T = TypeVar("T")


class _Serialised:
    def __init__(self, target: object, lock: AbstractContextManager[Any]) -> None:
        self._target = target
        self._lock = lock
        self._inside = hasattr(target, "model_lock")  # the part takes ``lock`` around its forward only
        if self._inside:
            target.model_lock = lock  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if not callable(value):
            return value

        @functools.wraps(value)
        def call(*args: Any, **kwargs: Any) -> Any:
            with nullcontext() if self._inside else self._lock:
                return value(*args, **kwargs)

        return call

    def __repr__(self) -> str:
        return f"serialised({self._target!r})"


def serialised(target: T, lock: AbstractContextManager[Any]) -> T:
    """``target``, with each method call made under ``lock`` (an ``RLock``: calls may nest); a target with
    a ``model_lock`` is given ``lock`` as that, and holds it around its forward passes only."""
    return cast(T, _Serialised(target, lock))
