"""What the served embedders (vLLM ``/v1/embeddings``, SGLang ``/encode``) share: the client from
settings, the dimension asked of the server once, MRL on the client, the vector-shape checks, and the
checkpoint's chat template (:func:`load_templater`, :func:`served_chat_template`)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import httpx
import numpy as np

from mmsearch.errors import EmbedderError, ModelNotFound
from mmsearch.index import qwen_prompt
from mmsearch.index.embedder import mrl
from mmsearch.index.http_client import JsonClient, stack_rows
from mmsearch.index.inputs import Content
from mmsearch.index.settings import DEFAULT_DOCUMENT_INSTRUCTION, EmbeddingSettings
from mmsearch.index.video_prompt import WRAPPED_VIDEO, bare_video_placeholders
from mmsearch.models import load_processor

TEMPLATE_FILES = ["*.json", "*.jinja", "*.txt", "*.model"]  # tokenizer, processor and chat template


class HttpEmbedder:
    """What the served embedders share. A subclass names its ``server`` and writes ``_raw``: the
    full-dimension unit vectors for some items, as checked by ``_matrix``; MRL is done here."""

    server: ClassVar[str]  # names it in errors, e.g. "vLLM embedding server"

    def __init__(self, settings: EmbeddingSettings, *, transport: httpx.BaseTransport | None = None) -> None:
        self.settings = settings
        self.model_id = settings.model
        self.client = JsonClient.for_backend(
            settings, server=self.server, setting="embedding.url", error=EmbedderError, transport=transport
        )
        self._full_dim: int | None = None
        self._templater: Any = None
        self._template_lock = threading.Lock()

    @property
    def templater(self) -> Any:
        """The checkpoint's processor, for its chat template (loaded on first use: :func:`load_templater`)."""
        with self._template_lock:
            if self._templater is None:
                self._templater = load_templater(self.settings.model)
            return self._templater

    @property
    def dim(self) -> int:
        """``embedding.dim``, or the server's full dimension (asked once, with a one-word request)."""
        if self.settings.dim is not None:
            return self.settings.dim
        if self._full_dim is None:
            self._raw([Content(text=qwen_prompt.NULL_TEXT)], DEFAULT_DOCUMENT_INSTRUCTION)
        assert self._full_dim is not None
        return self._full_dim

    def embed(self, items: Sequence[Content], instruction: str) -> np.ndarray:
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        return mrl(self._raw(items, instruction), self.settings.dim)

    def close(self) -> None:
        self.client.close()

    def _raw(self, items: Sequence[Content], instruction: str) -> np.ndarray:
        raise NotImplementedError

    def _matrix(self, rows: list[list[float]], model: str) -> np.ndarray:
        """``rows`` as a matrix, all of the size seen before; ``model`` is named if they are not."""
        try:
            matrix = stack_rows(rows, self._full_dim, self.client.where)
        except ValueError as exc:
            raise EmbedderError(f"{exc}; is it serving {model}?") from exc
        self._full_dim = matrix.shape[1]
        return matrix


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
            f"fetched from the Hugging Face hub or cache ({type(exc).__name__}: {exc}). The served "
            "embedding clients need them to render prompts: point embedding.model at a local copy of the "
            "checkpoint."
        ) from exc


def served_chat_template(templater: Any, model: str) -> str:
    """The checkpoint's chat template with its video placeholder reduced to the bare ``<|video_pad|>``
    (:func:`video_prompt.bare_video_placeholders`), for a server that renders the template itself
    (vLLM's embedding chat form); ``EmbedderError`` when the template has no
    ``<|vision_start|><|video_pad|><|vision_end|>`` to reduce (another model's template)."""
    template = getattr(templater, "chat_template", None)
    if not isinstance(template, str) or WRAPPED_VIDEO not in template:
        raise EmbedderError(
            f"the chat template of {model} does not write videos as {WRAPPED_VIDEO}: it is not the "
            "Qwen3-VL template this client knows how to send in the model card's video form"
        )
    return bare_video_placeholders(template)
