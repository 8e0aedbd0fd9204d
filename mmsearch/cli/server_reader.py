"""``mmsearch query --server URL`` and ``mmsearch stats --server URL``: read through a running API.

While ``mmsearch serve`` runs it owns the embedded store, so ``query`` and ``stats`` cannot open it here;
with ``--server`` they ask the server instead, through the Python client (``mmsearch.client``:
``POST /v1/search``, ``GET /v1/info`` + ``GET /v1/documents``), and print the same table or JSON as the
local commands (``--json`` of a query prints the server's reply as it came).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args

from mmsearch.api.schemas import filters_body
from mmsearch.cli.client import server_client
from mmsearch.client import Client, Document
from mmsearch.client import Hit as RemoteHit
from mmsearch.client import SearchResult as RemoteResult
from mmsearch.index.listing import ListedDocument
from mmsearch.index.store import Filters, SearchMode
from mmsearch.ingest.units import Modality
from mmsearch.search.hits import Hit, SearchResult


def search(
    url: str, api_key: str | None, text: str | None, image: Path | None, video: Path | None,
    top_k: int | None, candidates: int | None, rerank: bool, filters: Filters | None, include_text: bool = False,
    mode: SearchMode | None = None,
) -> RemoteResult:  # fmt: skip
    """The server's answer to the CLI's query flags (``mode`` None: the server's ``search.mode``)."""
    with server_client(url, api_key) as client:
        return client.search(
            text, image, video, filters=filters_body(filters) if filters is not None else None, top_k=top_k,
            candidates=candidates, rerank=rerank, include_text=include_text, mode=mode,
        )  # fmt: skip


def as_local(result: RemoteResult) -> SearchResult:
    """The client's result as the ``SearchResult`` the table printer takes (no server path)."""
    hits = tuple(_local_hit(h) for h in result.hits)
    return SearchResult(hits, result.reranked, result.reranker, result.candidates, dict(result.timings_ms),
                        result.mode or "vector")  # fmt: skip


def _local_hit(h: RemoteHit) -> Hit:
    return Hit(
        rank=h.rank, point_id=h.point_id, score=h.score, vector_score=h.vector_score,
        rerank_score=h.rerank_score, doc_id=h.doc_id, source_path="", modality=h.modality, page=h.page,
        page_count=h.page_count, t_start=h.t_start, t_end=h.t_end, snippet=h.snippet, media_paths=(),
        collection=h.collection, name=h.name, groups=h.groups, metadata=h.metadata, text=h.text,
        snippet_ranges=h.snippet_ranges, highlights=h.highlights, content_hash=h.content_hash,
    )  # fmt: skip


def stats(url: str, api_key: str | None) -> tuple[dict[str, Any], list[ListedDocument]]:
    """What ``stats --json`` prints locally, as far as the API tells it, and every document."""
    with server_client(url, api_key) as client:
        docs = [_document(d) for d in client.documents()]
        return _stats(client, docs), docs


def _stats(client: Client, docs: list[ListedDocument]) -> dict[str, Any]:
    info = client.info()
    return {
        "server": client.base_url,
        "model_id": info.get("embedding_model"),
        "dim": info.get("dim"),
        "reranker": info.get("reranker"),
        "points": sum(d.units for d in docs),
        "documents": len(docs),
        "by_modality": {m: sum(d.units for d in docs if d.modality == m) for m in get_args(Modality)},
    }


def _document(d: Document) -> ListedDocument:
    """A listed document as the server shows it (no server path: ``path`` is empty)."""
    return ListedDocument(
        d.doc_id, d.collection, d.name, "", d.modality, d.units, d.ingest_time, d.source_sha256,  # type: ignore[arg-type]
        d.groups, dict(d.metadata),
    )  # fmt: skip
