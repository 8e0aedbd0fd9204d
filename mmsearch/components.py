"""Builds the parts named in ``Settings``: embedder, store, manifest, reranker, and what joins them.

This is the one place that turns configuration into objects; the CLI and the API call it, and
everything below receives its parts ready-made.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING

from mmsearch.access.key_sqlite import FILE_NAME as KEYS_FILE
from mmsearch.access.key_sqlite import SqliteKeyStore
from mmsearch.access.keys import KeyStore
from mmsearch.config import Settings
from mmsearch.index.embedder import Embedder, make_embedder
from mmsearch.index.store import Fusion, Store
from mmsearch.index.store_registry import open_store
from mmsearch.ingest.manifest import Manifest, committed_versions
from mmsearch.search.reranker import Reranker, make_reranker
from mmsearch.search.searcher import Searcher
from mmsearch.threads import apply_torch_threads

if TYPE_CHECKING:  # the pipeline imports every reader (PyMuPDF, PyAV): only ingesting commands need it
    from mmsearch.index.pipeline import Indexer, ProgressFn


def build_embedder(settings: Settings) -> Embedder:
    if settings.embedding.backend == "transformers":
        apply_torch_threads(settings.runtime.torch_threads)
    return make_embedder(settings.embedding)


def build_store(settings: Settings) -> Store:
    return open_store(settings.store, settings.index, settings.store_path)


def manifest_path(settings: Settings) -> Path:
    return settings.data_dir / "manifest.sqlite"


def build_manifest(settings: Settings) -> Manifest:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return Manifest(manifest_path(settings))


def build_committed(settings: Settings) -> Callable[[Collection[str]], dict[str, str]]:
    """What a searcher asks to hide uncommitted versions: the manifest's committed sha256 per document id."""
    path = manifest_path(settings)
    return lambda doc_ids: committed_versions(path, doc_ids)


def build_key_store(settings: Settings) -> KeyStore:
    """The managed API keys (``mmsearch keys``): ``data_dir/access.sqlite``."""
    return SqliteKeyStore(settings.data_dir / KEYS_FILE)


def build_reranker(settings: Settings) -> Reranker | None:
    if settings.reranker.backend == "transformers":
        apply_torch_threads(settings.runtime.torch_threads)
    return make_reranker(settings.reranker)


def build_indexer(
    settings: Settings, embedder: Embedder, store: Store, manifest: Manifest, on_progress: ProgressFn | None
) -> Indexer:
    from mmsearch.index.pipeline import Indexer

    return Indexer(
        embedder=embedder,
        store=store,
        manifest=manifest,
        settings=settings.ingest,
        data_dir=settings.data_dir,
        instruction=settings.embedding.document_instruction,
        on_progress=on_progress,
    )


def build_searcher(
    settings: Settings, embedder: Embedder, store: Store, reranker: Reranker | None
) -> Searcher:
    return Searcher(
        embedder=embedder,
        store=store,
        reranker=reranker,
        data_dir=settings.data_dir,
        query_instruction=settings.embedding.query_instruction,
        rerank_instruction=settings.reranker.instruction,
        use_text_layer=settings.reranker.use_text_layer,
        candidates=settings.search.candidates,
        top_k=settings.search.top_k,
        committed=build_committed(settings),
        mode=settings.search.mode,
        fusion=Fusion(settings.search.fusion, settings.search.weights),
    )
