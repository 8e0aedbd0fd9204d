"""``/v1/keys``: the managed API keys, for administrators — list, create (the key shown once), revoke.

The same keys as ``mmsearch keys`` (``access/keys.py``, kept hashed in ``data_dir/access.sqlite``); a key
created or revoked here counts at the next request. Every route needs the admin role (403 otherwise), and
an administrator manages only keys within its own reach: collections it may use and, when it is itself
limited to some document groups, groups among its own (a key beyond that is refused with 403 when
created and is absent, 404, when listed or revoked). Creating and revoking go into the audit trail under
the administrator's name.
"""

from __future__ import annotations

import logging
import time

import anyio.to_thread
from fastapi import APIRouter, Path, Request

from mmsearch.access.audit import audit_key_created, audit_key_revoked
from mmsearch.access.keys import ManagedKey, mint, parse_expiry
from mmsearch.access.principal import Principal, Role
from mmsearch.api.errors import ApiError, not_found
from mmsearch.api.schemas import ERRORS, KeyIn, KeyOut, KeysResponse, NewKeyOut
from mmsearch.api.services.audit_trail import client
from mmsearch.api.services.context import Admin, caller

log = logging.getLogger(__name__)

router = APIRouter(tags=["keys"])


@router.get("/v1/keys", response_model=KeysResponse, responses=ERRORS)  # type: ignore[arg-type]
async def list_keys(request: Request, ctx: Admin) -> KeysResponse:
    """Every managed key this administrator may manage, oldest first (revoked and expired ones too);
    never the keys themselves."""
    principal = caller(request)
    records = await anyio.to_thread.run_sync(ctx.auth.key_store.records)
    return KeysResponse(keys=[key_out(r) for r in records if manages(principal, r)])


@router.post("/v1/keys", status_code=201, response_model=NewKeyOut, responses=ERRORS)  # type: ignore[arg-type]
async def create_key(request: Request, body: KeyIn, ctx: Admin) -> NewKeyOut:
    """Create a key and answer it, in `key`, this once: only its hash is kept."""
    principal = caller(request)
    until = parse_expiry(body.expires) if body.expires is not None else None
    plain, record = mint(body.name, Role.parse(body.role), body.collections, body.groups, until)
    if not manages(principal, record):
        raise ApiError(403, "forbidden", _beyond(principal))
    await anyio.to_thread.run_sync(ctx.auth.key_store.add, record)
    try:  # the key exists now: a full disk must not hide it from the administrator who made it
        audit_key_created(
            ctx.audit, principal, name=record.name, role=record.role.label, collections=record.collections,
            groups=record.groups, expires=record.expires, client=client(request),
        )  # fmt: skip
    except OSError as exc:
        log.error(
            "audit trail: could not record the key %s created by %s: %s", record.name, principal.name, exc
        )
    return NewKeyOut(**key_out(record).model_dump(), key=plain)


@router.delete("/v1/keys/{name}", response_model=KeyOut, responses=ERRORS)  # type: ignore[arg-type]
async def revoke_key(request: Request, ctx: Admin, name: str = Path(max_length=64)) -> KeyOut:
    """Revoke the unrevoked key named `name`: it stops working at once."""
    principal = caller(request)
    records = await anyio.to_thread.run_sync(ctx.auth.key_store.records)
    live = next((r for r in records if r.name == name and r.revoked is None), None)
    if live is None or not manages(principal, live):
        raise not_found(f"no unrevoked key named {name[:64]!r} (GET /v1/keys lists them)")
    revoked = await anyio.to_thread.run_sync(ctx.auth.key_store.revoke, name, time.time())
    if revoked is None:  # revoked by someone else meanwhile
        raise not_found(f"no unrevoked key named {name[:64]!r} (GET /v1/keys lists them)")
    try:
        audit_key_revoked(ctx.audit, principal, name=name, client=client(request))
    except OSError as exc:
        log.error("audit trail: could not record the key %s revoked by %s: %s", name, principal.name, exc)
    return key_out(revoked)


def manages(principal: Principal, key: ManagedKey) -> bool:
    """Whether everything ``key`` reaches is within ``principal``'s reach: its collections and groups."""
    if principal.collections is not None and (
        key.collections is None or not key.collections <= principal.collections
    ):
        return False
    return principal.groups is None or (key.groups is not None and key.groups <= principal.groups)


def _beyond(principal: Principal) -> str:
    reach = "every collection" if principal.collections is None else ", ".join(sorted(principal.collections))
    groups = ""
    if principal.groups is not None:
        groups = (
            f" and the groups {', '.join(sorted(principal.groups))}" if principal.groups else " and no group"
        )
    return f"{principal.name} may only make keys within its own reach ({reach}{groups})"


def key_out(record: ManagedKey) -> KeyOut:
    return KeyOut(
        key_id=record.key_id,
        name=record.name,
        role=record.role.label,
        collections=None if record.collections is None else sorted(record.collections),
        groups=None if record.groups is None else sorted(record.groups),
        created=record.created,
        expires=record.expires,
        revoked=record.revoked,
        state=record.state(),
    )
