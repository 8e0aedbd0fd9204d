"""Model queues for in-process models: concurrent searches' queries embedded together, reranks in turns.

``EmbedBatcher`` (an ``Embedder``): a search's embed call waits in a queue. One thread takes the calls
that arrived within ``server.query_batch_wait_ms`` of the first waiting one and share its instruction,
at most ``server.query_batch_max`` items (a call is never split; it goes sooner when every search in
flight, ``ticket.in_flight``, already waits: a lone search never waits), and embeds them in one call of the
model (one forward pass while they fit its token budget), then hands each caller its own rows, in the
order it gave them. If the joint call fails, each call is run again alone, so a bad query fails only
its own caller.

``RerankQueue`` (a ``Reranker``): a search's documents are cut into chunks of ``reranker.max_batch_size``
(one forward batch each). One thread runs one chunk of each waiting search in turn (round robin), so a
long rerank delays a short one by at most one chunk per turn and never starves it.

Both take the model's lock (the one ``serial.py`` gives the ingest worker) around each model call
only, so an ingest chunk runs between two batches. Before each batch every request's ticket
(``search.ticket``) is asked whether its caller has gone: such a request fails with
``SearchAbandoned`` instead of reaching the model. The time a request spent queued (from its arrival, or
the end of its previous chunk, to the start of the batch that ran it) is added to its ticket's
``waited_ms``, so the searcher reports queue wait apart from model time.

HTTP backends (sglang, vllm) get neither: they are called concurrently (``parts.py``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

import numpy as np

from mmsearch.errors import EmbedderError, MmsearchError, RerankerError, SearchAbandoned
from mmsearch.index.embedder import Embedder
from mmsearch.index.inputs import Content
from mmsearch.search.reranker import Reranker
from mmsearch.search.ticket import Ticket, current

log = logging.getLogger(__name__)


class _Request:
    """One caller's call, waiting in a queue until the model thread finishes it."""

    def __init__(self, ticket: Ticket | None) -> None:
        self.ticket = ticket
        self.ready = time.perf_counter()  # since when it waits for its next batch
        self.waited_s = 0.0
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None

    def gone(self) -> bool:
        return self.ticket is not None and self.ticket.gone()

    def started(self, at: float) -> None:
        self.waited_s += max(0.0, at - self.ready)

    def finish(self, value: Any = None, error: BaseException | None = None) -> None:
        self.value, self.error = value, error
        self.done.set()

    def result(self) -> Any:
        self.done.wait()
        if self.ticket is not None:
            self.ticket.wait(self.waited_s * 1000.0)
        if self.error is not None:
            raise self.error
        return self.value


