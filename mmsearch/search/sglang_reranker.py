"""Qwen3-VL-Reranker served by SGLang, over HTTP (``POST /v1/rerank``).

The server runs the checkpoint as a generator (no ``--is-embedding``) with mmsearch's reranker chat
template ``serving/qwen3_vl_reranker.sglang.jinja``: sglang's ``examples/chat_template/
qwen3_vl_reranker.jinja`` with a video part written as the bare ``<|video_pad|>``. SGLang 0.5.23's
transformers 5.19.0 expands only that token, so a video gets the model card's per-frame form with no pair
of vision markers around it (the example template would leave that pair there; see
:mod:`mmsearch.index.media_encoding`). For each document ``serving_rerank.py`` renders
``<Instruct>: {instruct}<Query>:{query parts}\\n<Document>:{document parts}`` (parts in the order given,
an image/video part becoming its vision placeholder), generates one token with the top-50 logprobs and
scores ``p(yes) / (p(yes) + p(no))``, which is ``sigmoid(logit_yes − logit_no)``: the official score.

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
from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter

from mmsearch.index.http_client import FiniteFloat
from mmsearch.index.inputs import Content
from mmsearch.search.http_rerank import HttpReranker, side_parts

log = logging.getLogger(__name__)

PATH = "/v1/rerank"


class _Ranked(BaseModel):
    """One ``RerankResponse`` (sglang ``protocol.py``): what we read of it."""

    model_config = ConfigDict(extra="ignore")
    index: int
    score: FiniteFloat


ANSWER = TypeAdapter(list[_Ranked])


class SGLangReranker(HttpReranker):
    """Scores through an SGLang server at ``reranker.url``."""

    server = "SGLang reranker server"
    path = PATH
    even_frames = True

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
            "documents": [
                side_parts(doc, f"document {first + i}", even_frames=True) for i, doc in enumerate(documents)
            ],
            "instruct": instruction,
            "return_documents": False,
        }

    def results(self, answer: Any) -> list[tuple[int, float]]:
        return [(r.index, r.score) for r in self.client.check(PATH, answer, ANSWER)]
