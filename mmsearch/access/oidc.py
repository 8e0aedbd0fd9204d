"""OIDC bearer tokens: a JWT from the company's identity provider, checked with joserfc, turned into a
principal.

Checked: the signature, under the provider's signing keys (JWKS) and only with an algorithm of
``access.oidc.algorithms`` (asymmetric ones only: ``none`` and HMAC are refused before any key is
touched, so an HS256 token "signed" with the provider's public key fails); ``exp`` (required), ``nbf``
and ``iat`` with ``leeway_s`` of clock skew; ``iss`` equal to the issuer; ``aud`` holding the audience
(``audience``, else ``client_id``). The keys come from ``jwks_url``, else from the discovery document at
``<issuer>/.well-known/openid-configuration``, or from ``jwks_file``; they are cached, fetched again
after ``JWKS_MAX_AGE_S``, and at once (at most every ``refetch_s``) when a token names a key id they do
not hold: the provider rotated its keys.

Errors: ``TokenRejected`` (401) for every invalid token, with one message whatever the reason (the
reason goes to the debug log); ``IdpUnavailable`` (503) when the keys cannot be fetched.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from mmsearch.access.principal import Principal, principal_from_claims
from mmsearch.access.settings import OidcSettings
from mmsearch.errors import ConfigError, MmsearchError

log = logging.getLogger(__name__)

FETCH_TIMEOUT_S = 5.0
JWKS_MAX_AGE_S = 3600.0
REFETCH_S = 30.0  # at most one fetch per this many seconds on unknown key ids
RETRY_S = 2.0  # ... and while no keys could be fetched yet
MAX_TOKEN_CHARS = 16_384
MAX_DOCUMENT_BYTES = 1 << 20

Fetch = Callable[[str], Mapping[str, Any]]


class TokenRejected(MmsearchError):
    """The token is not one this server accepts (bad signature, expired, another issuer or audience...)."""

    code = "unauthorized"
    http_status = 401


class IdpUnavailable(MmsearchError):
    """The identity provider's signing keys cannot be fetched: tokens cannot be checked now."""

    code = "idp_unavailable"
    http_status = 503


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and len(token) <= MAX_TOKEN_CHARS


class OidcValidator:
    """Checks bearer tokens of one provider (``access.oidc``) and maps them to principals."""

    def __init__(
        self, settings: OidcSettings, fetch: Fetch | None = None, refetch_s: float = REFETCH_S
    ) -> None:
        if settings.issuer is None:
            raise ConfigError("access.oidc.issuer is not set: OIDC is off")
        audience = settings.audience or settings.client_id
        if audience is None:
            raise ConfigError(
                "access.oidc needs audience or client_id: the aud a bearer token must carry "
                "(the client id this app has at the provider)"
            )
        self.settings = settings
        self.issuer = settings.issuer
        self.audience = audience
        self.grants = settings.grants()
        self._fetch = fetch or fetch_json
        self._refetch_s = refetch_s
        self._lock = threading.Lock()
        self._keys: KeySet | None = None
        self._fetched = float("-inf")  # monotonic time of the last fetch attempt

    def claims(self, token: str) -> dict[str, Any]:
        """The claims of a valid token; ``TokenRejected`` otherwise."""
        if not looks_like_jwt(token):
            raise TokenRejected("invalid token")
        try:
            try:
                decoded = jwt.decode(token, self._key_set(), algorithms=self.settings.algorithms)
            except InvalidKeyIdError:  # a key it has not seen: rotated at the provider?
                decoded = jwt.decode(token, self._key_set(refresh=True), algorithms=self.settings.algorithms)
            self._registry().validate(decoded.claims)
        except (JoseError, ValueError, TypeError) as exc:
            log.debug("bearer token refused: %s: %s", type(exc).__name__, exc)
            raise TokenRejected("invalid token") from exc
        return dict(decoded.claims)

    def principal(self, token: str) -> Principal | None:
        """The principal of a valid token, or None when none of its groups is mapped (a 403 for the
        caller); ``TokenRejected`` for an invalid one."""
        s = self.settings
        return principal_from_claims(self.claims(token), self.grants, s.name_claim, s.groups_claim, "oidc")

    def _registry(self) -> jwt.JWTClaimsRegistry:
        return jwt.JWTClaimsRegistry(
            leeway=self.settings.leeway_s,
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": self.audience},
            exp={"essential": True},
        )

    def _key_set(self, refresh: bool = False) -> KeySet:
        with self._lock:
            now = time.monotonic()
            stale = self._keys is None or now - self._fetched > JWKS_MAX_AGE_S
            # Never a fetch per request: with no keys yet (the provider was down), one per few seconds.
            interval = self._refetch_s if self._keys is not None else min(self._refetch_s, RETRY_S)
            if (stale or refresh) and now - self._fetched >= interval:
                self._fetched = now
                self._keys = self._load()
            if self._keys is None:
                raise IdpUnavailable(
                    f"the signing keys of {self.issuer} are not available yet; retry shortly"
                )
            return self._keys

    def _load(self) -> KeySet | None:
        """The provider's keys now, or the ones held when they cannot be fetched (None at first)."""
        try:
            document = self._jwks_document()
            return KeySet.import_key_set(document)  # type: ignore[arg-type]
        except (IdpUnavailable, JoseError, ValueError, TypeError, KeyError) as exc:
            log.warning("cannot load the signing keys of %s: %s", self.issuer, exc)
            return self._keys

    def _jwks_document(self) -> Mapping[str, Any]:
        s = self.settings
        if s.jwks_file is not None:
            try:
                value = json.loads(s.jwks_file.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise IdpUnavailable(f"access.oidc.jwks_file {s.jwks_file}: {exc}") from exc
            if not isinstance(value, dict):
                raise IdpUnavailable(f"access.oidc.jwks_file {s.jwks_file} is not a JSON object")
            return value
        url = s.jwks_url
        if url is None:
            discovery = self._fetch(self.issuer.rstrip("/") + "/.well-known/openid-configuration")
            if discovery.get("issuer") != self.issuer:
                raise IdpUnavailable(f"the discovery document of {self.issuer} names another issuer")
            url = discovery.get("jwks_uri")
            if not isinstance(url, str):
                raise IdpUnavailable(f"the discovery document of {self.issuer} has no jwks_uri")
        return self._fetch(url)


def fetch_json(url: str) -> Mapping[str, Any]:
    """A JSON object from ``url`` (the discovery document, the JWKS); ``IdpUnavailable`` on failure."""
    try:
        with httpx.Client(timeout=FETCH_TIMEOUT_S, follow_redirects=False) as client:
            response = client.get(url, headers={"Accept": "application/json"})
        response.raise_for_status()
        if len(response.content) > MAX_DOCUMENT_BYTES:
            raise IdpUnavailable(f"{url} answered more than {MAX_DOCUMENT_BYTES} bytes")
        value = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise IdpUnavailable(f"cannot fetch {url}: {exc}") from exc
    if not isinstance(value, dict):
        raise IdpUnavailable(f"{url} did not answer a JSON object")
    return value
