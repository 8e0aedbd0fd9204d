"""The MCP tools through a running ``mmsearch serve``: ``mmsearch mcp --server URL --api-key KEY``.

While ``mmsearch serve`` runs it owns the embedded store, so a desktop agent's ``mmsearch mcp`` asks the
server instead, with a key, and sees what that key may (the server adds its scope). Searches go to
``POST /v1/search``, pages to ``GET /v1/points/{id}`` and ``GET /v1/images/{id}``, listings to
``GET /v1/documents``. Every call goes through the project's HTTP client of its API (``api_client``: the
one place to change when ``mmsearch.client`` replaces ``cli/client.py``); its ``RemoteError`` names the
server and the fix, and reaches the agent as the tool's error.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Protocol
from urllib.parse import quote

import anyio.to_thread

from mmsearch.api.schemas import filters_body
from mmsearch.cli.client import RemoteError
from mmsearch.cli.server_reader import ServerReader
from mmsearch.errors import NotFound
from mmsearch.index.store import Filters, SearchMode
from mmsearch.mcp.citations import Citation, Document, Found, Listing, Unit
from mmsearch.mcp.images import MAX_SIDE

DOCUMENTS_PAGE = 10000  # the API's largest page
ABSENT = (404, 422)  # an id the server does not know, or not of the shape of one


class ApiCalls(Protocol):
    """The calls the remote tools make, each a ``RemoteError`` when the server fails or refuses."""

    url: str

    def post_json(self, path: str, body: dict[str, Any]) -> dict[str, Any]: ...

    def get_json(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """The JSON object the server answers, None for a 404 (or a 422: an id of the wrong shape)."""
        ...

    def get_bytes(self, path: str, params: dict[str, Any] | None = None) -> bytes | None: ...

    def close(self) -> None: ...


class ReaderCalls(ServerReader):
    """``ApiCalls`` on the CLI's HTTP client of the API (``cli/client.py``)."""

    def post_json(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.call("POST", path, json=body)

    def get_json(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any] | None:
        response = self.request("GET", path, allowed=ABSENT, params=params)
        return None if response.status_code in ABSENT else self.json(response)

    def get_bytes(self, path: str, params: dict[str, Any] | None = None) -> bytes | None:
        response = self.request("GET", path, allowed=ABSENT, params=params)
        return None if response.status_code in ABSENT else response.content


def api_client(url: str, api_key: str | None) -> ApiCalls:
    """The HTTP client of the mmsearch API the remote tools call through: the one line to change when
    ``mmsearch.client`` replaces ``cli/client.py`` (an adapter of it to ``ApiCalls``)."""
    return ReaderCalls(url, api_key)


class RemoteBackend:
    def __init__(self, client: ApiCalls) -> None:
        self.client = client

    def close(self) -> None:
        self.client.close()

    async def search(
        self, query: str, *, top_k: int | None, filters: Filters | None, mode: SearchMode | None
    ) -> Found:
        body: dict[str, Any] = {"text": query, "top_k": top_k, "mode": mode}
        if filters is not None:
            body["filters"] = filters_body(filters)
        sent = {k: v for k, v in body.items() if v is not None}
        reply = await anyio.to_thread.run_sync(self.client.post_json, "/v1/search", sent)
        result = ServerReader.result(reply)
        links = [str(h.get("link", "")) for h in reply["hits"]]
        citations = tuple(Citation.of_hit(hit, link) for hit, link in zip(result.hits, links, strict=True))
        return Found(citations, result.reranked, result.candidates, result.mode)

    async def unit(self, point_id: str) -> Unit:
        d = await anyio.to_thread.run_sync(self.client.get_json, f"/v1/points/{quote(point_id, safe='')}")
        if d is None:
            raise NotFound(
                f"no page {point_id[:80]!r} on {self.client.url}: give the point_id of a search hit (it "
                "may have been deleted or re-ingested since; search again)"
            )
        citation = Citation(
            d["point_id"], d["doc_id"], d["collection"], d["name"], d["modality"], d.get("page"),
            d.get("page_count"), d.get("t_start"), d.get("t_end"), d.get("link", ""),
        )  # fmt: skip
        return Unit(citation, str(d.get("text") or ""))

    async def image(self, point_id: str) -> bytes | None:
        path = f"/v1/images/{quote(point_id, safe='')}"
        return await anyio.to_thread.run_sync(partial(self.client.get_bytes, path, {"w": MAX_SIDE}))

    async def documents(self, collection: str | None, offset: int, limit: int) -> Listing:
        docs = [d for d in await self.all_documents() if collection is None or d.collection == collection]
        return Listing(len(docs), tuple(docs[offset : offset + limit]))

    async def all_documents(self) -> list[Document]:
        return await anyio.to_thread.run_sync(self._all_documents)

    def _all_documents(self) -> list[Document]:
        out: list[Document] = []
        while True:
            page = self.client.get_json("/v1/documents", {"limit": DOCUMENTS_PAGE, "offset": len(out)})
            if page is None:
                raise RemoteError(f"{self.client.url} has no /v1/documents: is it an mmsearch server?")
            out += [
                Document(d["doc_id"], d["collection"], d["name"], d["modality"], int(d["units"]),
                         float(d["ingest_time"]), d.get("file_url", ""))
                for d in page["documents"]
            ]  # fmt: skip
            if not page["documents"] or len(out) >= int(page["total"]):
                return out
