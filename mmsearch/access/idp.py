"""The identity provider as this server trusts it (``access.oidc``): its discovery document, its signing
keys, and the check of a JWT it signed; shared by bearer tokens (``oidc.py``) and the web sign-in
(``relying_party.py``).

The discovery document (``<issuer>/.well-known/openid-configuration``) must name the configured issuer.
The signing keys (JWKS) come from ``jwks_file``, else ``jwks_url``, else the discovered ``jwks_uri``; they
are cached, fetched again after ``JWKS_MAX_AGE_S``, and at once (at most every ``refetch_s``) when a
token names a key id they do not hold: the provider rotated its keys. While none could be fetched yet, a
fetch is tried at most every ``RETRY_S``, never once per request.

A JWT checks out when its signature verifies with one of those keys under an algorithm of
``access.oidc.algorithms`` (asymmetric ones only: ``none`` and HMAC are refused before any key is
touched, so an HS256 token "signed" with the provider's public key fails), its ``iss`` is the issuer,
its ``aud`` holds the audience asked for, ``exp`` (required), ``nbf`` and ``iat`` hold with ``leeway_s``
of clock skew, and any further claim rules of the caller hold.

Errors: ``TokenRejected`` (401) whose message says what failed; ``IdpUnavailable`` (503) when the
discovery document or the keys cannot be fetched.
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

from mmsearch.access.settings import OidcSettings
from mmsearch.errors import ConfigError, MmsearchError

log = logging.getLogger(__name__)

FETCH_TIMEOUT_S = 5.0
JWKS_MAX_AGE_S = 3600.0
REFETCH_S = 30.0  # at most one fetch per this many seconds on unknown key ids
RETRY_S = 2.0  # ... and while no keys could be fetched yet
MAX_DOCUMENT_BYTES = 1 << 20

Fetch = Callable[[str], Mapping[str, Any]]


class TokenRejected(MmsearchError):
    """The token is not one this server accepts (bad signature, expired, another issuer or audience...)."""

    code = "unauthorized"
    http_status = 401


class IdpUnavailable(MmsearchError):
    """The identity provider did not answer, or answered something that is not OpenID Connect: its
    discovery document or signing keys cannot be had now."""

    code = "idp_unavailable"
    http_status = 503


class IdentityProvider:
    """One provider: its discovery document (fetched once), its signing keys (cached), JWT checks."""

    def __init__(
        self,
        settings: OidcSettings,
        fetch: Fetch | None = None,
        refetch_s: float = REFETCH_S,
        now: Callable[[], float] = time.time,
    ) -> None:
        if settings.issuer is None:
            raise ConfigError("access.oidc.issuer is not set: OIDC is off")
        self.settings = settings
        self.issuer: str = settings.issuer
        self._fetch = fetch or fetch_json
        self._refetch_s = refetch_s
        self._now = now
        self._discovery: Mapping[str, Any] | None = None
        self._lock = threading.Lock()
        self._keys: KeySet | None = None
        self._fetched = float("-inf")  # monotonic time of the last fetch attempt of the keys
        self._failure = "not fetched yet"

    def claims(self, token: str, audience: str, **rules: jwt.ClaimsOption) -> dict[str, Any]:
        """The claims of ``token`` once its signature, ``iss``, ``aud`` (holding ``audience``), ``exp``,
        ``nbf``, ``iat`` and the further claim ``rules`` check out; ``TokenRejected`` saying why not."""
        algorithms = self.settings.algorithms
        try:
            try:
                decoded = jwt.decode(token, self._key_set(), algorithms=algorithms)
            except InvalidKeyIdError:  # a key it has not seen: rotated at the provider?
                decoded = jwt.decode(token, self._key_set(refresh=True), algorithms=algorithms)
            jwt.JWTClaimsRegistry(
                now=lambda: int(self._now()),
                leeway=self.settings.leeway_s,
                iss={"essential": True, "value": self.issuer},
                aud={"essential": True, "value": audience},
                exp={"essential": True},
                **rules,
            ).validate(decoded.claims)
        except JoseError as exc:
            raise TokenRejected(f"{exc.error}: {exc.description}" if exc.description else exc.error) from exc
        except (ValueError, TypeError) as exc:  # joserfc: a token that is not a JWT at all
            raise TokenRejected(str(exc)) from exc
        return dict(decoded.claims)

    def discovery(self) -> Mapping[str, Any]:
        """The provider's discovery document, once it names this issuer; ``IdpUnavailable`` otherwise."""
        if self._discovery is None:
            url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
            document = self._fetch(url)
            if document.get("issuer") != self.issuer:
                raise IdpUnavailable(
                    f"the discovery document at {url} names issuer {document.get('issuer')!r}, not "
                    f"{self.issuer!r}: set access.oidc.issuer to the provider's exact issuer URL"
                )
            self._discovery = document
        return self._discovery

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
                    f"the signing keys of {self.issuer} are not available yet ({self._failure}); retry shortly"
                )
            return self._keys

    def _load(self) -> KeySet | None:
        """The provider's keys now, or the ones held when they cannot be fetched (None at first)."""
        try:
            return KeySet.import_key_set(self._jwks_document())  # type: ignore[arg-type]
        except (IdpUnavailable, JoseError, ValueError, TypeError, KeyError) as exc:
            log.warning("cannot load the signing keys of %s: %s", self.issuer, exc)
            self._failure = str(exc)
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
        url = s.jwks_url or self.discovery().get("jwks_uri")
        if not isinstance(url, str) or not url:
            raise IdpUnavailable(f"{self.issuer} publishes no jwks_uri: set access.oidc.jwks_url")
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
