"""``mmsearch query --server URL`` and ``mmsearch stats --server URL``: read through a running API.

While ``mmsearch serve`` runs it owns the embedded store, so ``query`` and ``stats`` cannot open it here;
with ``--server`` they ask the server instead (``POST /v1/search``, ``GET /v1/info`` +
``GET /v1/documents``) and print the same table or JSON as the local commands.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, Self, get_args

import httpx

from mmsearch.cli.remote import RemoteError, _message, auth_headers
from mmsearch.index.store import DocumentInfo, Filters
from mmsearch.ingest.units import Modality
from mmsearch.search.hits import Hit, SearchResult

DOCUMENTS_PAGE = 10000  # the API's largest page


class ServerReader:
    """A read-key client for the few read endpoints the CLI needs; errors are ``RemoteError``s."""

    def __init__(self, url: str, api_key: str | None = None, timeout_s: float = 300.0,
                 transport: httpx.BaseTransport | None = None) -> None:  # fmt: skip
        headers = auth_headers(api_key)
        self.url = url.rstrip("/")
        self._client = httpx.Client(
            base_url=self.url, headers=headers, timeout=httpx.Timeout(timeout_s, connect=10.0),
            transport=transport,
        )  # fmt: skip

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def search(self, body: dict[str, Any]) -> dict[str, Any]:
        """The server's ``SearchResponse`` as it sent it (``--json`` prints it unchanged)."""
        return self._call("POST", "/v1/search", json=body)

    @staticmethod
    def result(reply: dict[str, Any]) -> SearchResult:
        """A ``SearchResponse`` as the ``SearchResult`` the table printer takes."""
        hit_names = {f.name for f in fields(Hit)}
        hits = tuple(
            Hit(**{k: v for k, v in h.items() if k in hit_names and k != "media_paths"}, media_paths=())
            for h in reply["hits"]
        )
        return SearchResult(hits, bool(reply["reranked"]), reply.get("reranker"), int(reply["candidates"]),
                            dict(reply.get("timings_ms") or {}))  # fmt: skip

    def stats(self, docs: list[DocumentInfo]) -> dict[str, Any]:
        """What ``stats --json`` prints locally, as far as the API tells it (``docs``: ``documents()``)."""
        info = self._call("GET", "/v1/info")
        return {
            "server": self.url,
            "model_id": info.get("embedding_model"),
            "dim": info.get("dim"),
            "reranker": info.get("reranker"),
            "points": sum(d.units for d in docs),
            "documents": len(docs),
            "by_modality": {m: sum(d.units for d in docs if d.modality == m) for m in get_args(Modality)},
        }

    def documents(self) -> list[DocumentInfo]:
        out: list[DocumentInfo] = []
        while True:
            page = self._call("GET", "/v1/documents", params={"limit": DOCUMENTS_PAGE, "offset": len(out)})
            out += [_document(d) for d in page["documents"]]
            if not page["documents"] or len(out) >= int(page["total"]):
                return out

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise RemoteError(
                f"cannot reach the mmsearch server at {self.url}: {exc}. Is `mmsearch serve` running there?"
            ) from exc
        if response.status_code in (401, 403):
            raise RemoteError(
                f"the server at {self.url} refused: {_message(response)} "
                "(pass a read key with --api-key or MMSEARCH_API_KEY)"
            )
        if response.status_code >= 400:
            raise RemoteError(
                f"the server at {self.url} answered {response.status_code}: {_message(response)}"
            )
        try:
            data = response.json()
        except ValueError as exc:
            raise RemoteError(
                f"{self.url} did not answer like an mmsearch server: {response.text[:200]!r}"
            ) from exc
        if not isinstance(data, dict):
            raise RemoteError(f"{self.url} did not answer like an mmsearch server: {str(data)[:200]!r}")
        return data


def _document(d: dict[str, Any]) -> DocumentInfo:
    return DocumentInfo(
        d["doc_id"],
        d["source_path"],
        d["modality"],
        int(d["units"]),
        float(d["ingest_time"]),
        d["source_sha256"],
    )


def search_body(
    text: str | None, image: Path | None, top_k: int | None, candidates: int | None, rerank: bool,
    filters: Filters | None,
) -> dict[str, Any]:  # fmt: skip
    """The ``POST /v1/search`` JSON body for the CLI's query flags."""
    import base64

    body: dict[str, Any] = {"text": text, "top_k": top_k, "candidates": candidates, "rerank": rerank}
    if image is not None:
        body["image"] = base64.b64encode(image.read_bytes()).decode("ascii")
    if filters is not None:
        body["filters"] = {k: v for k, v in asdict(filters).items() if v is not None}
    return {k: v for k, v in body.items() if v is not None}
