"""API keys: who may read (search, images, listing) and who may write (upload, delete).

Keys come from ``server.read_keys`` / ``server.write_keys`` and are sent as ``Authorization: Bearer
<key>``. A write key may also read. Every presented key is compared against every configured key with
``hmac.compare_digest`` (no early exit), so timing says nothing about how much of a key matched.

Auth is required when ``server.require_auth`` is true, or it is null and keys are configured or the
server is bound to a non-loopback address. Required auth with no keys configured is refused at startup.
"""

from __future__ import annotations

import hmac
from enum import IntEnum

from fastapi import Request

from mmsearch.api.errors import ApiError
from mmsearch.api.settings import ApiSettings
from mmsearch.errors import ConfigError


class Access(IntEnum):
    NONE = 0
    READ = 1
    WRITE = 2


class KeyRing:
    """The configured keys and the access each grants."""

    def __init__(self, settings: ApiSettings) -> None:
        self.required = settings.auth_required
        self._keys: list[tuple[bytes, Access]] = [(k.encode(), Access.READ) for k in settings.read_keys]
        self._keys += [(k.encode(), Access.WRITE) for k in settings.write_keys]
        if self.required and not self._keys:
            raise ConfigError(_no_keys_message(settings))

    def access(self, presented: str | None) -> Access:
        """The access a presented key grants: the highest of the keys it equals, else NONE."""
        if not presented:
            return Access.NONE
        token = presented.encode()
        granted = Access.NONE
        for key, access in self._keys:
            if hmac.compare_digest(token, key) and access > granted:
                granted = access
        return granted

    def check(self, request: Request, needed: Access) -> None:
        """Raise 401 (no or unknown key) or 403 (a read key on a write endpoint) unless allowed."""
        if not self.required:
            return
        granted = self.access(bearer_token(request))
        if granted >= needed:
            return
        if granted == Access.NONE:
            raise ApiError(
                401,
                "unauthorized",
                "missing or unknown API key: send `Authorization: Bearer <key>` with a key from "
                "server.read_keys or server.write_keys",
                headers={"WWW-Authenticate": 'Bearer realm="mmsearch"'},
            )
        raise ApiError(
            403, "forbidden", "this API key may only read; uploading and deleting need a write key"
        )


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _no_keys_message(settings: ApiSettings) -> str:
    why = (
        "server.require_auth is true"
        if settings.require_auth
        else f"server.host is {settings.host}, which is reachable from other machines"
    )
    return (
        f"API keys are required ({why}) but none are configured. Set server.read_keys and/or "
        "server.write_keys (env MMSEARCH_SERVER__WRITE_KEYS=key1,key2; make a key with "
        "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`), or bind to 127.0.0.1, "
        "or set server.require_auth: false to run an open server on purpose."
    )
