"""A loopback OpenID Connect provider for the tests: discovery, JWKS, RS256 tokens, and the
authorization-code flow with PKCE (S256), on a real HTTP server on a free loopback port.

``OidcStandIn`` signs in whoever ``login_as`` named last, without a login form: the browser is sent
straight back to the client's redirect URI with a one-time code. ``token()`` mints a bearer token for a
user directly; the ``bad_*`` helpers make the tokens a validator must refuse (bad signature, ``alg: none``,
HS256 signed with the provider's public key).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from tests.support import NoDelayHandler

CLIENT_ID = "mmsearch-web"
CLIENT_SECRET = "standin-client-secret-0123456789"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@dataclass
class _Grant:
    claims: dict[str, Any]
    client_id: str
    redirect_uri: str
    challenge: str
    nonce: str | None
    issued: float = field(default_factory=time.time)


class OidcStandIn:
    def __init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "standin-1", "use": "sig", "alg": "RS256"})
        self.other_key = RSAKey.generate_key(2048, parameters={"kid": "standin-1", "alg": "RS256"})
        self.user: dict[str, Any] = {"sub": "nobody", "preferred_username": "nobody", "groups": []}
        self.codes: dict[str, _Grant] = {}
        self.token_requests: list[dict[str, str]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.issuer = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # -- what the tests call -------------------------------------------------------------------------

    def start(self) -> OidcStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def jwks(self) -> dict[str, Any]:
        return dict(KeySet([self.key]).as_dict(private=False))

    @property
    def jwks_url(self) -> str:
        return f"{self.issuer}/jwks"

    def login_as(self, username: str, groups: list[str], **claims: Any) -> None:
        """Who the next authorization request signs in."""
        self.user = {"sub": f"sub-{username}", "preferred_username": username, "groups": groups, **claims}

    def claims(
        self, username: str, groups: list[str], audience: str = CLIENT_ID, **extra: Any
    ) -> dict[str, Any]:
        now = int(time.time())
        base = {
            "iss": self.issuer, "aud": audience, "sub": f"sub-{username}", "preferred_username": username,
            "groups": groups, "iat": now, "nbf": now, "exp": now + 600,
        }  # fmt: skip
        base.update(extra)
        return base

    def token(self, username: str, groups: list[str], audience: str = CLIENT_ID, **extra: Any) -> str:
        """A valid RS256 token (override iss/aud/exp/... through ``extra`` to make an invalid one)."""
        return self.sign(self.claims(username, groups, audience, **extra))

    def sign(self, claims: dict[str, Any], key: RSAKey | None = None) -> str:
        return jwt.encode({"alg": "RS256", "kid": "standin-1", "typ": "JWT"}, claims, key or self.key)

    def bad_signature(self, username: str, groups: list[str]) -> str:
        """Signed by another key that claims the provider's key id."""
        return self.sign(self.claims(username, groups), self.other_key)

    def alg_none(self, username: str, groups: list[str]) -> str:
        header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
        return f"{header}.{_b64(json.dumps(self.claims(username, groups)).encode())}."

    def hs256_with_public_key(self, username: str, groups: list[str]) -> str:
        """The classic confusion: HMAC-signed with the provider's public key (PEM) as the secret."""
        header = _b64(json.dumps({"alg": "HS256", "kid": "standin-1", "typ": "JWT"}).encode())
        body = _b64(json.dumps(self.claims(username, groups)).encode())
        secret = self.key.as_pem(private=False)
        mac = hmac.new(secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
        return f"{header}.{body}.{_b64(mac)}"

    # -- the provider ---------------------------------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": self.jwks_url,
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": ["openid", "profile", "email"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic", "none"],
        }

    def _authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        if query.get("response_type") != "code" or query.get("code_challenge_method") != "S256":
            return 400, {}, b"response_type=code with an S256 code_challenge is required"
        if not query.get("code_challenge") or not query.get("redirect_uri") or not query.get("client_id"):
            return 400, {}, b"client_id, redirect_uri and code_challenge are required"
        code = secrets.token_urlsafe(24)
        self.codes[code] = _Grant(
            dict(self.user),
            query["client_id"],
            query["redirect_uri"],
            query["code_challenge"],
            query.get("nonce"),
        )
        back = {"code": code, **({"state": query["state"]} if "state" in query else {})}
        return 302, {"Location": f"{query['redirect_uri']}?{urlencode(back)}"}, b""

    def _token(self, form: dict[str, str], basic: tuple[str, str] | None) -> tuple[int, dict[str, Any]]:
        self.token_requests.append(form)
        grant = self.codes.pop(form.get("code", ""), None)
        if form.get("grant_type") != "authorization_code" or grant is None:
            return 400, {"error": "invalid_grant"}
        client_id, secret = basic or (form.get("client_id", ""), form.get("client_secret", ""))
        if client_id != grant.client_id or (secret and secret != CLIENT_SECRET):
            return 401, {"error": "invalid_client"}
        if form.get("redirect_uri") != grant.redirect_uri:
            return 400, {"error": "invalid_grant", "error_description": "redirect_uri differs"}
        verifier = form.get("code_verifier", "")
        if _b64(hashlib.sha256(verifier.encode()).digest()) != grant.challenge:
            return 400, {"error": "invalid_grant", "error_description": "PKCE verifier does not match"}
        username = str(grant.claims.get("preferred_username"))
        extra = {k: v for k, v in grant.claims.items() if k not in ("preferred_username", "groups")}
        id_claims = self.claims(username, list(grant.claims.get("groups", [])), grant.client_id, **extra)
        if grant.nonce:
            id_claims["nonce"] = grant.nonce
        access = self.token(username, list(grant.claims.get("groups", [])), grant.client_id)
        return 200, {
            "access_token": access, "id_token": self.sign(id_claims), "token_type": "Bearer", "expires_in": 600,
        }  # fmt: skip

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(NoDelayHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _send(self, status: int, body: bytes, headers: dict[str, str], kind: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def _json(self, status: int, data: Any) -> None:
                self._send(status, json.dumps(data).encode(), {}, "application/json")

            def do_GET(self) -> None:
                url = urlparse(self.path)
                if url.path == "/.well-known/openid-configuration":
                    return self._json(200, provider.discovery())
                if url.path == "/jwks":
                    return self._json(200, provider.jwks)
                if url.path == "/authorize":
                    query = {k: v[0] for k, v in parse_qs(url.query).items()}
                    status, headers, body = provider._authorize(query)
                    return self._send(status, body, headers, "text/plain")
                self._json(404, {"error": "not_found"})

            def do_POST(self) -> None:
                if urlparse(self.path).path != "/token":
                    return self._json(404, {"error": "not_found"})
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                basic = None
                auth = self.headers.get("Authorization", "")
                if auth.lower().startswith("basic "):
                    user, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
                    basic = (user, secret)
                status, data = provider._token(form, basic)
                self._json(status, data)

        return Handler


@contextmanager
def running_standin() -> Iterator[OidcStandIn]:
    provider = OidcStandIn().start()
    try:
        yield provider
    finally:
        provider.stop()
