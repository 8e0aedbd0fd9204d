"""The in-process models behind ``serialised`` (api/services/serial.py): the shared lock is held around
the forward pass only, so a call's CPU preprocessing (the processor's tokenising and patchify) runs while
another call holds the model — and the vectors and scores are bit-identical to an uncontended call."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
from PIL import Image

from mmsearch import components
from mmsearch.api.services.serial import serialised
from mmsearch.index.inputs import Content
from mmsearch.index.transformers_embedder import TransformersEmbedder
from mmsearch.search.transformers_reranker import TransformersReranker
from tests.support import tiny_settings

T = TypeVar("T")
INSTRUCTION = "Find a document image that matches the given query."


class WatchedProcessor:
    """The real processor; ``called`` is set once a batch goes through it (the CPU preprocessing)."""

    def __init__(self, processor: Any) -> None:
        self._processor = processor
        self.called = threading.Event()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.called.set()
        return self._processor(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._processor, name)


def picture(seed: int) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 255, size=(64, 96, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def while_the_model_is_held(part: Any, call: Callable[[Any], T]) -> tuple[bool, T]:
    """Run ``call`` in a thread while this thread holds the lock ``serialised`` gave ``part``; whether the
    processor ran before the lock was released, and what the call returned."""
    lock = threading.RLock()
    wrapped = serialised(part, lock)
    watched = WatchedProcessor(part.processor)
    part.processor = watched
    out: list[T] = []
    try:
        with lock:
            thread = threading.Thread(target=lambda: out.append(call(wrapped)))
            thread.start()
            preprocessed = watched.called.wait(60)
            assert thread.is_alive()  # the forward waits for the lock
        thread.join(120)
    finally:
        part.processor = watched._processor
    return preprocessed, out[0]


@pytest.fixture(scope="module")
def settings(tiny_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return tiny_settings(tmp_path_factory.mktemp("serial") / "data", tiny_models)


def test_an_embedding_preprocesses_while_another_call_holds_the_model(settings: Any) -> None:
    embedder = components.build_embedder(settings)
    assert isinstance(embedder, TransformersEmbedder)
    items = [Content(text="a heron in shallow water", images=(picture(1),)), Content(text="ledger audit")]
    alone = embedder.embed(items, INSTRUCTION)
    preprocessed, held = while_the_model_is_held(embedder, lambda e: e.embed(items, INSTRUCTION))
    assert preprocessed, "the processor waited for the model's lock"
    assert np.array_equal(held, alone)  # bit-identical


def test_a_rerank_preprocesses_while_another_call_holds_the_model(settings: Any) -> None:
    reranker = components.build_reranker(settings)
    assert isinstance(reranker, TransformersReranker)
    query = Content(text="a heron in shallow water")
    documents = [
        Content(images=(picture(2),)),
        Content(text="quarterly ledger"),
        Content(images=(picture(3),)),
    ]
    alone = reranker.score(query, documents)
    preprocessed, held = while_the_model_is_held(reranker, lambda r: r.score(query, documents))
    assert preprocessed, "the processor waited for the model's lock"
    assert held == alone  # bit-identical


def test_concurrent_embeddings_through_one_processor_equal_one_at_a_time(settings: Any) -> None:
    """Two threads share the processor (its fast tokenizer changes its truncation state per call) and the
    model: each gets exactly what it gets alone."""
    embedder = components.build_embedder(settings)
    wrapped = serialised(embedder, threading.RLock())
    batches = [[Content(text=f"query {i} " * (i + 1)), Content(images=(picture(i),))] for i in range(6)]
    alone = [embedder.embed(batch, INSTRUCTION) for batch in batches]
    out: dict[int, np.ndarray] = {}
    threads = [
        threading.Thread(target=lambda i=i: out.__setitem__(i, wrapped.embed(batches[i], INSTRUCTION)))
        for i in range(len(batches))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert all(np.array_equal(out[i], alone[i]) for i in range(len(batches)))
