"""The web page's side of OpenID Connect (a relying party): the authorization-code flow with PKCE (S256)
through authlib, and the ID token it returns validated with joserfc before anyone is signed in.

The provider is found by discovery (``<issuer>/.well-known/openid-configuration``, whose ``issuer``
must equal ``access.oidc.issuer``); its signing keys come from ``jwks_file``, ``jwks_url`` or the
discovered ``jwks_uri``, fetched again (at most once a minute) when a token names a key id not yet seen,
so a key rotation at the provider needs no restart.

An ID token signs someone in only when its signature verifies with one of those keys under an allowed
asymmetric algorithm (``access.oidc.algorithms``: never ``none``, never HMAC), its ``iss`` is the issuer,
its ``aud`` holds ``client_id`` (and, with several audiences, ``azp`` is ``client_id``), it has not
expired (``leeway_s`` of clock skew), and its ``nonce`` is the one this login sent.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from mmsearch.access.sessions import Login
from mmsearch.access.settings import OidcSettings
from mmsearch.errors import MmsearchError

HTTP_TIMEOUT_S = 10.0
JWKS_REFRESH_S = 60.0  # the least time between two fetches of the signing keys


class SignInError(MmsearchError):
    """A sign-in the server refuses: an ID token or answer that does not check out. Nobody is signed in."""

    code = "sign_in_failed"
    http_status = 401


class ProviderUnreachable(MmsearchError):
    """The identity provider did not answer, or answered something that is not OpenID Connect."""

    code = "provider_unreachable"
    http_status = 503


@dataclass(frozen=True)
class Provider:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str | None
    auth_methods: tuple[str, ...]


class RelyingParty:
    """One configured provider: builds authorization URLs, redeems codes, validates ID tokens."""

    def __init__(
        self,
        settings: OidcSettings,
        transport: httpx.AsyncBaseTransport | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        if not settings.issuer or not settings.client_id:
            raise ValueError("access.oidc needs issuer and client_id for the web sign-in")
        self.settings = settings
        self.issuer: str = settings.issuer
        self.client_id: str = settings.client_id
        self._transport = transport
        self._now = now
        self._provider: Provider | None = None
        self._keys: KeySet | None = None
        self._keys_fetched = -JWKS_REFRESH_S

    # -- the flow -------------------------------------------------------------------------------------

    async def authorization_url(self, state: str, nonce: str, verifier: str, redirect_url: str) -> str:
        """Where the browser goes to sign in: the provider's authorization endpoint with this login's
        state, nonce and S256 code challenge."""
        provider = await self.provider()
        client = AsyncOAuth2Client(
            client_id=self.client_id,
            scope=" ".join(self.settings.scopes),
            redirect_uri=redirect_url,
            code_challenge_method="S256",
        )
        url, _ = client.create_authorization_url(
            provider.authorization_endpoint, state=state, code_verifier=verifier, nonce=nonce
        )
        return str(url)

    async def sign_in(self, code: str, login: Login) -> dict[str, Any]:
        """Redeem ``code`` (with this login's PKCE verifier) and return the ID token's validated claims."""
        provider = await self.provider()
        secret = self.settings.client_secret
        async with AsyncOAuth2Client(
            client_id=self.client_id,
            client_secret=secret,
            token_endpoint_auth_method=_auth_method(provider, secret),
            redirect_uri=login.redirect_url,
            timeout=HTTP_TIMEOUT_S,
            transport=self._transport,
        ) as client:
            try:
                token = await client.fetch_token(
                    provider.token_endpoint, code=code, code_verifier=login.verifier
                )
            except OAuthError as exc:
                raise SignInError(f"the identity provider refused the sign-in: {exc.error}") from exc
            except httpx.HTTPError as exc:
                raise ProviderUnreachable(f"the identity provider's token endpoint failed: {exc}") from exc
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise SignInError("the identity provider sent no ID token: is the `openid` scope allowed?")
        return await self.validate(id_token, login.nonce)

    async def validate(self, id_token: str, nonce: str) -> dict[str, Any]:
        """The claims of ``id_token`` once its signature, issuer, audience, expiry and nonce check out."""
        keys = await self._keyset(_key_id(id_token))
        try:
            token = jwt.decode(id_token, keys, algorithms=self.settings.algorithms)
            self._claims_rule(nonce).validate(token.claims)
        except JoseError as exc:
            why = f"{exc.error}: {exc.description}" if exc.description else exc.error
            raise SignInError(f"the ID token is not valid ({why})") from exc
        except ValueError as exc:  # joserfc: a token that is not a JWT at all
            raise SignInError(f"the ID token is not valid: {exc}") from exc
        claims = dict(token.claims)
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.client_id:
            raise SignInError("the ID token has several audiences and its azp is not this client")
        return claims

    def _claims_rule(self, nonce: str) -> jwt.JWTClaimsRegistry:
        return jwt.JWTClaimsRegistry(
            now=lambda: int(self._now()),
            leeway=self.settings.leeway_s,
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": self.client_id},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        )

    # -- what the provider publishes ------------------------------------------------------------------

    async def provider(self) -> Provider:
        if self._provider is None:
            url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
            data = await self._get_json(url)
            if data.get("issuer") != self.issuer:
                raise ProviderUnreachable(
                    f"the discovery document at {url} names issuer {data.get('issuer')!r}, not "
                    f"{self.issuer!r}: set access.oidc.issuer to the provider's exact issuer URL"
                )
            try:
                self._provider = Provider(
                    self.issuer,
                    str(data["authorization_endpoint"]),
                    str(data["token_endpoint"]),
                    str(data["jwks_uri"]) if data.get("jwks_uri") else None,
                    tuple(data.get("token_endpoint_auth_methods_supported") or ()),
                )
            except KeyError as exc:
                raise ProviderUnreachable(f"the discovery document at {url} has no {exc}") from exc
        return self._provider

    async def _keyset(self, key_id: str | None) -> KeySet:
        known = self._keys is not None and (key_id is None or _has_key(self._keys, key_id))
        if known or (self._keys is not None and self._now() - self._keys_fetched < JWKS_REFRESH_S):
            assert self._keys is not None
            return self._keys
        if self.settings.jwks_file is not None:
            data = json.loads(self.settings.jwks_file.read_text())
        else:
            url = self.settings.jwks_url or (await self.provider()).jwks_uri
            if not url:
                raise ProviderUnreachable("the provider publishes no jwks_uri: set access.oidc.jwks_url")
            data = await self._get_json(url)
        try:
            self._keys = KeySet.import_key_set(data)
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise ProviderUnreachable(f"the provider's signing keys cannot be read: {exc}") from exc
        self._keys_fetched = self._now()
        return self._keys

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_S, transport=self._transport) as client:
                response = await client.get(url, headers={"Accept": "application/json"})
                response.raise_for_status()
                data = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ProviderUnreachable(
                f"the identity provider at {url} did not answer as expected: {exc}"
            ) from exc
        if not isinstance(data, dict):
            raise ProviderUnreachable(
                f"the identity provider at {url} answered {type(data).__name__}, not an object"
            )
        return data


def _auth_method(provider: Provider, secret: str | None) -> str:
    """How this client proves itself at the token endpoint: a public client by PKCE alone."""
    if not secret:
        return "none"
    methods = provider.auth_methods
    if not methods or "client_secret_basic" in methods:
        return "client_secret_basic"
    return "client_secret_post"


def _key_id(token: str) -> str | None:
    """The ``kid`` in a compact JWT's header, or None (no kid, or not a JWT: decoding then refuses it)."""
    header = token.split(".", 1)[0]
    try:
        data = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    except (ValueError, UnicodeDecodeError):
        return None
    kid = data.get("kid") if isinstance(data, dict) else None
    return kid if isinstance(kid, str) else None


def _has_key(keys: KeySet, key_id: str) -> bool:
    return any(key.kid == key_id for key in keys.keys)
