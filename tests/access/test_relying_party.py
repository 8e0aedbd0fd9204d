"""The web sign-in's ID token check (``RelyingParty.validate``) against the loopback OIDC stand-in: a good
token passes; a bad signature, ``alg: none``, HS256 signed with the public key, another issuer or
audience, an expired token, another nonce, several audiences without ``azp``, or no JWT at all, each
refused; a discovery document naming another issuer stops the sign-in before it starts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mmsearch.access.idp import IdpUnavailable
from mmsearch.access.relying_party import RelyingParty, SignInError
from mmsearch.access.settings import OidcSettings
from tests.oidc_standin import CLIENT_ID, OidcStandIn, running_standin

NONCE = "nonce-0123456789"


@pytest.fixture(scope="module")
def provider() -> Iterator[OidcStandIn]:
    with running_standin() as standin:
        yield standin


def party(provider: OidcStandIn, **settings: Any) -> RelyingParty:
    return RelyingParty(OidcSettings(issuer=provider.issuer, client_id=CLIENT_ID, **settings))


def test_a_good_id_token_gives_its_claims(provider: OidcStandIn) -> None:
    claims = asyncio.run(party(provider).validate(provider.token("alice", ["fin"], nonce=NONCE), NONCE))
    assert claims["preferred_username"] == "alice" and claims["groups"] == ["fin"]


BAD: dict[str, Callable[[OidcStandIn], str]] = {
    "bad_signature": lambda p: p.bad_signature("alice", []),
    "unsupported_algorithm": lambda p: p.alg_none("alice", []),
    "HS256": lambda p: p.hs256_with_public_key("alice", []),
    "'iss'": lambda p: p.token("alice", [], nonce=NONCE, iss="http://127.0.0.1:9"),
    "'aud'": lambda p: p.token("alice", [], audience="another-client", nonce=NONCE),
    "expired": lambda p: p.token("alice", [], nonce=NONCE, exp=int(time.time()) - 3600),
    "'nonce'": lambda p: p.token("alice", [], nonce="another-nonce"),
    "nonce": lambda p: p.token("alice", []),  # none at all
    "azp": lambda p: p.token("alice", [], audience=[CLIENT_ID, "other"], nonce=NONCE),  # type: ignore[arg-type]
    "decode_error": lambda p: "not.a.jwt",
}


@pytest.mark.parametrize("why", list(BAD))
def test_a_bad_id_token_is_refused(provider: OidcStandIn, why: str) -> None:
    token = BAD[why](provider)
    with pytest.raises(SignInError, match="not valid|several audiences") as refused:
        asyncio.run(party(provider).validate(token, NONCE))
    assert why in str(refused.value)  # the message names what failed
    assert refused.value.http_status == 401


def test_a_discovery_document_of_another_issuer_stops_the_sign_in(provider: OidcStandIn) -> None:
    # configured with a trailing slash the provider does not write
    wrong = RelyingParty(
        OidcSettings(issuer=provider.issuer + "/", client_id=CLIENT_ID, jwks_url=provider.jwks_url)
    )
    with pytest.raises(IdpUnavailable, match="names issuer"):
        asyncio.run(wrong.authorization_url("state", NONCE, "v" * 43, "http://localhost/auth/callback"))


def test_an_unreachable_provider_is_a_503(provider: OidcStandIn) -> None:
    gone = RelyingParty(OidcSettings(issuer="http://127.0.0.1:9", client_id=CLIENT_ID))
    with pytest.raises(IdpUnavailable) as failed:
        asyncio.run(gone.authorization_url("state", NONCE, "v" * 43, "http://localhost/auth/callback"))
    assert failed.value.http_status == 503
