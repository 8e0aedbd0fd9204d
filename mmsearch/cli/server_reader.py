"""``mmsearch query --server URL`` and ``mmsearch stats --server URL``: read through a running API.

While ``mmsearch serve`` runs it owns the embedded store, so ``query`` and ``stats`` cannot open it here;
with ``--server`` they ask the server instead (``POST /v1/search``, ``GET /v1/info`` +
``GET /v1/documents``) and print the same table or JSON as the local commands.
"""

from __future__ import annotations

import base64
import json
from dataclasses import fields
from pathlib import Path
from typing import Any, get_args

from mmsearch.api.schemas import filters_body
from mmsearch.cli.client import ServerClient
from mmsearch.index.listing import ListedDocument
from mmsearch.index.store import Filters
from mmsearch.ingest.units import Modality
from mmsearch.search.hits import Hit, SearchResult

DOCUMENTS_PAGE = 10000  # the API's largest page


class ServerReader(ServerClient):
    """A read-key client for the few read endpoints the CLI needs; errors are ``RemoteError``s."""

    def search(self, request: dict[str, Any]) -> dict[str, Any]:
        """The server's ``SearchResponse`` as it sent it (``--json`` prints it unchanged); ``request``:
        from ``search_request``."""
        return self.call("POST", "/v1/search", **request)

    @staticmethod
    def result(reply: dict[str, Any]) -> SearchResult:
        """A ``SearchResponse`` as the ``SearchResult`` the table printer takes."""
        hit_names = {f.name for f in fields(Hit)}
        hits = tuple(
            Hit(**{"source_path": "", **{k: v for k, v in h.items() if k in hit_names and k != "media_paths"},
                   "groups": tuple(h.get("groups") or ()), "media_paths": (),
                   "snippet_ranges": tuple(tuple(r) for r in h.get("snippet_ranges") or ()),
                   "highlights": tuple(tuple(b) for b in h.get("highlights") or ())})
            for h in reply["hits"]
        )  # fmt: skip
        return SearchResult(hits, bool(reply["reranked"]), reply.get("reranker"), int(reply["candidates"]),
                            dict(reply.get("timings_ms") or {}), str(reply.get("mode") or "vector"))  # fmt: skip

    def stats(self, docs: list[ListedDocument]) -> dict[str, Any]:
        """What ``stats --json`` prints locally, as far as the API tells it (``docs``: ``documents()``)."""
        info = self.call("GET", "/v1/info")
        return {
            "server": self.url,
            "model_id": info.get("embedding_model"),
            "dim": info.get("dim"),
            "reranker": info.get("reranker"),
            "points": sum(d.units for d in docs),
            "documents": len(docs),
            "by_modality": {m: sum(d.units for d in docs if d.modality == m) for m in get_args(Modality)},
        }

    def documents(self) -> list[ListedDocument]:
        out: list[ListedDocument] = []
        while True:
            page = self.call("GET", "/v1/documents", params={"limit": DOCUMENTS_PAGE, "offset": len(out)})
            out += [_document(d) for d in page["documents"]]
            if not page["documents"] or len(out) >= int(page["total"]):
                return out


def _document(d: dict[str, Any]) -> ListedDocument:
    """A listed document as the server shows it (no server path: ``path`` is empty)."""
    return ListedDocument(
        d["doc_id"], d.get("collection", "default"), d.get("name", ""), "", d["modality"], int(d["units"]),
        float(d["ingest_time"]), d["source_sha256"], tuple(d.get("groups", ())), dict(d.get("metadata", {})),
    )  # fmt: skip


def search_request(
    text: str | None, image: Path | None, video: Path | None, top_k: int | None, candidates: int | None,
    rerank: bool, filters: Filters | None, include_text: bool = False, mode: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The ``POST /v1/search`` request for the CLI's query flags, as ``httpx`` keyword arguments: a JSON
    body (the image as base64), or multipart/form-data with the image and the clip as file parts when a
    ``video`` is given (the API reads a clip only from a file part)."""
    fields: dict[str, Any] = {
        "text": text, "top_k": top_k, "candidates": candidates, "rerank": rerank, "mode": mode,
    }  # fmt: skip
    if include_text:
        fields["include_text"] = True
    if filters is not None:
        fields["filters"] = filters_body(filters)
    fields = {k: v for k, v in fields.items() if v is not None}
    if video is None:
        if image is not None:
            fields["image"] = base64.b64encode(image.read_bytes()).decode("ascii")
        return {"json": fields}
    form = {k: json.dumps(v) if isinstance(v, dict | bool) else str(v) for k, v in fields.items()}
    files = [("video", (video.name, video.read_bytes(), "application/octet-stream"))]
    if image is not None:
        files.append(("image", (image.name, image.read_bytes(), "application/octet-stream")))
    return {"data": form, "files": files}
