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
from typing import Any

import anyio.to_thread

from mmsearch.api.schemas import filters_body
from mmsearch.cli.server_reader import ServerReader
from mmsearch.errors import NotFound
from mmsearch.index.store import Filters, SearchMode
from mmsearch.mcp.citations import Citation, Document, Found, Listing, Unit
from mmsearch.mcp.images import MAX_SIDE

DOCUMENTS_PAGE = 10000  # the API's largest page


def api_client(url: str, api_key: str | None) -> ServerReader:
    """The HTTP client of the mmsearch API the remote tools call through."""
    return ServerReader(url, api_key)


class RemoteBackend:
    def __init__(self, client: ServerReader) -> None:
        self.client = client

    def close(self) -> None:
        self.client.close()

    async def search(
        self, query: str, *, top_k: int | None, filters: Filters | None, mode: SearchMode | None
    ) -> Found:
        body: dict[str, Any] = {"text": query, "top_k": top_k, "mode": mode}
        if filters is not None:
            body["filters"] = filters_body(filters)
        request = {"json": {k: v for k, v in body.items() if v is not None}}
        reply = await anyio.to_thread.run_sync(self.client.search, request)
        result = ServerReader.result(reply)
        links = [str(h.get("link", "")) for h in reply["hits"]]
        citations = tuple(Citation.of_hit(hit, link) for hit, link in zip(result.hits, links, strict=True))
        return Found(citations, result.reranked, result.candidates)

    async def unit(self, point_id: str) -> Unit:
        response = await anyio.to_thread.run_sync(
            partial(self.client.request, "GET", f"/v1/points/{point_id}", allowed=(404, 422))
        )
        if response.status_code in (404, 422):
            raise NotFound(
                f"no page {point_id[:80]!r} on {self.client.url}: give the point_id of a search hit (it "
                "may have been deleted or re-ingested since; search again)"
            )
        d = self.client.json(response)
        citation = Citation(
            d["point_id"], d["doc_id"], d["collection"], d["name"], d["modality"], d.get("page"),
            d.get("page_count"), d.get("t_start"), d.get("t_end"), d.get("link", ""),
        )  # fmt: skip
        return Unit(citation, str(d.get("text") or ""))

    async def image(self, point_id: str) -> bytes | None:
        get = partial(
            self.client.request, "GET", f"/v1/images/{point_id}", allowed=(404, 422), params={"w": MAX_SIDE}
        )
        response = await anyio.to_thread.run_sync(get)
        return response.content if response.status_code == 200 and response.content else None

    async def documents(self, collection: str | None, offset: int, limit: int) -> Listing:
        docs = [d for d in await self.all_documents() if collection is None or d.collection == collection]
        return Listing(len(docs), tuple(docs[offset : offset + limit]))

    async def all_documents(self) -> list[Document]:
        return await anyio.to_thread.run_sync(self._all_documents)

    def _all_documents(self) -> list[Document]:
        out: list[Document] = []
        while True:
            page = self.client.call(
                "GET", "/v1/documents", params={"limit": DOCUMENTS_PAGE, "offset": len(out)}
            )
            out += [
                Document(d["doc_id"], d["collection"], d["name"], d["modality"], int(d["units"]),
                         float(d["ingest_time"]), d.get("file_url", ""))
                for d in page["documents"]
            ]  # fmt: skip
            if not page["documents"] or len(out) >= int(page["total"]):
                return out
