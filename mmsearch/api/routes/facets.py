"""``GET /v1/facets``: how many units (pages, images, video segments) the caller may search, by kind and by
collection — the counts beside the web page's filters.

Counted by the store's engine from its payload indexes (Qdrant's facet API, on Edge and on a server), so
it costs the same at any size, unlike listing the documents. The caller's scope is added to the count as
to a search: a principal never learns how much there is outside what it may see. Points are counted as
stored: while a file is being replaced, both of its versions may be counted for a moment.
"""

from __future__ import annotations

from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Query, Request

from mmsearch.api.schemas import ERRORS, FacetCount, FacetsResponse
from mmsearch.api.services.context import Reader, caller
from mmsearch.index.store import Filters, Scope, Store
from mmsearch.ingest.names import COLLECTION_PATTERN

router = APIRouter(tags=["search"])

MAX_VALUES = 100  # collections counted at most (the kinds are three)


@router.get("/v1/facets", response_model=FacetsResponse, responses=ERRORS)  # type: ignore[arg-type]
async def facets(
    request: Request,
    ctx: Reader,
    collection: Annotated[
        str | None,
        Query(
            pattern=f"^{COLLECTION_PATTERN.pattern}$", description="Count the kinds in this collection only."
        ),
    ] = None,
) -> FacetsResponse:
    """Units the caller may search: in all, by kind (`page`, `image`, `video`; within `collection` when
    given) and by collection (among those the caller may use, whatever `collection` says)."""
    store = ctx.ready_services().store
    scope = caller(request).scope
    return await anyio.to_thread.run_sync(count, store, scope, collection)


def count(store: Store, scope: Scope | None, collection: str | None) -> FacetsResponse:
    within = Filters(collection=collection, scope=scope)
    kinds = store.facet("modality", within, MAX_VALUES)
    collections = store.facet("collection", Filters(scope=scope), MAX_VALUES)
    return FacetsResponse(
        total=sum(n for _, n in kinds),
        kinds=[FacetCount(value=v, count=n) for v, n in kinds],
        collections=[FacetCount(value=v, count=n) for v, n in collections],
    )
