"""Qwen3-VL-Reranker served by vLLM as a sequence classifier, over HTTP (``POST /rerank``).

The server (docs/serving.md has the command) runs the checkpoint as ``Qwen3VLForSequenceClassification``
with ``classifier_from_token: ["no", "yes"]`` and ``is_original_qwen3_reranker: true``, so its one logit is
``h_last · (w_yes − w_no)`` and the score ``sigmoid`` of it: the official score. Its chat template
(vllm ``examples/pooling/score/template/qwen3_vl_reranker.jinja``) writes the official user turn
``<Instruct>: {instruction}<Query>:{query}\\n<Document>:{document}``.

Request (``RerankRequest``, vllm ``vllm/entrypoints/pooling/scoring/protocol.py``; documents chunked by
``reranker.max_batch_size``, chunks sent ``reranker.concurrency`` at a time):

    {"model": <served model>, "query": {"content": [parts]}, "documents": [{"content": [parts]}, ...],
     "top_n": <chunk size>, "instruction": <instruction>, "mm_processor_kwargs": {"do_resize": false}}

- A side's parts are the official side items (:func:`rerank_prompt.side_items`: videos, images, text;
  ``NULL`` when empty) with the media resized the official way and sent losslessly
  (:mod:`mmsearch.index.media_encoding`). vLLM puts a side's vision placeholders before its text
  (``_get_full_multimodal_text_prompt``), which is the official order, so the prompts are identical.
- A document with several images is one ``{"content": [...]}`` object: one document, several parts.
- ``instruction`` exists on ``RerankRequest`` only in recent vLLM; older servers ignore unknown fields (with
  a warning in their log) and use the template's default instruction, which is also ours.
- Answer: ``results[].index`` / ``relevance_score``, sorted by score; mapped back to document order here.
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

PATH = "/rerank"
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


class _Result(BaseModel):
    model_config = ConfigDict(extra="ignore")
    index: int
    relevance_score: FiniteFloat


class _Answer(BaseModel):
    """``RerankResponse`` (vllm ``scoring/protocol.py``): what we read of it."""

    model_config = ConfigDict(extra="ignore")
    results: list[_Result]


ANSWER = TypeAdapter(_Answer)


class VLLMReranker:
    """Scores through a vLLM server at ``reranker.url``."""

    def __init__(self, settings: RerankerSettings, *, transport: httpx.BaseTransport | None = None) -> None:
        self.settings = settings
        self.model_id = settings.model
        self.served_model = settings.served_model or settings.model
        self.client = JsonClient(
            settings.url,
            server="vLLM reranker server",
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
        scores: list[float] = []
        for body, answer in zip(bodies, self.client.post_all(PATH, bodies), strict=True):
            results = self.client.check(PATH, answer, ANSWER).results
            where = f"{self.client.server} at {self.client.base_url}"
            scores += scores_by_index(
                [r.index for r in results],
                [r.relevance_score for r in results],
                len(body["documents"]),
                where,
            )
        return check_scores(scores, len(documents), f"{self.client.server} at {self.client.base_url}")

    def request(
        self,
        query_parts: list[dict[str, Any]],
        documents: Sequence[Content],
        instruction: str,
        first: int = 0,
    ) -> dict[str, Any]:
        """The ``/rerank`` body for one chunk of documents (``first`` = index of its first document)."""
        docs = [{"content": side_parts(doc, f"document {first + i}")} for i, doc in enumerate(documents)]
        return {
            "model": self.served_model,
            "query": {"content": query_parts},
            "documents": docs,
            "top_n": len(docs),
            "instruction": instruction,
            "mm_processor_kwargs": {"do_resize": False},
        }

    def close(self) -> None:
        self.client.close()
