"""``GET /v1/facets``: how many units (pages, images, video segments) the caller may search, by kind, by
collection and by each metadata key the admin marked as a facet (``index.facets``) — the counts beside the
web page's filters.

Counted by the store's engine from its payload indexes (Qdrant's facet API, on Edge and on a server), so
it costs the same at any size, unlike listing the documents. The caller's scope is added to the count as
to a search: a principal never learns how much there is outside what it may see. Points are counted as
stored: while a file is being replaced, both of its versions may be counted for a moment.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Query, Request

from mmsearch.api.schemas import ERRORS, FacetCount, FacetsResponse
from mmsearch.api.services.context import Reader, caller
from mmsearch.index.conditions import metadata_key
from mmsearch.index.store import Filters, Scope, Store
from mmsearch.ingest.names import COLLECTION_PATTERN

router = APIRouter(tags=["search"])

MAX_VALUES = 100  # collections (and values of each metadata facet) counted at most (the kinds are three)


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
    given), by collection (among those the caller may use, whatever `collection` says) and by the values
    of each metadata facet the admin marked (within `collection` when given)."""
    store = ctx.ready_services().store
    scope = caller(request).scope
    keys = ctx.settings.index.facets
    return await anyio.to_thread.run_sync(count, store, scope, collection, keys)


def count(
    store: Store, scope: Scope | None, collection: str | None, facets: Sequence[str] = ()
) -> FacetsResponse:
    within = Filters(collection=collection, scope=scope)
    kinds = store.facet("modality", within, MAX_VALUES)
    collections = store.facet("collection", Filters(scope=scope), MAX_VALUES)
    return FacetsResponse(
        total=sum(n for _, n in kinds),
        kinds=_counts(kinds),
        collections=_counts(collections),
        metadata={key: _counts(store.facet(metadata_key(key), within, MAX_VALUES)) for key in facets},
    )


def _counts(values: list[tuple[str, int]]) -> list[FacetCount]:
    return [FacetCount(value=v, count=n) for v, n in values]
