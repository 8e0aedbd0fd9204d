"""``GET /v1/audit``: the audit trail's newest entries, for an administrator of every collection.

What ``mmsearch audit`` shows (``access/audit.py``), newest first and bounded (``limit``, at most
``MAX_LIMIT``): read from the end of the trail, so the cost is the entries answered, not the trail's length.
The trail names documents of every collection, so an administrator limited to some collections is
refused (403): ``mmsearch audit`` on the server's machine remains theirs to ask for.
"""

from __future__ import annotations

from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Query, Request

from mmsearch.access.audit import Action, AuditEntry
from mmsearch.api.errors import ApiError
from mmsearch.api.schemas import ERRORS, AuditEntryOut, AuditResponse
from mmsearch.api.services.context import Admin, caller

router = APIRouter(tags=["audit"])

MAX_LIMIT = 1000


@router.get("/v1/audit", response_model=AuditResponse, responses=ERRORS)  # type: ignore[arg-type]
async def recent_entries(
    request: Request,
    ctx: Admin,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    action: Annotated[Action | None, Query(description="Only this action.")] = None,
    principal: Annotated[
        str | None, Query(max_length=200, description="Only this principal (`alice` finds `oidc:alice`).")
    ] = None,
) -> AuditResponse:
    """The newest audit entries first: searches, files and images opened, uploads, deletes, keys made and
    revoked, sign-ins, refusals."""
    who = caller(request)
    if who.collections is not None:
        raise ApiError(403, "forbidden", f"{who.name} administers some collections only: the audit trail "
                       "names every collection's documents, so it is for an administrator of all of them")  # fmt: skip
    entries = await anyio.to_thread.run_sync(lambda: ctx.audit.recent(limit, principal, action))
    return AuditResponse(entries=[entry_out(e) for e in entries])


def entry_out(entry: AuditEntry) -> AuditEntryOut:
    return AuditEntryOut.model_validate(entry.to_json())
