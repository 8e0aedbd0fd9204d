"""The MCP tools through a running ``mmsearch serve``: ``mmsearch mcp --server URL --api-key KEY``.

While ``mmsearch serve`` runs it owns the embedded store, so a desktop agent's ``mmsearch mcp`` asks the
server instead, with a key, and sees what that key may (the server adds its scope). Every call goes
through the project's one HTTP client of its API (``mmsearch.client.Client``): searches to
``POST /v1/search``, pages to ``GET /v1/points/{id}`` and ``GET /v1/images/{id}``, listings to
``GET /v1/documents``. Its errors (``RemoteError``: the server named, a refused key's fix) reach the agent
as the tool's error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import anyio.to_thread

from mmsearch.api.schemas import filters_body
from mmsearch.cli.client import hinted
from mmsearch.cli.server_reader import as_local
from mmsearch.client import Client, ServerError
from mmsearch.errors import NotFound
from mmsearch.index.store import Filters, SearchMode
from mmsearch.mcp.citations import Citation, Document, Found, Listing, Unit
from mmsearch.mcp.images import MAX_SIDE

T = TypeVar("T")
ABSENT = (404, 422)  # an id the server does not know, or not of the shape of one


def api_client(url: str, api_key: str | None) -> Client:
    return Client(url, api_key)


class RemoteBackend:
    def __init__(self, client: Client) -> None:
        self.client = client

    def close(self) -> None:
        self.client.close()

    async def _call(self, fn: Callable[[], T]) -> T:
        """``fn`` in a worker thread, a refused key or other error answer said as the CLI says it."""

        def run() -> T:
            try:
                return fn()
            except ServerError as exc:
                if exc.http_status in ABSENT:
                    raise
                raise hinted(exc, self.client.base_url, "read") from exc

        return await anyio.to_thread.run_sync(run)

    async def search(
        self, query: str, *, top_k: int | None, filters: Filters | None, mode: SearchMode | None
    ) -> Found:
        body = filters_body(filters) if filters is not None else None
        reply = await self._call(lambda: self.client.search(query, filters=body, top_k=top_k, mode=mode))
        result = as_local(reply)
        citations = tuple(
            Citation.of_hit(hit, remote.link) for hit, remote in zip(result.hits, reply.hits, strict=True)
        )
        return Found(citations, result.reranked, result.candidates, result.mode)

    async def unit(self, point_id: str) -> Unit:
        try:
            d: dict[str, Any] = await self._call(lambda: self.client.point(point_id))
        except (ServerError, ValueError) as exc:  # ValueError: not an id the client sends as a path
            if isinstance(exc, ServerError) and exc.http_status not in ABSENT:
                raise
            raise NotFound(
                f"no page {point_id[:80]!r} on {self.client.base_url}: give the point_id of a search hit (it "
                "may have been deleted or re-ingested since; search again)"
            ) from exc
        citation = Citation(
            d["point_id"], d["doc_id"], d["collection"], d["name"], d["modality"], d.get("page"),
            d.get("page_count"), d.get("t_start"), d.get("t_end"), d.get("link", ""),
        )  # fmt: skip
        return Unit(citation, str(d.get("text") or ""))

    async def image(self, point_id: str) -> bytes | None:
        try:
            return await self._call(lambda: self.client.image(point_id, MAX_SIDE))
        except (ServerError, ValueError) as exc:
            if isinstance(exc, ServerError) and exc.http_status not in ABSENT:
                raise
            return None

    async def documents(self, collection: str | None, offset: int, limit: int) -> Listing:
        docs = [d for d in await self.all_documents() if collection is None or d.collection == collection]
        return Listing(len(docs), tuple(docs[offset : offset + limit]))

    async def all_documents(self) -> list[Document]:
        listed = await self._call(lambda: list(self.client.documents()))
        return [
            Document(d.doc_id, d.collection, d.name, d.modality, d.units, d.ingest_time, d.file_url)
            for d in listed
        ]
