"""The long-lived parts the API owns: store, embedder, reranker, and the searcher that joins them.

Built once (at startup, by the app's lifespan or by ``mmsearch serve`` before it binds) through
``mmsearch.components``, and closed once at shutdown. The store comes first, so a store held by another
process fails with ``StoreLocked`` before any model loads.

In-process models are not thread-safe: each is wrapped so its forward passes run one at a time under
its own lock (``serial.py``; their preprocessing runs outside it, under the part's processor lock). With
``server.query_batching`` (the default) searches reach an in-process model through its queue instead
(``batcher.py``: concurrent queries embedded in one batch, reranks in turns), whose model calls take the
same lock around each forward pass, so ingest chunks still interleave with searches. HTTP backends
(sglang, vllm) are called concurrently. Searches and ingests share one copy of each model.

The ingest worker (``worker.JobRunner``) is one of these parts: it starts last (after reconciling what
an unclean stop left behind, so nothing half-done is served) and stops first.
"""

from __future__ import annotations

import logging
import threading
from contextlib import AbstractContextManager, ExitStack, nullcontext
from dataclasses import dataclass, field
from typing import Any

from mmsearch import components
from mmsearch.api.services.batcher import EmbedBatcher, RerankQueue
from mmsearch.api.services.serial import serialised
from mmsearch.api.services.worker import JobRunner
from mmsearch.config import Settings
from mmsearch.index.embedder import Embedder
from mmsearch.index.store import Store
from mmsearch.ingest.manifest import Manifest
from mmsearch.search.reranker import Reranker
from mmsearch.search.searcher import Searcher
from mmsearch.search.ticket import in_flight

log = logging.getLogger(__name__)

# Backends that are HTTP clients of a model server: safe to call from several threads at once.
CONCURRENT_BACKENDS = frozenset({"sglang", "vllm"})


@dataclass
class Services:
    settings: Settings
    store: Store
    embedder: Embedder
    reranker: Reranker | None
    queues: tuple[EmbedBatcher | RerankQueue, ...] = ()  # the models' search queues (batcher.py), if any
    searcher: Searcher = field(init=False)
    jobs: JobRunner = field(init=False)
    # Held open for the server's life: SQLite removes a WAL database's -wal and -shm files when its last
    # connection closes, and the next read-only reader (a search) must then create them, which fails on a
    # full disk ("disk I/O error"). With this one open they stay, and reads need no new block.
    _manifest: Manifest | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        embedder = next((q for q in self.queues if isinstance(q, EmbedBatcher)), self.embedder)
        reranker = next((q for q in self.queues if isinstance(q, RerankQueue)), self.reranker)
        self.searcher = components.build_searcher(self.settings, embedder, self.store, reranker)
        self.jobs = JobRunner(self.settings, self.store, self.embedder)
        self._manifest = components.build_manifest(self.settings)

    def close(self) -> None:
        """Close every part: the ingest worker first, the store last, so nothing writes to a closed store."""
        try:
            self.jobs.stop()
        except Exception:  # shutting down: log and carry on closing the rest
            log.exception("stopping the ingest worker failed")
        for queue in self.queues:
            queue.close()
        for part in (self.reranker, self.embedder):
            closer = getattr(part, "close", None)
            if callable(closer):
                try:
                    closer()
                except Exception:  # shutting down: log and carry on closing the rest
                    log.exception("closing %r failed", part)
        if self._manifest is not None:
            self._manifest.close()
        self.store.close()


def _guard(backend: str) -> AbstractContextManager[Any]:
    return nullcontext() if backend in CONCURRENT_BACKENDS else threading.RLock()


def open_services(settings: Settings) -> Services:
    """Build the parts named in ``settings``; on any failure, close what was already opened."""
    with ExitStack() as undo:
        store = components.build_store(settings)
        undo.callback(store.close)
        model = components.build_embedder(settings)
        embedder_lock = _guard(settings.embedding.backend)
        embedder = serialised(model, embedder_lock)
        store.ensure_collection(embedder.model_id, embedder.dim)
        queues: tuple[EmbedBatcher | RerankQueue, ...] = _queues(settings, model, embedder_lock)
        for queue in queues:
            undo.callback(queue.close)
        judge = components.build_reranker(settings)
        reranker = None
        if judge is not None:
            reranker_lock = _guard(settings.reranker.backend)
            reranker = serialised(judge, reranker_lock)
            for queue in _rerank_queue(settings, judge, reranker_lock):
                undo.callback(queue.close)
                queues += (queue,)
        services = Services(
            settings=settings, store=store, embedder=embedder, reranker=reranker, queues=queues
        )
        undo.callback(services.jobs.stop)
        services.jobs.start()  # reconciles first
        undo.pop_all()
    log.info(
        "serving collection %s: embedder %s (dim %d), reranker %s",
        settings.store.collection, embedder.model_id, embedder.dim, reranker.model_id if reranker else "none",
    )  # fmt: skip
    return services


def _queues(
    settings: Settings, model: Embedder, lock: AbstractContextManager[Any]
) -> tuple[EmbedBatcher, ...]:
    """The embedder's search queue, when searches are batched and the model runs in this process."""
    server = settings.server
    if not server.query_batching or settings.embedding.backend in CONCURRENT_BACKENDS:
        return ()
    batcher = EmbedBatcher(
        model, lock, max_items=server.query_batch_max, wait_ms=server.query_batch_wait_ms, in_flight=in_flight
    )
    return (batcher,)


def _rerank_queue(
    settings: Settings, model: Reranker, lock: AbstractContextManager[Any]
) -> tuple[RerankQueue, ...]:
    """The reranker's search queue, when searches are batched and the model runs in this process."""
    if not settings.server.query_batching or settings.reranker.backend in CONCURRENT_BACKENDS:
        return ()
    return (RerankQueue(model, lock, chunk=settings.reranker.max_batch_size),)
