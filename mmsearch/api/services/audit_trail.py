"""The API's side of the audit trail: who a request acts for, and the one call per event a route records.

Routes call ``record_search``, ``record_document`` and ``record_upload`` after the work succeeded; every
401/403 the API answers is recorded by ``record_denied`` from the error handler (``api/errors.py``). The
principal is ``request.state.principal`` (set when the request is authenticated); a request admitted by
a signed URL alone is recorded under the principal the URL was issued to (``by``), via ``url``.
Recording never fails a request: a full disk is logged instead (``access.audit.safe_record``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from fastapi import Request
from starlette.types import Scope

from mmsearch.access.audit import UNKNOWN, Actor, AuditEntry, safe_record, search_entry
from mmsearch.access.principal import ANONYMOUS, Principal, Role
from mmsearch.api.edge.auth import Access, bearer_token

if TYPE_CHECKING:
    from mmsearch.api.services.context import ApiContext

# The configured keys (server.read_keys / server.write_keys): global reader and writer.
CONFIG_READER = Principal("config:read", Role.READER, None, None, "config")
CONFIG_WRITER = Principal("config:write", Role.WRITER, None, None, "config")


def request_principal(request: Request) -> Principal:
    """Who the request acts for: ``request.state.principal`` when the server resolved one, else the
    configured key it sent (read or write), else the anonymous principal (a server without auth)."""
    return known_principal(request) or ANONYMOUS


def known_principal(request: Request) -> Principal | None:
    """As ``request_principal``, but None for a request on a server with auth that sent no valid key (a
    signed URL, or a request about to be refused)."""
    principal = getattr(request.state, "principal", None)
    if isinstance(principal, Principal):
        return principal
    ctx = _context(request)
    if not ctx.keys.required:
        return ANONYMOUS
    access = ctx.keys.access(bearer_token(request))
    if access >= Access.WRITE:
        return CONFIG_WRITER
    return CONFIG_READER if access == Access.READ else None


def principal_name(scope: Scope) -> str | None:
    """For the access log, after the response: the name of the principal the request acted for."""
    principal = known_principal(Request(scope))
    return principal.name if principal is not None else None


def actor(request: Request, signed_by: str | None = None) -> Actor:
    """The actor of an entry: the request's principal, or the principal a signed URL was issued to."""
    if signed_by is not None:
        return Actor(signed_by, None, "url")
    return Actor.of(request_principal(request))


def client(request: Request) -> str | None:
    return request.client.host if request.client else None


def record_search(
    request: Request, text: str | None, modalities: Sequence[str], doc_ids: Sequence[str]
) -> None:
    """A search answered: its query (as ``access.audit.query`` says), the collections it covered (the
    principal's), the documents of its hits in rank order."""
    ctx = _context(request)
    principal = request_principal(request)
    entry = search_entry(
        principal,
        text=text,
        query_mode=ctx.settings.access.audit.query,
        modalities=modalities,
        collections=principal.collections,
        doc_ids=doc_ids,
        client=client(request),
    )
    safe_record(ctx.audit, entry)


def record_document(
    request: Request,
    action: Literal["file", "image", "delete"],
    *,
    doc_id: str,
    collection: str,
    name: str,
    signed_by: str | None = None,
    **more: Any,
) -> None:
    """An original or an image opened, or a document deleted."""
    details = {"doc_id": doc_id, "collection": collection, "name": name, **more}
    entry = AuditEntry(action, actor(request, signed_by), details, client(request))
    safe_record(_context(request).audit, entry)


def record_upload(request: Request, *, job_id: str, collection: str, names: Sequence[str]) -> None:
    """An upload accepted (its job queued)."""
    details = {"job_id": job_id, "collection": collection, "names": list(names)}
    entry = AuditEntry("upload", actor(request), details, client(request))
    safe_record(_context(request).audit, entry)


def record_denied(request: Request, status: int, code: str, why: str) -> None:
    """A 401 (no principal: recorded as ``unknown``) or 403 (the principal refused): the path only,
    never the query (it may hold a signature)."""
    ctx: ApiContext | None = getattr(request.app.state, "ctx", None)
    if ctx is None:
        return
    who = UNKNOWN if status == 401 else actor(request)
    details = {"status": status, "code": code, "method": request.method[:16], "path": request.url.path,
               "why": why}  # fmt: skip
    safe_record(ctx.audit, AuditEntry("denied", who, details, client(request)))


def _context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx
