"""The model queues (``api/services/batcher.py``) on the tiny models: batched query vectors equal the
one-at-a-time ones, a bad query fails only its caller, batches stay bounded and in order, reranks take
turns, abandoned searches never reach the model, queue wait is reported, and shutdown fails what waits."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from api_support import Indexed, live_server
from PIL import Image

from mmsearch.api.services.batcher import EmbedBatcher, RerankQueue
from mmsearch.api.services.serial import serialised
from mmsearch.errors import EmbedderError, SearchAbandoned, UnprocessableInput
from mmsearch.index.inputs import Content
from mmsearch.index.settings import DEFAULT_QUERY_INSTRUCTION, EmbeddingSettings
from mmsearch.index.transformers_embedder import TransformersEmbedder
from mmsearch.search.settings import RerankerSettings
from mmsearch.search.ticket import Ticket, holding, in_flight
from mmsearch.search.transformers_reranker import TransformersReranker

INSTRUCTION = DEFAULT_QUERY_INSTRUCTION
TEXTS = [
    "ledger",
    "quarterly revenue by region in the third quarter",
    "a bird on a branch",
    "a much longer query about the annual report's cash flow statement, its notes and the auditor",
    "x",
]


class Recording:
    """The real model, with a record of every call it gets (what was batched with what)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.dim: int = getattr(inner, "dim", 0)
        self.calls: list[list[str]] = []

    def embed(self, items: Sequence[Content], instruction: str) -> np.ndarray:
        self.calls.append([item.text or "<image>" for item in items])
        vectors: np.ndarray = self.inner.embed(items, instruction)
        return vectors

    def score(
        self,
        query: Content,
        documents: Sequence[Content],
        instruction: str | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> list[float]:
        self.calls.append([query.text or "", str(len(documents))])
        scores: list[float] = self.inner.score(query, documents, instruction)
        return scores


@pytest.fixture(scope="module")
def embedder(tiny_models: Path) -> TransformersEmbedder:
    return TransformersEmbedder(EmbeddingSettings(model=str(tiny_models / "embedding"), device="cpu"))


@pytest.fixture(scope="module")
def reranker(tiny_models: Path) -> TransformersReranker:
    return TransformersReranker(RerankerSettings(model=str(tiny_models / "reranker"), device="cpu"))


@pytest.fixture
def lock() -> threading.RLock:
    return threading.RLock()


@pytest.fixture
def closing() -> Iterator[list[EmbedBatcher | RerankQueue]]:
    queues: list[EmbedBatcher | RerankQueue] = []
    yield queues
    for queue in queues:
        queue.close()


def _in_threads(calls: list[Callable[[], Any]], gap_s: float = 0.0) -> list[Any]:
    """Run each call in its own thread (``gap_s`` apart); their results or exceptions, in call order."""
    out: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        try:
            out[i] = calls[i]()
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
        time.sleep(gap_s)
    for thread in threads:
        thread.join(120)
    return out


def _image(w: int, h: int) -> Image.Image:
    rng = np.random.default_rng(w * h)
    return Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))


def test_batched_query_vectors_equal_one_at_a_time(
    embedder: TransformersEmbedder, lock: threading.RLock, closing: list[Any]
) -> None:
    """Six queries of different lengths (one an image) from six threads go through one model call; each
    caller gets its own vector, equal to the vector of its query embedded alone (right padding, the
    last real token pooled)."""
    model = Recording(embedder)
    queries = [Content(text=t) for t in TEXTS] + [Content(text="a photo", images=(_image(64, 48),))]
    batcher = EmbedBatcher(model, lock, max_items=len(queries), wait_ms=10_000)  # full batch goes at once
    closing.append(batcher)
    out = _in_threads([partial(batcher.embed, [q], INSTRUCTION) for q in queries])
    assert len(model.calls) == 1 and len(model.calls[0]) == len(queries)
    for query, got in zip(queries, out, strict=True):
        alone = embedder.embed([query], INSTRUCTION)
        assert got.shape == (1, embedder.dim)
        np.testing.assert_allclose(got, alone, atol=1e-5)
    assert not np.allclose(out[0], out[1], atol=1e-3)  # the queries really differ


def test_a_bad_query_fails_only_its_caller(
    embedder: TransformersEmbedder, lock: threading.RLock, closing: list[Any]
) -> None:
    model = Recording(embedder)
    sliver = Content(images=(Image.new("RGB", (1, 300)),))  # aspect ratio 300 > qwen-vl-utils' 200
    queries = [Content(text=TEXTS[0]), sliver, Content(text=TEXTS[1]), Content(text=TEXTS[2])]
    batcher = EmbedBatcher(model, lock, max_items=len(queries), wait_ms=10_000)
    closing.append(batcher)
    out = _in_threads([partial(batcher.embed, [q], INSTRUCTION) for q in queries])
    assert isinstance(out[1], UnprocessableInput) and "cannot be processed" in str(out[1])
    for i in (0, 2, 3):
        np.testing.assert_allclose(out[i], embedder.embed([queries[i]], INSTRUCTION), atol=1e-5)
    assert len(model.calls[0]) == 4 and all(len(call) == 1 for call in model.calls[1:])  # then each alone


def test_batches_are_bounded_in_order_and_report_their_wait(
    embedder: TransformersEmbedder, lock: threading.RLock, closing: list[Any]
) -> None:
    """While the model is busy (the test holds its lock, as an ingest chunk would) five queries arrive;
    they go in arrival order, at most two per call, and each ticket holds the time it waited."""
    model = Recording(embedder)
    batcher = EmbedBatcher(model, lock, max_items=2, wait_ms=0)
    closing.append(batcher)
    tickets = [Ticket() for _ in TEXTS]

    def search(i: int) -> np.ndarray:
        with holding(tickets[i]):
            return batcher.embed([Content(text=TEXTS[i])], INSTRUCTION)

    with lock:
        held = time.perf_counter()
        results: list[Any] = []
        runner = threading.Thread(
            target=lambda: results.extend(_in_threads([partial(search, i) for i in range(5)], gap_s=0.05))
        )
        runner.start()
        time.sleep(0.6)
    runner.join(120)
    held_ms = (time.perf_counter() - held) * 1000
    assert [text for call in model.calls for text in call] == TEXTS
    assert all(1 <= len(call) <= 2 for call in model.calls) and len(model.calls) >= 3
    for i, got in enumerate(results):
        np.testing.assert_allclose(got, embedder.embed([Content(text=TEXTS[i])], INSTRUCTION), atol=1e-5)
    assert tickets[0].queued == 1 and 400 < tickets[0].waited_ms < held_ms  # it waited for the lock


def test_reranks_take_turns_chunk_by_chunk(
    reranker: TransformersReranker, lock: threading.RLock, closing: list[Any]
) -> None:
    """A rerank of ten documents is under way when one of two arrives: the short one runs after the long
    one's current chunk, not after all five; every score equals the one-call score."""
    model = Recording(reranker)
    queue = RerankQueue(model, lock, chunk=2)
    closing.append(queue)
    documents = [Content(text=f"document {i} about " + TEXTS[i % len(TEXTS)]) for i in range(10)]
    long, short = Content(text="long"), Content(text="short")
    with lock:
        out = []
        runner = threading.Thread(
            target=lambda: out.extend(
                _in_threads(
                    [lambda: queue.score(long, documents), lambda: queue.score(short, documents[:2])],
                    gap_s=0.2,
                )
            )
        )
        runner.start()
        time.sleep(0.5)
    runner.join(120)
    assert [call[0] for call in model.calls] == ["long", "short", "long", "long", "long", "long"]
    assert all(call[1] == "2" for call in model.calls)
    np.testing.assert_allclose(out[0], reranker.score(long, documents), atol=1e-5)
    np.testing.assert_allclose(out[1], reranker.score(short, documents[:2]), atol=1e-5)
    assert queue.score(short, []) == []


def test_an_abandoned_search_stops_before_its_next_model_batch(
    embedder: TransformersEmbedder, reranker: TransformersReranker, lock: threading.RLock, closing: list[Any]
) -> None:
    embed_model, rerank_model = Recording(embedder), Recording(reranker)
    batcher = EmbedBatcher(embed_model, lock, max_items=4, wait_ms=0)
    queue = RerankQueue(rerank_model, lock, chunk=2)
    closing += [batcher, queue]
    with holding(Ticket(gone=lambda: True)), pytest.raises(SearchAbandoned) as gone:
        batcher.embed([Content(text="never embedded")], INSTRUCTION)
    assert gone.value.http_status == 499 and embed_model.calls == []

    chunks_run = len(rerank_model.calls)
    left = Ticket(gone=lambda: len(rerank_model.calls) > chunks_run)  # the client leaves after one chunk
    documents = [Content(text=f"document {i}") for i in range(8)]
    with holding(left), pytest.raises(SearchAbandoned):
        queue.score(Content(text="q"), documents)
    assert len(rerank_model.calls) == chunks_run + 1  # one chunk (of four), then it stopped


def test_serialised_models_report_lock_wait_and_abandonment(embedder: TransformersEmbedder) -> None:
    lock = threading.RLock()
    model = serialised(Recording(embedder), lock)
    ticket = Ticket()
    with lock:
        worker = threading.Thread(target=lambda: _search_with(ticket, model))
        worker.start()
        time.sleep(0.3)
    worker.join(60)
    assert ticket.queued == 1 and ticket.waited_ms >= 250
    with holding(Ticket(gone=lambda: True)), pytest.raises(SearchAbandoned):
        model.embed([Content(text="q")], INSTRUCTION)


