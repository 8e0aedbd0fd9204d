"""Qwen3-VL-Embedding served by SGLang (``python -m sglang.launch_server --is-embedding``), over HTTP.

Batches go to SGLang's native ``POST /encode`` (``EmbeddingReqInput``, sgl-project/sglang
``python/sglang/srt/managers/io_struct.py``), the HTTP face of ``Engine.encode`` that the Qwen3-VL-Embedding
model card uses with SGLang:

    {"text": [<prompt>, ...], "image_data": [[<png data URL>, ...] | null, ...],
     "video_data": [[<video data URL>] | null, ...]}

- Each prompt is the official one rendered here with the model's own chat template
  (:func:`qwen_prompt.render_prompt` on :func:`qwen_prompt.embedding_messages`), so the client needs the
  checkpoint's tokenizer/processor files (``embedding.model``: a local folder, or a hub id whose small
  files are fetched; never the weights). A video goes as the bare ``<|video_pad|>``
  (:func:`video_prompt.bare_video_placeholders`): SGLang 0.5.23's transformers 5.19.0 expands only that
  token and would keep the template's ``<|vision_start|>``/``<|vision_end|>`` around all the frames, which
  the model card's environment (transformers 4.57) does not have.
- Not ``/v1/embeddings``: for multimodal ``input`` SGLang builds the prompt from its own conversation
  template (``generate_embedding_convs`` in ``serving_embedding.py``) with no system instruction and the
  text ``padding`` for image-only items, which is not the official format.
- Media are resized the official way and sent losslessly (:mod:`mmsearch.index.media_encoding`; videos
  padded to an even frame count, so SGLang's own re-sampling keeps every frame); SGLang's
  ``Pooler(PoolingType.LAST, normalize=True)`` (``models/qwen3_vl.py``) pools the ``\\n`` after
  ``assistant`` and L2-normalises, like the official code. MRL is done here.
- Items are sent ``embedding.max_batch_size`` per request (and at most ~16 MiB of media), ``concurrency``
  requests at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from mmsearch.errors import EmbedderError
from mmsearch.index import qwen_prompt
from mmsearch.index.embedder import describe
from mmsearch.index.http_client import FiniteFloat
from mmsearch.index.http_embed import HttpEmbedder
from mmsearch.index.inputs import Content
from mmsearch.index.media_encoding import openai_parts
from mmsearch.index.video_prompt import bare_video_placeholders

log = logging.getLogger(__name__)

PATH = "/encode"
REQUEST_BYTES = 16 * 1024 * 1024  # media per /encode request, roughly; one big item still goes alone


class _Encoded(BaseModel):
    """One entry of ``/encode``'s answer (``{"embedding": [...], "meta_info": {...}}``)."""

    model_config = ConfigDict(extra="ignore")
    embedding: list[FiniteFloat] = Field(min_length=1)


ANSWER = TypeAdapter(list[_Encoded])


class SGLangEmbedder(HttpEmbedder):
    """Embeds through an SGLang server at ``embedding.url``; ``dim`` is the output size after MRL."""

    server = "SGLang embedding server"

    def entry(self, index: int, item: Content, instruction: str) -> tuple[str, list[str], list[str]]:
        """One item as ``(prompt, image data URLs, video data URLs)``."""
        messages = qwen_prompt.embedding_messages(item, instruction)
        prompt = bare_video_placeholders(qwen_prompt.render_prompt(self.templater, messages))
        try:
            parts = openai_parts(messages[1]["content"], even_frames=True)
        except ValueError as exc:
            raise EmbedderError(f"item {index} ({describe(item)}): {exc}") from exc
        images = [p["image_url"]["url"] for p in parts if p["type"] == "image_url"]
        videos = [p["video_url"]["url"] for p in parts if p["type"] == "video_url"]
        return prompt, images, videos

    def requests(self, items: Sequence[Content], instruction: str) -> list[dict[str, Any]]:
        """The ``/encode`` bodies for ``items``, in order."""
        entries = [self.entry(i, item, instruction) for i, item in enumerate(items)]
        return [_body([entries[i] for i in group]) for group in self._groups(entries)]

    def _raw(self, items: Sequence[Content], instruction: str) -> np.ndarray:
        bodies = self.requests(items, instruction)
        rows: list[list[float]] = []
        for body, answer in zip(bodies, self.client.post_all(PATH, bodies), strict=True):
            entries = self.client.check(PATH, answer, ANSWER)
            if len(entries) != len(body["text"]):
                raise EmbedderError(
                    f"{self.client.where} returned {len(entries)} embeddings for "
                    f"a batch of {len(body['text'])}; expected one per prompt"
                )
            rows.extend(entry.embedding for entry in entries)
        return self._matrix(rows, self.model_id)

    def _groups(self, entries: list[tuple[str, list[str], list[str]]]) -> list[list[int]]:
        groups: list[list[int]] = [[]]
        size = 0
        for index, (_, images, videos) in enumerate(entries):
            weight = sum(len(url) for url in images + videos)
            if groups[-1] and (
                len(groups[-1]) >= self.settings.max_batch_size or size + weight > REQUEST_BYTES
            ):
                groups.append([])
                size = 0
            groups[-1].append(index)
            size += weight
        return groups


def _body(entries: list[tuple[str, list[str], list[str]]]) -> dict[str, Any]:
    """``EmbeddingReqInput`` for a batch: per-prompt lists of images/videos (``null`` where none)."""
    body: dict[str, Any] = {"text": [prompt for prompt, _, _ in entries]}
    if any(images for _, images, _ in entries):
        body["image_data"] = [images or None for _, images, _ in entries]
    if any(videos for _, _, videos in entries):
        body["video_data"] = [videos or None for _, _, videos in entries]
    return body
