"""The collection schema every Qdrant backend shares (Edge in process, qdrant-client for a server): vector
names, the stored payload, MRL truncation, the recorded layout, the text index of the lexical stage and
the messages about them.

Kept free of qdrant-client and qdrant-edge imports, so opening the embedded store does not pay for
importing qdrant-client (seconds on a loaded machine).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

import numpy as np

from mmsearch.errors import ConfigError, DimensionMismatch, StoreError, StoreLocked
from mmsearch.index.lexical_text import search_text_for
from mmsearch.index.settings import LexicalSettings
from mmsearch.index.store import Payload

FULL = "full"
PREFETCH = "prefetch"
SCHEMA_VERSION = 1
PREPROCESSING = "preprocessing"  # the metadata key of the fingerprint (index/fingerprint.py)
PATH_PREFIXES = "path_prefixes"
NAME_PREFIXES = "name_prefixes"  # a document's name and each folder it lies in: the ``folder`` filter
SCROLL_PAGE = 1024
# The lexical stage (issue 20): a full-text payload index with BM25 scoring and phrase matching on this
# field, recorded in the collection's metadata under LEXICAL (``lexical_record``).
SEARCH_TEXT = "search_text"
LEXICAL = "lexical"
# qdrant-client's local mode scores text queries with its default word tokenizer only (qdrant-client
# ``local/bm25.py`` ``has_default_tokenization``): no stemmer, no stopwords.
PLAIN_LEXICAL = LexicalSettings(tokenizer="word", stemmer=False, stopwords="none")


@dataclass(frozen=True)
class Layout:
    """What a collection holds: read from its vector configuration and metadata."""

    dim: int
    prefetch_dim: int | None
    model_id: str | None  # None: neither metadata nor any point says

    def describe(self) -> str:
        model = repr(self.model_id) if self.model_id else "an unrecorded model"
        return f"{self.dim}-d vectors of {model} (prefetch: {prefetch_text(self.prefetch_dim)})"


def stored_payload(payload: Payload) -> dict[str, Any]:
    """The payload as stored: ``Payload.to_dict()``, ``path_prefixes``, ``name_prefixes``, and ``search_text``
    built from the text, name and metadata (``search_text_for``) when the payload came without one."""
    stored = {
        **payload.to_dict(),
        PATH_PREFIXES: path_prefixes(payload.source_path),
        NAME_PREFIXES: name_prefixes(payload.name),
    }
    if not payload.search_text:
        stored[SEARCH_TEXT] = search_text_for(payload.text, payload.name, payload.metadata)
    return stored


def lexical_record(settings: LexicalSettings) -> dict[str, Any]:
    """What a collection records about its text index (the collection metadata's ``lexical``): compared
    with the settings each time it is opened for writing, so a change rebuilds the index instead of
    leaving old and new terms side by side."""
    return {
        "field": SEARCH_TEXT, "scoring": "bm25", "phrase_matching": True, "tokenizer": settings.tokenizer,
        "stemmer": settings.language if settings.stemmer else None,
        "stopwords": None if settings.stopwords == "none" else settings.stopwords,
    }  # fmt: skip


def path_prefixes(path: str) -> list[str]:
    """The path as given, its normal form, and every ancestor folder: ``/a/b.pdf`` → ``/``, ``/a``, ..."""
    pure = PurePath(path)
    return sorted({path, str(pure), *(str(parent) for parent in pure.parents)})


def name_prefixes(name: str) -> list[str]:
    """A document's name and every folder it lies in (never empty): ``a/b/c.pdf`` → ``a``, ``a/b``,
    ``a/b/c.pdf``. A name is normalised at ingest (``ingest.names``): ``/``-separated, no ``..``."""
    parts = name.split("/")
    return sorted({name, *("/".join(parts[:i]) for i in range(1, len(parts)))} - {""})


def mrl(vector: np.ndarray, dim: int) -> np.ndarray:
    """Matryoshka truncation: the first ``dim`` components, L2-renormalised."""
    head = np.asarray(vector[:dim], dtype=np.float32)
    return head / max(float(np.linalg.norm(head)), 1e-12)


def unit_vector(vector: np.ndarray, dim: int, what: str) -> np.ndarray:
    array = np.asarray(vector, dtype=np.float32)
    if array.shape != (dim,):
        raise DimensionMismatch(f"{what} has shape {array.shape}, but the collection holds {dim}-d vectors")
    norm = float(np.linalg.norm(array))
    if not np.isfinite(norm) or norm == 0.0:
        raise StoreError(f"{what} is not a usable embedding (norm {norm}): zero, NaN or infinite values")
    return array / norm


def mismatch(
    layout: Layout, model_id: str | None, dim: int | None, prefetch_dim: int | None, where: str
) -> DimensionMismatch | None:
    """The refusal when ``layout`` (a collection, named by ``where``) is not the model/dim asked for or
    not the configured prefetch dimension; None when it matches."""
    same = (
        (model_id is None or layout.model_id in (None, model_id))
        and (dim is None or layout.dim == dim)
        and layout.prefetch_dim == prefetch_dim
    )
    if same:
        return None
    wanted = Layout(dim if dim is not None else layout.dim, prefetch_dim, model_id or layout.model_id)
    return DimensionMismatch(
        f"{where} holds {layout.describe()}, but the configuration asks for {wanted.describe()}; vectors of "
        f"different models or dimensions are never mixed. Either set {settings_for(layout)} back, or use a "
        "new store.collection, or delete this collection and re-ingest everything: "
        "`mmsearch ingest --reindex PATH…`."
    )


def check_dims(dim: int, prefetch_dim: int | None) -> None:
    if prefetch_dim is not None and prefetch_dim >= dim:
        raise ConfigError(
            f"index.prefetch_dim ({prefetch_dim}) must be smaller than the embedding dimension ({dim}); "
            "set it to e.g. 256, or to null to search the full vector only"
        )


def settings_for(layout: Layout) -> str:
    model = f"embedding.model: {layout.model_id}, " if layout.model_id else ""
    prefetch = "null" if layout.prefetch_dim is None else str(layout.prefetch_dim)
    return f"{model}embedding.dim: {layout.dim}, index.prefetch_dim: {prefetch}"


def prefetch_text(prefetch_dim: int | None) -> str:
    return "none" if prefetch_dim is None else f"{prefetch_dim}-d"


def locked_error(path: Path) -> StoreLocked:
    return StoreLocked(
        f"the embedded Qdrant store at {path} is in use by another process (an `mmsearch ingest`, or a "
        "running `mmsearch serve` that owns it). Stop that process and retry; while a server runs, go through "
        "it with `--server URL` (`mmsearch ingest|query|stats|mcp --server http://HOST:PORT`, the address "
        "`mmsearch serve` listens on); or let several processes share one index by "
        "running a Qdrant server and setting store.url (MMSEARCH_STORE__URL=http://HOST:6333)."
    )
