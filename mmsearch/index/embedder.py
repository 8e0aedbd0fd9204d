"""The embedding seam: one Protocol, the helpers every backend shares, and the name → backend registry.

Backends (one module each, imported only when chosen):

    transformers  mmsearch.index.transformers_embedder.TransformersEmbedder   in-process, CPU or GPU
    sglang        mmsearch.index.sglang_embedder.SGLangEmbedder               HTTP client
    vllm          mmsearch.index.vllm_embedder.VLLMEmbedder                   HTTP client

Every backend returns float32 ``[n, dim]`` rows, L2-normalised, after Matryoshka (MRL) truncation:
first cut to ``dim`` columns, then L2-renormalise (Qwen3-VL-Embedding's MRL recipe).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from mmsearch.errors import ConfigError
from mmsearch.index.inputs import Content
from mmsearch.index.settings import EmbeddingSettings

MIN_DIM = 64


@runtime_checkable
class Embedder(Protocol):
    """Turns items (pages, images, clips, queries) into unit vectors."""

    dim: int  # output dimension after MRL
    model_id: str  # what produced the vectors; stored with them so mixing models is refused

    def embed(self, items: Sequence[Content], instruction: str) -> np.ndarray:
        """float32 ``[len(items), dim]``, L2-normalised, in the order of ``items``."""
        ...


BACKENDS: dict[str, tuple[str, str]] = {
    "transformers": ("mmsearch.index.transformers_embedder", "TransformersEmbedder"),
    "sglang": ("mmsearch.index.sglang_embedder", "SGLangEmbedder"),
    "vllm": ("mmsearch.index.vllm_embedder", "VLLMEmbedder"),
}


def make_embedder(settings: EmbeddingSettings) -> Embedder:
    """The backend named by ``embedding.backend``, built from its settings."""
    try:
        module_name, class_name = BACKENDS[settings.backend]
    except KeyError:
        valid = ", ".join(sorted(BACKENDS))
        raise ConfigError(
            f"embedding.backend: unknown backend {settings.backend!r}; valid: {valid}"
        ) from None
    backend = getattr(importlib.import_module(module_name), class_name)
    embedder: Embedder = backend(settings)
    return embedder


def check_dim(dim: int | None, full_dim: int) -> int:
    """The output dimension for ``embedding.dim`` (``None`` = the model's full dimension)."""
    if dim is None:
        return full_dim
    if not MIN_DIM <= dim <= full_dim:
        raise ConfigError(
            f"embedding.dim = {dim} is out of range for this model: choose {MIN_DIM} ≤ dim ≤ {full_dim} "
            f"(or null for the full {full_dim})"
        )
    return dim


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (all-zero rows stay zero), as float32."""
    rows = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(rows, axis=-1, keepdims=True)
    return rows / np.maximum(norms, np.finfo(np.float32).tiny)


def mrl(vectors: np.ndarray, dim: int | None) -> np.ndarray:
    """Matryoshka truncation: keep the first ``dim`` columns, then L2-renormalise each row."""
    rows = np.asarray(vectors, dtype=np.float32)
    if rows.ndim != 2:
        raise ValueError(f"mrl expects a [n, d] matrix, got shape {rows.shape}")
    keep = check_dim(dim, rows.shape[1])
    return l2_normalize(rows[:, :keep])


def describe(content: Content) -> str:
    """A short human description of an item for error messages: ``2 images + text``."""
    parts = []
    if content.video is not None:
        clip = content.video
        parts.append(f"video clip of {len(clip.frames)} frames at {clip.fps:g} fps from {clip.t_start:g} s")
    if content.images:
        sizes = ", ".join(f"{im.width}×{im.height}" for im in content.images)
        parts.append(f"{len(content.images)} image{'s' if len(content.images) > 1 else ''} ({sizes})")
    if content.text and content.text.strip():
        parts.append(f"text of {len(content.text)} chars")
    return " + ".join(parts) or "empty"


def pack_batches(costs: Sequence[int], budget: int, max_size: int) -> list[list[int]]:
    """Group item indices into batches whose padded cost (size × longest item) fits ``budget``.

    Items are visited longest first so similar lengths share a batch (less padding); an item larger than
    the budget on its own gets a batch of one. Every index appears exactly once."""
    order = sorted(range(len(costs)), key=lambda i: (-costs[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for index in order:
        cost = max(int(costs[index]), 1)
        widest = max(longest, cost)
        if current and (len(current) >= max_size or widest * (len(current) + 1) > budget):
            batches.append(current)
            current, widest = [], cost
        current.append(index)
        longest = widest
    if current:
        batches.append(current)
    return batches