class _Queue:
    """A queue served by one daemon thread; ``close`` fails what still waits with ``stopping``."""

    def __init__(self, name: str, lock: AbstractContextManager[Any], stopping: type[MmsearchError]) -> None:
        self._lock = lock
        self._stopping = stopping
        self._cond = threading.Condition()
        self._waiting: deque[Any] = deque()
        self._closed = False
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def _submit(self, request: _Request) -> Any:
        with self._cond:
            if self._closed:
                raise self._stopping("the server is shutting down: the model takes no more work")
            self._waiting.append(request)
            self._cond.notify_all()
        return request.result()

    def _serve(self) -> None:
        while True:
            with self._cond:
                while not self._waiting and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
            try:
                self._step()
            except Exception:  # a bug here must not kill the thread and hang every later search
                log.exception("the model queue %s failed a step", self._thread.name)

    def _step(self) -> None:
        raise NotImplementedError

    @staticmethod
    def _abandoned(request: _Request) -> bool:
        if request.gone():
            request.finish(error=SearchAbandoned("the client left; its search stopped before the model ran"))
            return True
        return False

    def close(self) -> None:
        """Stop the thread after the batch it runs; every request still queued fails (503)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join()
        with self._cond:
            left, self._waiting = list(self._waiting), deque()
        for request in left:
            request.finish(error=self._stopping("the server is shutting down; retry on another replica"))


class _Embedding(_Request):
    def __init__(self, ticket: Ticket | None, items: Sequence[Content], instruction: str) -> None:
        super().__init__(ticket)
        self.items = list(items)
        self.instruction = instruction


class EmbedBatcher(_Queue):
    """``inner`` (an in-process embedder) as an ``Embedder`` whose concurrent calls share forward passes."""

    def __init__(
        self,
        inner: Embedder,
        lock: AbstractContextManager[Any],
        *,
        max_items: int,
        wait_ms: float,
        in_flight: Callable[[], int] | None = None,
    ) -> None:
        """``in_flight``: how many callers could still join a batch (None: always wait ``wait_ms``)."""
        if max_items < 1 or wait_ms < 0:
            raise ValueError(f"max_items must be ≥ 1 and wait_ms ≥ 0 (got {max_items}, {wait_ms})")
        self.inner = inner
        self.dim = inner.dim
        self.model_id = inner.model_id
        self.max_items = max_items
        self.wait_s = wait_ms / 1000.0
        self.in_flight = in_flight
        self.batches = 0  # model calls made (for benchmarks and tests)
        self.largest = 0  # the most queries one of them embedded
        super().__init__("mmsearch-embed-batcher", lock, EmbedderError)

    def embed(self, items: Sequence[Content], instruction: str) -> np.ndarray:
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors: np.ndarray = self._submit(_Embedding(current(), items, instruction))
        return vectors

    def _step(self) -> None:
        batch = self._gather()
        live = [request for request in batch if not self._abandoned(request)]
        if live:
            self._run(live)

    def _gather(self) -> list[_Embedding]:
        """The first waiting call and those after it with its instruction, within the wait and size bounds."""
        with self._cond:
            first: _Embedding = self._waiting[0]
            deadline = first.ready + self.wait_s
            while not self._closed and self._count(first.instruction) < self.max_items:
                if self.in_flight is not None and len(self._waiting) >= self.in_flight():
                    break  # every search that could join is already here
                left = deadline - time.perf_counter()
                if left <= 0:
                    break
                self._cond.wait(left)
            taken: list[_Embedding] = []
            size = 0
            media = False
            for request in list(self._waiting):
                if request.instruction != first.instruction:
                    continue
                if taken and size + len(request.items) > self.max_items:
                    break
                if media and _has_media(request):
                    continue  # one query with images or a clip per batch: its activations dwarf a text's
                taken.append(request)
                size += len(request.items)
                media = media or _has_media(request)
            for request in taken:
                self._waiting.remove(request)
            return taken

    def _count(self, instruction: str) -> int:
        return sum(len(r.items) for r in self._waiting if r.instruction == instruction)

    def _run(self, batch: list[_Embedding]) -> None:
        items = [item for request in batch for item in request.items]
        try:
            with self._lock:
                started = time.perf_counter()
                vectors = self.inner.embed(items, batch[0].instruction)
            self.batches, self.largest = self.batches + 1, max(self.largest, len(items))
        except Exception as exc:  # noqa: BLE001 - handed to its caller, who raises it
            if len(batch) == 1:
                batch[0].finish(error=exc)
                return
            for request in batch:  # each alone: only the bad one's caller sees the error
                self._run([request])
            return
        row = 0
        for request in batch:
            request.started(started)
            request.finish(value=vectors[row : row + len(request.items)])
            row += len(request.items)


class _Scoring(_Request):
    def __init__(
        self,
        ticket: Ticket | None,
        query: Content,
        documents: Sequence[Content],
        instruction: str | None,
        chunk: int,
    ) -> None:
        super().__init__(ticket)
        self.query = query
        self.documents = list(documents)
        self.instruction = instruction
        self.chunks = [range(i, min(i + chunk, len(documents))) for i in range(0, len(documents), chunk)]
        self.scores: list[float] = []


class RerankQueue(_Queue):
    """``inner`` (an in-process reranker) as a ``Reranker`` that serves concurrent searches chunk by chunk,
    in turns."""

    def __init__(self, inner: Reranker, lock: AbstractContextManager[Any], *, chunk: int) -> None:
        if chunk < 1:
            raise ValueError(f"chunk must be ≥ 1 (got {chunk})")
        self.inner = inner
        self.model_id = inner.model_id
        self.chunk = chunk
        super().__init__("mmsearch-rerank-queue", lock, RerankerError)

    def score(
        self,
        query: Content,
        documents: Sequence[Content],
        instruction: str | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> list[float]:
        """``cancelled`` is this search's ticket's ``gone`` (``Searcher.search`` puts it there), asked before
        each of its chunks."""
        if not documents:
            return self.inner.score(query, documents, instruction)  # its checks, no model call
        scores: list[float] = self._submit(_Scoring(current(), query, documents, instruction, self.chunk))
        return scores

    def _step(self) -> None:
        with self._cond:
            request: _Scoring = self._waiting.popleft()
        if self._abandoned(request):
            return
        chunk = request.chunks[len(request.scores) // self.chunk]
        try:
            with self._lock:
                started = time.perf_counter()
                scores = self.inner.score(
                    request.query, request.documents[chunk.start : chunk.stop], request.instruction
                )
        except Exception as exc:  # noqa: BLE001 - handed to its caller, who raises it
            request.finish(error=exc)
            return
        request.started(started)
        request.scores.extend(scores)
        if len(request.scores) >= len(request.documents):
            request.finish(value=request.scores)
            return
        request.ready = time.perf_counter()
        with self._cond:
            self._waiting.append(request)  # behind every search that waits: one chunk per turn


def _has_media(request: _Embedding) -> bool:
    """Whether a query carries images or a video clip. Such queries are never batched with each other: a
    batch's activation memory grows with its visual tokens, and N query images at once would take N times
    one's peak (the server bounds decoded images to ``max_concurrent_decodes`` for the same reason);
    text queries join any batch."""
    return any(item.images or item.video is not None for item in request.items)
