"""The MCP tools for one caller of a running server's ``/mcp``: the server's own parts, the caller's scope.

The same store, searcher and admission (``edge/gate.py``: a full queue is a "busy" tool error) as
``POST /v1/search``; the principal is the one ``http.py`` resolved for the HTTP request that carried the
call, and its scope is added to every search, listing and page read, so a key scoped to one collection
sees that collection only, and a page outside it is "not found". Links are the API's own file URLs
(signed when the server has keys); searches and pages read are in the audit trail, as through REST.
"""

from __future__ import annotations

from functools import partial

from starlette.requests import Request

from mmsearch.api.routes.links import RequestLinks, links
from mmsearch.api.services.audit_trail import record_document, record_search
from mmsearch.api.services.context import ApiContext, caller
from mmsearch.index.listing import ListedDocument
from mmsearch.index.store import Filters, Payload, SearchMode
from mmsearch.mcp.citations import Found, Unit, fragment
from mmsearch.mcp.local import StoreBackend
from mmsearch.search.hits import Hit


class ServedBackend(StoreBackend):
    def __init__(self, ctx: ApiContext, request: Request) -> None:
        services = ctx.ready_services()
        super().__init__(ctx.settings, services.store, lambda: services.searcher, scope=caller(request).scope)
        self.ctx = ctx
        self.request = request
        self.links: RequestLinks = links(request, ctx)

    @classmethod
    def of(cls, request: Request) -> ServedBackend:
        ctx: ApiContext = request.app.state.ctx
        return cls(ctx, request)

    def hit_link(self, hit: Hit) -> str:
        return self.links.file(hit.doc_id, hit.source_sha256) + fragment(hit.page, hit.t_start)

    def payload_link(self, payload: Payload) -> str:
        return self.links.file(payload.doc_id, payload.source_sha256) + fragment(
            payload.page, payload.t_start
        )

    def document_link(self, doc: ListedDocument) -> str:
        return self.links.file(doc.doc_id, doc.source_sha256)

    async def search(
        self, query: str, *, top_k: int | None, filters: Filters | None, mode: SearchMode | None
    ) -> Found:
        gate = self.ctx.searches
        async with gate.admit():
            # No watch for a client that left: the SDK reads the HTTP request, not this call.
            result = await gate.work(partial(self.search_now, query, top_k, filters, mode))
        self.ctx.metrics.observe_search(result.timings_ms, result.reranked)
        record_search(self.request, query, ["text"], [hit.doc_id for hit in result.hits])
        return self.found(result)

    async def unit(self, point_id: str) -> Unit:
        unit = await super().unit(point_id)
        cited = unit.citation
        record_document(self.request, "image", doc_id=cited.doc_id, collection=cited.collection,
                        name=cited.name, point_id=cited.point_id, via="mcp")  # fmt: skip
        return unit
