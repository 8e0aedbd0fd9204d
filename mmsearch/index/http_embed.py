"""What the served embedders (vLLM ``/v1/embeddings``, SGLang ``/encode``) share: the client from
settings, the dimension asked of the server once, MRL on the client, and the vector-shape checks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import httpx
import numpy as np

from mmsearch.errors import EmbedderError
from mmsearch.index import qwen_prompt
from mmsearch.index.embedder import mrl
from mmsearch.index.http_client import JsonClient, stack_rows
from mmsearch.index.inputs import Content
from mmsearch.index.settings import DEFAULT_DOCUMENT_INSTRUCTION, EmbeddingSettings


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
