"""Qwen3-VL-Reranker served by vLLM as a sequence classifier, over HTTP (``POST /rerank``).

The server (docs/serving.md has the command) runs the checkpoint as ``Qwen3VLForSequenceClassification``
with ``classifier_from_token: ["no", "yes"]`` and ``is_original_qwen3_reranker: true``, so its one logit is
``h_last · (w_yes − w_no)`` and the score ``sigmoid`` of it: the official score. Its chat template,
mmsearch's ``serving/qwen3_vl_reranker.vllm.jinja`` (vllm ``examples/pooling/score/template/
qwen3_vl_reranker.jinja`` with each video placeholder reduced to the bare ``<|video_pad|>``), writes the
official user turn ``<Instruct>: {instruction}<Query>:{query}\\n<Document>:{document}``; vLLM 0.33.0's
transformers (5.16.1–5.20) expands only that bare token (``model_executor/models/qwen3_vl.py``
``_expands_only_video_token``), so a video gets the model card's per-frame form with no pair of vision
markers around it (:mod:`mmsearch.index.media_encoding`). The example template itself would leave that
pair there: the video scores move (docs/serving.md), which ``mmsearch verify`` reports.

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
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, TypeAdapter

from mmsearch.index.http_client import FiniteFloat
from mmsearch.index.inputs import Content
from mmsearch.search.http_rerank import HttpReranker, side_parts
from mmsearch.search.settings import RerankerSettings

log = logging.getLogger(__name__)

PATH = "/rerank"


class _Result(BaseModel):
    model_config = ConfigDict(extra="ignore")
    index: int
    relevance_score: FiniteFloat


class _Answer(BaseModel):
    """``RerankResponse`` (vllm ``scoring/protocol.py``): what we read of it."""

    model_config = ConfigDict(extra="ignore")
    results: list[_Result]


ANSWER = TypeAdapter(_Answer)


class VLLMReranker(HttpReranker):
    """Scores through a vLLM server at ``reranker.url``."""

    server = "vLLM reranker server"
    path = PATH

    def __init__(self, settings: RerankerSettings, *, transport: httpx.BaseTransport | None = None) -> None:
        super().__init__(settings, transport=transport)
        self.served_model = settings.served_model or settings.model

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

    def results(self, answer: Any) -> list[tuple[int, float]]:
        return [(r.index, r.relevance_score) for r in self.client.check(PATH, answer, ANSWER).results]
