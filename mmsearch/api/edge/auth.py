"""Who a request acts for: every request resolves to one ``Principal`` (``access/principal.py``).

Sources, tried in order (``Authenticator.sources``, each ``request -> Principal | None``):

1. the configured keys, ``server.read_keys`` / ``server.write_keys``: a global reader / writer
   (every collection, every document), compared with ``hmac.compare_digest`` against every one;
2. managed keys (``mmsearch keys create``; ``access/keys.py``), read from their store on every request,
   so a key revoked with the CLI stops working on a running server at once;
3. OIDC bearer tokens (JWT) from the identity provider, when ``access.oidc.issuer`` is set;
4. whatever is appended: the web page's sign-in adds its session cookie here.

A source returns None for a request that carries nothing it recognises, and raises for a credential
it recognises but refuses (``unauthorized``: one message whatever failed). A bearer credential no
source takes is refused the same way. A principal whose role is too low gets 403.

Auth is required when ``server.require_auth`` is true, or it is null and there are configured keys,
managed keys or OIDC, or the server is bound to a non-loopback address. Required auth with no way to
sign in is refused at startup. Without auth every request is ``ANONYMOUS`` (an admin over everything).
The principal is kept on ``request.state.principal`` for what runs after (audit, per-principal limits).
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable

from fastapi import Request

from mmsearch import components
from mmsearch.access.idp import IdpUnavailable, TokenRejected
from mmsearch.access.keys import KeyStore, authenticate, key_id_of
from mmsearch.access.oidc import OidcValidator, looks_like_jwt
from mmsearch.access.principal import ANONYMOUS, Principal, Role
from mmsearch.api.errors import ApiError
from mmsearch.api.settings import ApiSettings
from mmsearch.config import Settings
from mmsearch.errors import ConfigError

log = logging.getLogger(__name__)

Source = Callable[[Request], Principal | None]

MANAGED_CHECK_S = 2.0  # how long "are there managed keys?" is remembered (it may switch auth on)
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="mmsearch"'}


def unauthorized() -> ApiError:
    return ApiError(
        401,
        "unauthorized",
        "missing, unknown, expired or invalid credential: send `Authorization: Bearer <key or token>` "
        "with an API key or a token from the identity provider",
        headers=dict(CHALLENGE),
    )


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class KeyRing:
    """Source 1: the configured keys, a global reader (``config:read``) or writer (``config:write``)."""

    READER = Principal("config:read", Role.READER, None, None, "config")
    WRITER = Principal("config:write", Role.WRITER, None, None, "config")

    def __init__(self, settings: ApiSettings) -> None:
        self._keys = [(k.encode(), self.READER) for k in settings.read_keys]
        self._keys += [(k.encode(), self.WRITER) for k in settings.write_keys]

    def __bool__(self) -> bool:
        return bool(self._keys)

    def principal(self, presented: str | None) -> Principal | None:
        """The highest principal of the keys ``presented`` equals (each compared, no early exit)."""
        if not presented:
            return None
        token = presented.encode()
        found: Principal | None = None
        for key, principal in self._keys:
            if hmac.compare_digest(token, key) and (found is None or principal.role > found.role):
                found = principal
        return found

    def __call__(self, request: Request) -> Principal | None:
        return self.principal(bearer_token(request))


class ManagedKeys:
    """Source 2: keys shaped like ours (``mms_<id>_<secret>``) are looked up; a wrong one is refused."""

    def __init__(self, store: KeyStore) -> None:
        self.store = store

    def __call__(self, request: Request) -> Principal | None:
        token = bearer_token(request)
        if token is None or key_id_of(token) is None:
            return None
        record = authenticate(self.store, token)
        if record is None:
            log.info("refused managed key id %s (401): unknown, revoked, expired or a wrong secret "
                     "(mmsearch keys list)", key_id_of(token))  # fmt: skip
            raise unauthorized()
        return record.principal()


class OidcBearer:
    """Source 3: a JWT in the Authorization header, checked by ``access/oidc.py``."""

    def __init__(self, validator: OidcValidator) -> None:
        self.validator = validator

    def __call__(self, request: Request) -> Principal | None:
        token = bearer_token(request)
        if token is None or not looks_like_jwt(token):
            return None
        try:
            principal = self.validator.principal(token)
        except TokenRejected as exc:
            raise unauthorized() from exc
        except IdpUnavailable as exc:  # not the caller's fault: retry once the provider answers
            raise ApiError(503, exc.code, str(exc), headers={"Retry-After": "5"}) from exc
        if principal is None:
            log.info("a valid token was refused (403): none of its IdP groups is in access.oidc.mapping")
            raise ApiError(
                403,
                "forbidden",
                "signed in, but none of your identity provider groups is given access to this server: "
                "ask its administrator for access",
            )
        return principal


class Authenticator:
    """The sources of one server and whether it requires auth at all."""

    def __init__(self, settings: Settings, keys: KeyStore, oidc: OidcValidator | None) -> None:
        server = settings.server
        self.configured = KeyRing(server)
        self.key_store = keys
        self.oidc = oidc
        self.sources: list[Source] = [self.configured, ManagedKeys(keys)]
        if oidc is not None:
            self.sources.append(OidcBearer(oidc))
        self._require = server.require_auth
        self._static = bool(self.configured) or oidc is not None or not server.is_loopback
        self._managed: tuple[bool, float] = (False, float("-inf"))  # (any active, checked at)
        if self.required and not self.configured and oidc is None and not self._managed_keys():
            raise ConfigError(_no_keys_message(server))

    @classmethod
    def create(cls, settings: Settings) -> Authenticator:
        """From the settings: the key store under data_dir, and OIDC when an issuer is set."""
        oidc = OidcValidator(settings.access.oidc) if settings.access.oidc.enabled else None
        return cls(settings, components.build_key_store(settings), oidc)

    @property
    def required(self) -> bool:
        if self._require is not None:
            return self._require
        return self._static or self._managed_keys()

    def _managed_keys(self) -> bool:
        """Whether an active managed key exists (remembered ``MANAGED_CHECK_S``): creating the first
        one switches auth on for a server that had none."""
        found, checked = self._managed
        now = time.monotonic()
        if now - checked >= MANAGED_CHECK_S:
            found = any(k.state() == "active" for k in self.key_store.records())
            self._managed = (found, now)
        return found

    def resolve(self, request: Request) -> Principal:
        """The request's principal (once per request; kept on ``request.state.principal``); 401 when
        auth is required and no source takes the request."""
        known: Principal | None = getattr(request.state, "principal", None)
        if known is not None:
            return known
        principal = self._resolve(request)
        request.state.principal = principal
        return principal

    def _resolve(self, request: Request) -> Principal:
        if not self.required:
            return ANONYMOUS
        for source in self.sources:
            principal = source(request)
            if principal is not None:
                return principal
        if bearer_token(request) is not None:  # the client is told less: unauthorized() names no setting
            log.info("refused a bearer credential (401): not in server.read_keys or server.write_keys, "
                     "not a managed key, not a token of the identity provider")  # fmt: skip
        raise unauthorized()

    def check(self, request: Request, needed: Role) -> Principal:
        """The principal, if its role is at least ``needed``; else 401 (no principal) or 403."""
        principal = self.resolve(request)
        if principal.role < needed:
            raise ApiError(403, "forbidden", _refusal(principal, needed))
        return principal


def _refusal(principal: Principal, needed: Role) -> str:
    """Why a principal's role is too low, in words for whoever holds it (no setting names)."""
    if needed >= Role.ADMIN:
        return f"{principal.name} is a {principal.role.label}: this needs an administrator's key or sign-in"
    return (
        f"{principal.name} may only read: uploading, deleting and cancelling jobs need a write key (or a "
        "writer role)"
    )


def _no_keys_message(settings: ApiSettings) -> str:
    why = (
        "server.require_auth is true"
        if settings.require_auth
        else f"server.host is {settings.host}, which is reachable from other machines"
    )
    return (
        f"API keys are required ({why}) but none are configured. Create one with `mmsearch keys create "
        "NAME --role writer --collections '*'` (in the same data_dir), or set server.read_keys and/or "
        "server.write_keys (env MMSEARCH_SERVER__WRITE_KEYS=key1,key2; make a key with "
        "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`), or configure sign-in "
        "(access.oidc), or bind to 127.0.0.1, or set server.require_auth: false to run an open server "
        "on purpose."
    )
