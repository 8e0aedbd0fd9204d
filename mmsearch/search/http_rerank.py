"""What the two HTTP rerankers (vLLM ``/rerank``, SGLang ``/v1/rerank``) share: the query/document parts
they send, the client, chunking the documents by ``reranker.max_batch_size`` and putting the server's
answers back in document order (:class:`HttpReranker`). A backend adds only its request body and how its
answer is read."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import httpx

from mmsearch.errors import QueryError, RerankerError, SearchAbandoned
from mmsearch.index.embedder import describe
from mmsearch.index.http_client import JsonClient
from mmsearch.index.inputs import Content
from mmsearch.index.media_encoding import openai_parts
from mmsearch.search import rerank_prompt
from mmsearch.search.reranker import check_query, check_scores
from mmsearch.search.settings import RerankerSettings


def side_parts(
    content: Content, role: str, error: type[Exception] = RerankerError, *, even_frames: bool = False
) -> list[dict[str, Any]]:
    """One side (query or document) as OpenAI-style parts: the official side items without their prefix
    (``even_frames``: videos padded to an even frame count, for SGLang)."""
    try:
        return openai_parts(rerank_prompt.side_items(content, "")[1:], even_frames=even_frames)
    except ValueError as exc:
        raise error(f"{role} ({describe(content)}): {exc}") from exc


def scores_by_index(
    indexes: Sequence[int], scores: Sequence[float], expected: int, where: str
) -> list[float]:
    """Scores put back in document order; every index in ``range(expected)`` exactly once."""
    if sorted(indexes) != list(range(expected)):
        raise RerankerError(
            f"{where} returned results for documents {sorted(indexes)[:10]} but was sent {expected}; "
            "each document must be scored exactly once"
        )
    ordered = [0.0] * expected
    for index, score in zip(indexes, scores, strict=True):
        ordered[index] = score
    return ordered


class HttpReranker:
    """Scores through a server at ``reranker.url``. A subclass names its ``server`` and ``path`` and writes
    ``request`` (the body for one chunk of documents) and ``results`` (an answer as ``(index, score)``
    pairs, any order)."""

    server: ClassVar[str]  # names it in errors, e.g. "vLLM reranker server"
    path: ClassVar[str]
    even_frames: ClassVar[bool] = False  # pad videos to an even frame count (SGLang re-samples odd ones)

    def __init__(self, settings: RerankerSettings, *, transport: httpx.BaseTransport | None = None) -> None:
        self.settings = settings
        self.model_id = settings.model
        self.client = JsonClient.for_backend(
            settings, server=self.server, setting="reranker.url", error=RerankerError, transport=transport
        )

    def score(
        self,
        query: Content,
        documents: Sequence[Content],
        instruction: str | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> list[float]:
        check_query(query)
        if not documents:
            return []
        instruction = rerank_prompt.instruction_or_default(instruction, self.settings.instruction)
        query_parts = side_parts(query, "the rerank query", QueryError, even_frames=self.even_frames)
        size = self.settings.max_batch_size
        chunks = [range(start, min(start + size, len(documents))) for start in range(0, len(documents), size)]
        bodies = [
            self.request(query_parts, [documents[i] for i in chunk], instruction, chunk.start)
            for chunk in chunks
        ]
        scores: list[float] = []
        if cancelled is not None and cancelled():  # a model server runs the batches at once: ask once
            raise SearchAbandoned("the search was abandoned before its rerank")
        for chunk, answer in zip(chunks, self.client.post_all(self.path, bodies), strict=True):
            pairs = self.results(answer)
            scores += scores_by_index(
                [i for i, _ in pairs], [s for _, s in pairs], len(chunk), self.client.where
            )
        return check_scores(scores, len(documents), self.client.where)

    def request(
        self,
        query_parts: list[dict[str, Any]],
        documents: Sequence[Content],
        instruction: str,
        first: int = 0,
    ) -> dict[str, Any]:
        """The body for one chunk of documents (``first`` = index of its first document)."""
        raise NotImplementedError

    def results(self, answer: Any) -> list[tuple[int, float]]:
        """The server's answer to one ``request``, checked, as ``(document index, score)`` pairs."""
        raise NotImplementedError

    def close(self) -> None:
        self.client.close()
