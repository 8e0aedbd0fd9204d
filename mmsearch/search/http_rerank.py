"""What the two HTTP rerankers (vLLM ``/rerank``, SGLang ``/v1/rerank``) share: the query/document parts
they send and putting the server's answers back in document order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mmsearch.errors import RerankerError
from mmsearch.index.embedder import describe
from mmsearch.index.inputs import Content
from mmsearch.index.media_encoding import openai_parts
from mmsearch.search import rerank_prompt


def side_parts(content: Content, role: str, error: type[Exception] = RerankerError) -> list[dict[str, Any]]:
    """One side (query or document) as OpenAI-style parts: the official side items without their prefix."""
    try:
        return openai_parts(rerank_prompt.side_items(content, "")[1:])
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
