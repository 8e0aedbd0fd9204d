"""Qwen3-VL-Embedding served by SGLang (``python -m sglang.launch_server --is-embedding``), over HTTP.

Batches go to SGLang's native ``POST /encode`` (``EmbeddingReqInput``, sgl-project/sglang
``python/sglang/srt/managers/io_struct.py``), the HTTP face of ``Engine.encode`` that the Qwen3-VL-Embedding
model card uses with SGLang:

    {"text": [<prompt>, ...], "image_data": [[<png data URL>, ...] | null, ...],
     "video_data": [[<video data URL>] | null, ...]}

- Each prompt is the official one rendered here with the model's own chat template
  (:func:`qwen_prompt.render_prompt` on :func:`qwen_prompt.embedding_messages`), so the client needs the
  checkpoint's tokenizer/processor files (``embedding.model``: a local folder, or a hub id whose small
  files are fetched; never the weights).
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
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from mmsearch.errors import EmbedderError, ModelNotFound
from mmsearch.index import qwen_prompt
from mmsearch.index.embedder import describe
from mmsearch.index.http_client import FiniteFloat
from mmsearch.index.http_embed import HttpEmbedder
from mmsearch.index.inputs import Content
from mmsearch.index.media_encoding import openai_parts
from mmsearch.index.settings import EmbeddingSettings
from mmsearch.models import load_processor

log = logging.getLogger(__name__)

PATH = "/encode"
REQUEST_BYTES = 16 * 1024 * 1024  # media per /encode request, roughly; one big item still goes alone
TEMPLATE_FILES = ["*.json", "*.jinja", "*.txt", "*.model"]  # tokenizer, processor and chat template


class _Encoded(BaseModel):
    """One entry of ``/encode``'s answer (``{"embedding": [...], "meta_info": {...}}``)."""

    model_config = ConfigDict(extra="ignore")
    embedding: list[FiniteFloat] = Field(min_length=1)


ANSWER = TypeAdapter(list[_Encoded])


class SGLangEmbedder(HttpEmbedder):
    """Embeds through an SGLang server at ``embedding.url``; ``dim`` is the output size after MRL."""

    server = "SGLang embedding server"

    def __init__(self, settings: EmbeddingSettings, *, transport: httpx.BaseTransport | None = None) -> None:
        super().__init__(settings, transport=transport)
        self._templater: Any = None
        self._template_lock = threading.Lock()

    def entry(self, index: int, item: Content, instruction: str) -> tuple[str, list[str], list[str]]:
        """One item as ``(prompt, image data URLs, video data URLs)``."""
        messages = qwen_prompt.embedding_messages(item, instruction)
        prompt = qwen_prompt.render_prompt(self.templater, messages)
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

    @property
    def templater(self) -> Any:
        """The checkpoint's processor, for its chat template (loaded on first use)."""
        with self._template_lock:
            if self._templater is None:
                self._templater = load_templater(self.settings.model)
            return self._templater

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


def load_templater(model: str) -> Any:
    """``AutoProcessor`` of ``model`` (a folder, or a hub id: only its small files are fetched), for
    rendering the official prompt; ``ModelNotFound`` when it has no usable processor or chat template."""
    return load_processor(_template_folder(model), padding_side="right")


def _template_folder(model: str) -> Path:
    path = Path(model).expanduser()
    if path.is_dir():
        return path
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(model, allow_patterns=TEMPLATE_FILES))
    except Exception as exc:  # any hub/cache failure: the files are not here
        raise ModelNotFound(
            f"embedding.model = {model!r}: not a local folder, and its tokenizer/chat template could not be "
            f"fetched from the Hugging Face hub or cache ({type(exc).__name__}: {exc}). The SGLang client "
            "needs them to render prompts: point embedding.model at a local copy of the checkpoint."
        ) from exc
