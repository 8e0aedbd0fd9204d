"""The web page's side of OpenID Connect (a relying party): the authorization-code flow with PKCE (S256)
through authlib, and the ID token it returns validated before anyone is signed in.

The provider's discovery document, its signing keys and the check of a JWT's signature, ``iss``, ``aud``
(``client_id``), ``exp``, ``nbf`` and ``iat`` are ``idp.py``'s (shared with bearer tokens). On top, an ID
token signs someone in only when it has ``sub`` and ``iat``, its ``nonce`` is the one this login sent,
and, with several audiences, its ``azp`` is ``client_id``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
import httpx
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client

from mmsearch.access.idp import IdentityProvider, IdpUnavailable, TokenRejected
from mmsearch.access.sessions import Login
from mmsearch.access.settings import OidcSettings
from mmsearch.errors import MmsearchError

HTTP_TIMEOUT_S = 10.0


class SignInError(MmsearchError):
    """A sign-in the server refuses: an ID token or answer that does not check out. Nobody is signed in."""

    code = "sign_in_failed"
    http_status = 401


@dataclass(frozen=True)
class Provider:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
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
        self.idp = IdentityProvider(settings, now=now)
        self.issuer: str = settings.issuer
        self.client_id: str = settings.client_id
        self._transport = transport  # for the token endpoint
        self._provider: Provider | None = None

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
                raise IdpUnavailable(f"the identity provider's token endpoint failed: {exc}") from exc
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise SignInError("the identity provider sent no ID token: is the `openid` scope allowed?")
        return await self.validate(id_token, login.nonce)

    async def validate(self, id_token: str, nonce: str) -> dict[str, Any]:
        """The claims of ``id_token`` once its signature, issuer, audience, expiry and nonce check out."""
        try:
            claims = await anyio.to_thread.run_sync(self._claims, id_token, nonce)
        except TokenRejected as exc:
            raise SignInError(f"the ID token is not valid ({exc})") from exc
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.client_id:
            raise SignInError("the ID token has several audiences and its azp is not this client")
        return claims

    def _claims(self, id_token: str, nonce: str) -> dict[str, Any]:
        return self.idp.claims(
            id_token,
            self.client_id,
            sub={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        )

    async def provider(self) -> Provider:
        """The provider's endpoints, from its discovery document."""
        if self._provider is None:
            data = await anyio.to_thread.run_sync(self.idp.discovery)
            try:
                self._provider = Provider(
                    self.issuer,
                    str(data["authorization_endpoint"]),
                    str(data["token_endpoint"]),
                    tuple(data.get("token_endpoint_auth_methods_supported") or ()),
                )
            except KeyError as exc:
                raise IdpUnavailable(f"the discovery document of {self.issuer} has no {exc}") from exc
        return self._provider


def _auth_method(provider: Provider, secret: str | None) -> str:
    """How this client proves itself at the token endpoint: a public client by PKCE alone."""
    if not secret:
        return "none"
    methods = provider.auth_methods
    if not methods or "client_secret_basic" in methods:
        return "client_secret_basic"
    return "client_secret_post"