def _search_with(ticket: Ticket, model: Any) -> None:
    with holding(ticket):
        model.embed([Content(text="q")], INSTRUCTION)


def test_close_fails_what_waits_and_refuses_more(
    embedder: TransformersEmbedder, lock: threading.RLock
) -> None:
    model = Recording(embedder)
    batcher = EmbedBatcher(model, lock, max_items=1, wait_ms=0)
    with lock:
        out: list[Any] = []
        runner = threading.Thread(
            target=lambda: out.extend(
                _in_threads(
                    [partial(batcher.embed, [Content(text=t)], INSTRUCTION) for t in TEXTS[:2]], gap_s=0.1
                )
            )
        )
        runner.start()
        deadline = time.monotonic() + 30
        while [r.items[0].text for r in batcher._waiting] != [TEXTS[1]]:  # the first taken, the second queued
            assert time.monotonic() < deadline
            time.sleep(0.01)
        closer = threading.Thread(target=batcher.close)
        closer.start()
        time.sleep(0.1)
    closer.join(60)
    runner.join(60)
    assert isinstance(out[0], np.ndarray)  # the batch under way finishes
    assert isinstance(out[1], EmbedderError) and "shutting down" in str(out[1])
    assert out[1].http_status == 503
    with pytest.raises(EmbedderError, match="shutting down"):
        batcher.embed([Content(text="late")], INSTRUCTION)


@pytest.mark.parametrize(("max_items", "wait_ms"), [(0, 1.0), (4, -1.0)])
def test_bad_bounds_are_refused(embedder: TransformersEmbedder, max_items: int, wait_ms: float) -> None:
    with pytest.raises(ValueError, match="max_items must be"):
        EmbedBatcher(embedder, threading.RLock(), max_items=max_items, wait_ms=wait_ms)


def test_concurrent_searches_get_the_hits_of_serial_ones(indexed: Indexed) -> None:
    """Through a real server: six searches (reranked) sent at once get the hits, in the order and with
    the scores, that they get one after another; the response reports queue wait apart from model time."""
    services = indexed.services
    assert {type(q) for q in services.queues} == {EmbedBatcher, RerankQueue}  # batching is the default
    assert isinstance(services.searcher.embedder, EmbedBatcher)
    texts = ["quarterly report", "birds field guide", "landscape photo", "moving block", "ledger", "revenue"]
    with live_server(indexed.app()) as server:

        def search(text: str) -> dict[str, Any]:
            reply = httpx.post(
                f"{server.url}/v1/search",
                json={"text": text, "top_k": 4, "candidates": 6},
                headers={"Origin": server.url},
                timeout=120,
            )
            assert reply.status_code == 200, reply.text
            body: dict[str, Any] = reply.json()
            return body

        serial = [search(text) for text in texts]
        batched_before = services.queues[0].batches if isinstance(services.queues[0], EmbedBatcher) else 0
        concurrent = _in_threads([partial(search, text) for text in texts])
    for alone, together in zip(serial, concurrent, strict=True):
        assert isinstance(together, dict), together
        assert [h["point_id"] for h in together["hits"]] == [h["point_id"] for h in alone["hits"]]
        np.testing.assert_allclose(
            [h["score"] for h in together["hits"]], [h["score"] for h in alone["hits"]], atol=1e-5
        )
        assert together["reranked"] and alone["hits"]
        timings = together["timings_ms"]
        assert {"embed", "embed_wait", "rerank", "rerank_wait", "search", "total"} <= set(timings)
        assert timings["embed_wait"] >= 0 and timings["embed"] > 0
    embedder = services.queues[0]
    assert isinstance(embedder, EmbedBatcher) and embedder.batches > batched_before


def test_a_lone_search_does_not_wait_for_company(
    embedder: TransformersEmbedder, lock: threading.RLock
) -> None:
    """With ``in_flight`` (the API passes ``ticket.in_flight``) a batch goes as soon as every search in
    flight waits in it: one search alone is embedded at once, not after the (here 60 s) wait."""
    batcher = EmbedBatcher(embedder, lock, max_items=8, wait_ms=60_000, in_flight=in_flight)
    try:
        started = time.monotonic()
        with holding():
            assert in_flight() == 1
            vector = batcher.embed([Content(text=TEXTS[0])], INSTRUCTION)
        assert time.monotonic() - started < 30 and in_flight() == 0
        np.testing.assert_allclose(vector, embedder.embed([Content(text=TEXTS[0])], INSTRUCTION), atol=1e-5)
    finally:
        batcher.close()
