"""The reranking seam: one Protocol, the checks every backend shares, and the name → backend registry.

Backends (one module each, imported only when chosen by ``reranker.backend``):

    transformers  mmsearch.search.transformers_reranker.TransformersReranker   in-process, CPU or GPU
    vllm          mmsearch.search.vllm_reranker.VLLMReranker                   HTTP client (/rerank)
    sglang        mmsearch.search.sglang_reranker.SGLangReranker               HTTP client (/v1/rerank)
    none          no reranker: the searcher keeps the vector order and says so

Every backend returns one relevance score in [0, 1] per document, in the documents' order: the
Qwen3-VL-Reranker's ``sigmoid(logit("yes") − logit("no"))`` for the last prompt token.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from mmsearch.errors import ConfigError, QueryError, RerankerError
from mmsearch.index.inputs import Content
from mmsearch.search.settings import RerankerSettings

NONE = "none"
BACKENDS: dict[str, tuple[str, str]] = {
    "transformers": ("mmsearch.search.transformers_reranker", "TransformersReranker"),
    "vllm": ("mmsearch.search.vllm_reranker", "VLLMReranker"),
    "sglang": ("mmsearch.search.sglang_reranker", "SGLangReranker"),
}


@runtime_checkable
class Reranker(Protocol):
    """Judges how well each document answers a query."""

    model_id: str  # what produced the scores; reported with every reranked result

    def score(
        self,
        query: Content,
        documents: Sequence[Content],
        instruction: str | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> list[float]:
        """One score in [0, 1] per document, same order; ``[]`` for no documents.

        ``instruction`` replaces the configured task instruction for this call (None = configured).
        ``cancelled``: asked before each model batch; True stops the call there (``SearchAbandoned``), so
        a search whose client has gone frees the model at its next batch."""
        ...


def backend_names() -> list[str]:
    return sorted([*BACKENDS, NONE])


def make_reranker(settings: RerankerSettings) -> Reranker | None:
    """The backend named by ``reranker.backend``, built from its settings; ``None`` for ``none``."""
    if settings.backend == NONE:
        return None
    try:
        module_name, class_name = BACKENDS[settings.backend]
    except KeyError:
        raise ConfigError(
            f"reranker.backend: unknown backend {settings.backend!r}; valid: {', '.join(backend_names())}"
        ) from None
    backend = getattr(importlib.import_module(module_name), class_name)
    reranker: Reranker = backend(settings)
    return reranker


def check_query(query: Content) -> None:
    """An empty query cannot be judged against anything."""
    if query.is_empty:
        raise QueryError("empty rerank query: give some text, an image, or a video clip")


def check_scores(scores: Sequence[float], expected: int, source: str) -> list[float]:
    """Scores from a backend, checked: one finite number in [0, 1] per document (``source`` names the
    backend or server in the error)."""
    values = [float(s) for s in scores]
    if len(values) != expected:
        raise RerankerError(f"{source} returned {len(values)} scores for {expected} documents")
    bad = [(i, s) for i, s in enumerate(values) if not (math.isfinite(s) and 0.0 <= s <= 1.0)]
    if bad:
        index, value = bad[0]
        raise RerankerError(
            f"{source} returned score {value!r} for document {index}; scores must lie in [0, 1] "
            f"({len(bad)} bad of {expected})"
        )
    return values
