"""Qwen3-VL-Embedding served by vLLM (``vllm serve <model> --runner pooling``), over HTTP.

One request per item to vLLM's chat form of ``POST /v1/embeddings`` (``EmbeddingChatRequest``,
vllm-project/vllm ``vllm/entrypoints/pooling/embed/protocol.py``; fields from
``vllm/entrypoints/pooling/base/protocol.py``), so the server renders the model's own chat template:

    {"model": <served model>,
     "messages": [{"role": "system", "content": [{"type": "text", "text": <instruction>}]},
                  {"role": "user", "content": [video_url, image_url..., text]}],
     "add_generation_prompt": true, "add_special_tokens": true, "encoding_format": "float",
     "mm_processor_kwargs": {"do_resize": false}, "chat_template": <the model's, videos as a bare pad>}

- The messages are the official ones (:func:`mmsearch.index.qwen_prompt.embedding_messages`: normalised
  instruction, videos → images → text, ``NULL`` when empty) with the media already resized the official
  way and sent losslessly (:mod:`mmsearch.index.media_encoding`). ``do_resize: false`` is how the official
  code calls the processor; the images are already multiples of 32.
- ``add_generation_prompt: true`` ends the prompt with ``<|im_start|>assistant\\n``, whose ``\\n`` vLLM's
  ``LAST`` pooler reads, exactly as the official code pools. (An empty assistant turn with
  ``continue_final_message`` renders the same on current transformers, but transformers releases that cut
  the final message with ``rindex`` leave ``<|im_end|>\\n`` after an empty one and move the pooled token.)
- ``chat_template`` is the checkpoint's own template (read from ``embedding.model``'s small files, like the
  SGLang client; never the weights) with its ``<|vision_start|><|video_pad|><|vision_end|>`` reduced to the
  bare ``<|video_pad|>`` (:func:`http_embed.served_chat_template`): vLLM 0.33.0 runs transformers
  5.16.1–5.20, whose processor expands only the bare token, and ``model_executor/models/qwen3_vl.py``
  (``_expands_only_video_token`` → ``video_target = [video_token_id]``) then keeps the template's outer pair
  around all the frames; with the bare pad the prompt is the model card's (transformers 4.57) per-frame
  form. Images and text render exactly as with the model's template. vLLM refuses a request-level template
  unless started with ``--trust-request-chat-template`` (``entrypoints/pooling/base/io_processor.py``
  ``_validate_chat_template``): without it every request fails loudly with HTTP 400, never silently.
- Plain ``input`` strings would skip the chat template and give other vectors; they are never sent.
- vLLM L2-normalises (``use_activation`` default). MRL is done here (:func:`embedder.mrl`), not with the
  server's ``dimensions``, which vLLM only accepts for checkpoints it knows to be Matryoshka; cutting the
  normalised vector then renormalising gives the same result.
- Only one conversation per request: batched ``messages`` exist only in the newest vLLM. Throughput comes
  from ``embedding.concurrency`` requests in flight, which vLLM batches on the GPU.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import httpx
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from mmsearch.errors import EmbedderError
from mmsearch.index import qwen_prompt
from mmsearch.index.embedder import describe
from mmsearch.index.http_client import FiniteFloat
from mmsearch.index.http_embed import HttpEmbedder, served_chat_template
from mmsearch.index.inputs import Content
from mmsearch.index.media_encoding import openai_parts
from mmsearch.index.settings import EmbeddingSettings

log = logging.getLogger(__name__)

PATH = "/v1/embeddings"


class _Data(BaseModel):
    model_config = ConfigDict(extra="ignore")
    index: int
    embedding: list[FiniteFloat] = Field(min_length=1)


class _Answer(BaseModel):
    """``EmbeddingResponse`` (vllm ``embed/protocol.py``): what we read of it."""

    model_config = ConfigDict(extra="ignore")
    data: list[_Data]


ANSWER = TypeAdapter(_Answer)


class VLLMEmbedder(HttpEmbedder):
    """Embeds through a vLLM server at ``embedding.url``; ``dim`` is the output size after MRL."""

    server = "vLLM embedding server"

    def __init__(self, settings: EmbeddingSettings, *, transport: httpx.BaseTransport | None = None) -> None:
        super().__init__(settings, transport=transport)
        self.served_model = settings.served_model or settings.model
        self._chat_template: str | None = None

    @property
    def chat_template(self) -> str:
        """The model's chat template, videos as a bare ``<|video_pad|>`` (module docstring)."""
        if self._chat_template is None:
            self._chat_template = served_chat_template(self.templater, self.settings.model)
        return self._chat_template

    def request(self, index: int, item: Content, instruction: str) -> dict[str, Any]:
        """The JSON body for one item."""
        system, user = qwen_prompt.embedding_messages(item, instruction)
        try:
            parts = openai_parts(user["content"])
        except ValueError as exc:
            raise EmbedderError(f"item {index} ({describe(item)}): {exc}") from exc
        return {
            "model": self.served_model,
            "messages": [system, {"role": "user", "content": parts}],
            "add_generation_prompt": True,
            "add_special_tokens": True,
            "encoding_format": "float",
            "mm_processor_kwargs": {"do_resize": False},
            "chat_template": self.chat_template,
        }

    def _raw(self, items: Sequence[Content], instruction: str) -> np.ndarray:
        """Full-dimension unit vectors, one request per item, ``concurrency`` at a time."""
        bodies = [self.request(i, item, instruction) for i, item in enumerate(items)]
        answers = [self.client.check(PATH, a, ANSWER) for a in self.client.post_all(PATH, bodies)]
        rows = []
        for index, answer in enumerate(answers):
            if len(answer.data) != 1:
                raise EmbedderError(
                    f"{self.client.where} returned {len(answer.data)} embeddings "
                    f"for item {index} ({describe(items[index])}); expected 1"
                )
            rows.append(answer.data[0].embedding)
        return self._matrix(rows, self.served_model)
