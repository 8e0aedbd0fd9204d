"""Qwen3-VL-Reranker served by SGLang, over HTTP (``POST /v1/rerank``).

The server runs the checkpoint as a generator (no ``--is-embedding``) with the reranker chat template
(sglang ``examples/chat_template/qwen3_vl_reranker.jinja``); for each document ``serving_rerank.py``
renders ``<Instruct>: {instruct}<Query>:{query parts}\\n<Document>:{document parts}`` (parts in the order
given, an image/video part becoming its vision placeholder), generates one token with the top-50 logprobs
and scores ``p(yes) / (p(yes) + p(no))``, which is ``sigmoid(logit_yes − logit_no)``: the official score.

Request (``V1RerankReqInput``, sglang ``python/sglang/srt/entrypoints/openai/protocol.py``; documents
chunked by ``reranker.max_batch_size``, chunks sent ``reranker.concurrency`` at a time):

    {"query": [parts], "documents": [[parts], ...], "instruct": <instruction>, "return_documents": false}

- Parts are the official side items (videos, images, text; ``NULL`` when empty) with the media resized
  the official way and sent losslessly, as ``text`` / ``image_url`` / ``video_url`` parts.
- ``return_documents: false``: SGLang's ``RerankResponse.document`` is a string and cannot echo a part
  list. ``V1RerankReqInput`` has no ``model`` field, so none is sent.
- Answer: a bare JSON list of ``{"score", "index", ...}`` sorted by score; mapped back to document order.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Annotated, Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from mmsearch.errors import QueryError, RerankerError
from mmsearch.index.http_client import JsonClient
from mmsearch.index.inputs import Content
from mmsearch.search import rerank_prompt
from mmsearch.search.http_rerank import scores_by_index, side_parts
from mmsearch.search.reranker import check_query, check_scores
from mmsearch.search.settings import RerankerSettings

log = logging.getLogger(__name__)

PATH = "/v1/rerank"
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


class _Ranked(BaseModel):
    """One ``RerankResponse`` (sglang ``protocol.py``): what we read of it."""

    model_config = ConfigDict(extra="ignore")
    index: int
    score: FiniteFloat


ANSWER = TypeAdapter(list[_Ranked])


class SGLangReranker:
    """Scores through an SGLang server at ``reranker.url``."""

    def __init__(self, settings: RerankerSettings, *, transport: httpx.BaseTransport | None = None) -> None:
        self.settings = settings
        self.model_id = settings.model
        self.client = JsonClient(
            settings.url,
            server="SGLang reranker server",
            setting="reranker.url",
            error=RerankerError,
            api_key=settings.api_key,
            timeout_s=settings.timeout_s,
            retries=settings.retries,
            concurrency=settings.concurrency,
            transport=transport,
        )

    def score(
        self, query: Content, documents: Sequence[Content], instruction: str | None = None
    ) -> list[float]:
        check_query(query)
        if not documents:
            return []
        instruction = rerank_prompt.instruction_or_default(instruction, self.settings.instruction)
        query_parts = side_parts(query, "the rerank query", QueryError)
        size = self.settings.max_batch_size
        chunks = [range(start, min(start + size, len(documents))) for start in range(0, len(documents), size)]
        bodies = [
            self.request(query_parts, [documents[i] for i in chunk], instruction, chunk.start)
            for chunk in chunks
        ]
        where = f"{self.client.server} at {self.client.base_url}"
        scores: list[float] = []
        for body, answer in zip(bodies, self.client.post_all(PATH, bodies), strict=True):
            ranked = self.client.check(PATH, answer, ANSWER)
            scores += scores_by_index(
                [r.index for r in ranked], [r.score for r in ranked], len(body["documents"]), where
            )
        return check_scores(scores, len(documents), where)

    def request(
        self,
        query_parts: list[dict[str, Any]],
        documents: Sequence[Content],
        instruction: str,
        first: int = 0,
    ) -> dict[str, Any]:
        """The ``/v1/rerank`` body for one chunk of documents (``first`` = index of its first document)."""
        return {
            "query": query_parts,
            "documents": [side_parts(doc, f"document {first + i}") for i, doc in enumerate(documents)],
            "instruct": instruction,
            "return_documents": False,
        }

    def close(self) -> None:
        self.client.close()
