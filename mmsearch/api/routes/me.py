"""``GET /v1/me``: who the caller is — its name, role, the collections it may use, whether it may write.

The web page asks it after sign-in to fill its collection picker and to show "Add files" to writers
only. A principal of every collection (a configured key, an admin mapping, a server without auth) is
shown the collections that hold documents now.
"""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter, Request

from mmsearch.access.principal import Principal
from mmsearch.api.schemas import ERRORS, MeResponse
from mmsearch.api.services.context import Reader, caller
from mmsearch.index.store import Store

router = APIRouter(tags=["info"])


@router.get("/v1/me", response_model=MeResponse, responses=ERRORS)  # type: ignore[arg-type]
async def me(request: Request, ctx: Reader) -> MeResponse:
    """The caller's principal: what it may search and whether it may upload and delete."""
    principal = caller(request)
    collections = principal.collections
    if collections is None:
        collections = await anyio.to_thread.run_sync(existing_collections, ctx.ready_services().store)
    return me_out(principal, collections)


def me_out(principal: Principal, collections: frozenset[str]) -> MeResponse:
    return MeResponse(
        name=principal.name,
        role=principal.role.label,
        via=principal.via,
        collections=sorted(collections),
        all_collections=principal.collections is None,
        groups=None if principal.groups is None else sorted(principal.groups),
        may_write=principal.writes_anywhere,
        write_collections=None
        if principal.write_collections is None
        else sorted(principal.write_collections),
    )


def existing_collections(store: Store) -> frozenset[str]:
    """The collections that hold at least one document."""
    return frozenset(doc.collection for doc in store.documents())
