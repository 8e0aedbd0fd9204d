"""OIDC bearer tokens against the loopback provider: what is accepted, every kind of refusal, the keys'
sources (discovery, jwks_url, jwks_file), rotation and an unreachable provider."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from mmsearch.access.idp import IdpUnavailable, TokenRejected
from mmsearch.access.oidc import OidcValidator
from mmsearch.access.principal import Role
from mmsearch.access.settings import OidcSettings
from mmsearch.errors import ConfigError
from tests.oidc_standin import CLIENT_ID, OidcStandIn, running_standin

MAPPING = [
    {"idp_group": "finance", "role": "reader", "collections": ["finance"]},
    {"idp_group": "legal-editors", "role": "writer", "collections": ["legal"], "groups": ["legal"]},
]


@pytest.fixture(scope="module")
def provider() -> Iterator[OidcStandIn]:
    with running_standin() as standin:
        yield standin


def settings(provider: OidcStandIn, **extra: Any) -> OidcSettings:
    return OidcSettings(issuer=provider.issuer, client_id=CLIENT_ID, mapping=MAPPING, **extra)


def test_a_valid_token_maps_to_its_principal(provider: OidcStandIn) -> None:
    validator = OidcValidator(settings(provider))
    principal = validator.principal(provider.token("alice", ["finance", "unmapped"]))
    assert principal is not None
    assert (principal.name, principal.role, principal.via) == ("oidc:alice", Role.READER, "oidc")
    assert principal.collections == frozenset({"finance"}) and principal.groups == frozenset({"finance"})
    both = validator.principal(provider.token("bob", ["finance", "legal-editors"]))
    assert both is not None and both.role == Role.WRITER
    assert both.collections == frozenset({"finance", "legal"}) and both.groups == frozenset(
        {"finance", "legal"}
    )


def test_a_valid_token_whose_groups_map_to_nothing_has_no_principal(provider: OidcStandIn) -> None:
    assert OidcValidator(settings(provider)).principal(provider.token("eve", ["marketing"])) is None
    assert OidcValidator(settings(provider)).principal(provider.token("eve", [])) is None


def _bad_tokens(provider: OidcStandIn) -> dict[str, str]:
    now = int(time.time())
    return {
        "bad signature": provider.bad_signature("alice", ["finance"]),
        "alg none": provider.alg_none("alice", ["finance"]),
        "hs256 with the public key": provider.hs256_with_public_key("alice", ["finance"]),
        "expired": provider.token("alice", ["finance"], exp=now - 120),
        "not yet valid": provider.token("alice", ["finance"], nbf=now + 600),
        "issued in the future": provider.token("alice", ["finance"], iat=now + 600),
        "wrong audience": provider.token("alice", ["finance"], audience="another-app"),
        "wrong issuer": provider.token("alice", ["finance"], iss="http://127.0.0.1:1/evil"),
        "no exp": provider.sign(
            {k: v for k, v in provider.claims("alice", ["finance"]).items() if k != "exp"}
        ),
        "garbage": "abc.def.ghi",
        "tampered claims": _tampered(provider.token("alice", ["finance"])),
        "too long": provider.token("alice", ["finance"], pad="x" * 20_000),
    }


def _tampered(token: str) -> str:
    header, body, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["groups"] = ["legal-editors"]
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"{header}.{forged}.{signature}"


@pytest.mark.parametrize(
    "kind",
    [
        "bad signature", "alg none", "hs256 with the public key", "expired", "not yet valid",
        "issued in the future", "wrong audience", "wrong issuer", "no exp", "garbage", "tampered claims",
        "too long",
    ],
)  # fmt: skip
def test_bad_tokens_are_rejected_with_one_message(provider: OidcStandIn, kind: str) -> None:
    with pytest.raises(TokenRejected) as refused:
        OidcValidator(settings(provider)).claims(_bad_tokens(provider)[kind])
    assert str(refused.value) == "invalid token" and refused.value.http_status == 401


def test_leeway_accepts_small_clock_skew(provider: OidcStandIn) -> None:
    token = provider.token("alice", ["finance"], exp=int(time.time()) - 10)
    assert OidcValidator(settings(provider, leeway_s=60)).claims(token)["preferred_username"] == "alice"
    with pytest.raises(TokenRejected):
        OidcValidator(settings(provider, leeway_s=0)).claims(token)


def test_audience_setting_beats_client_id_and_a_list_aud_holds_it(provider: OidcStandIn) -> None:
    validator = OidcValidator(settings(provider, audience="search-api"))
    assert validator.claims(provider.token("a", [], audience="search-api"))
    assert validator.claims(provider.token("a", [], aud=["other", "search-api"]))
    with pytest.raises(TokenRejected):
        validator.claims(provider.token("a", []))  # aud = the client id, not the configured audience


def test_an_algorithm_outside_the_allow_list_is_refused(provider: OidcStandIn) -> None:
    ec = ECKey.generate_key("P-256", parameters={"kid": "ec-1"})
    jwks = {"keys": [provider.key.as_dict(private=False), ec.as_dict(private=False)]}
    token = jwt.encode({"alg": "ES256", "kid": "ec-1"}, provider.claims("a", ["finance"]), ec)
    allowed = OidcValidator(settings(provider, jwks_url=provider.jwks_url), fetch=lambda url: jwks)
    assert allowed.claims(token)["sub"] == "sub-a"
    only_rsa = OidcValidator(
        settings(provider, algorithms=["RS256"], jwks_url=provider.jwks_url), fetch=lambda url: jwks
    )
    with pytest.raises(TokenRejected):
        only_rsa.claims(token)


@pytest.mark.parametrize("algorithms", [["none"], ["HS256"], ["RS256", "HS512"], []])
def test_unsafe_algorithm_settings_are_refused(algorithms: list[str]) -> None:
    with pytest.raises(ValueError, match="not allowed"):
        OidcSettings(issuer="http://idp", client_id="x", algorithms=algorithms)


def test_keys_from_jwks_url_and_from_a_file(provider: OidcStandIn, tmp_path: Path) -> None:
    token = provider.token("alice", ["finance"])
    fetched: list[str] = []

    def fetch(url: str) -> dict[str, Any]:
        fetched.append(url)
        return provider.jwks

    assert OidcValidator(settings(provider, jwks_url=provider.jwks_url), fetch=fetch).claims(token)
    assert fetched == [provider.jwks_url]  # no discovery when the URL is given
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(provider.jwks))
    assert OidcValidator(settings(provider, jwks_file=path), fetch=fetch).claims(token)
    assert fetched == [provider.jwks_url]  # the file: no network at all


def test_discovery_is_used_and_keys_are_cached(provider: OidcStandIn) -> None:
    fetched: list[str] = []
    validator = OidcValidator(settings(provider), fetch=_recording(fetched))
    for _ in range(3):
        validator.claims(provider.token("alice", ["finance"]))
    assert fetched == [f"{provider.issuer}/.well-known/openid-configuration", provider.jwks_url]


def _recording(fetched: list[str]) -> Any:
    from mmsearch.access.idp import fetch_json

    def fetch(url: str) -> Any:
        fetched.append(url)
        return fetch_json(url)

    return fetch


def test_a_rotated_key_is_fetched_on_its_unknown_kid_at_most_once_per_interval(provider: OidcStandIn) -> None:
    fetched: list[str] = []
    jwks = {"keys": [provider.key.as_dict(private=False)]}

    def fetch(url: str) -> dict[str, Any]:
        fetched.append(url)
        return jwks

    validator = OidcValidator(settings(provider, jwks_url=provider.jwks_url), fetch=fetch, refetch_s=0.3)
    validator.claims(provider.token("alice", []))
    new = RSAKey.generate_key(2048, parameters={"kid": "standin-2"})
    token = jwt.encode({"alg": "RS256", "kid": "standin-2"}, provider.claims("alice", []), new)
    time.sleep(0.35)
    with pytest.raises(TokenRejected):  # refetched, still unknown
        validator.claims(token)
    with pytest.raises(TokenRejected):  # within the interval: not fetched again
        validator.claims(token)
    assert len(fetched) == 2
    jwks["keys"].append(new.as_dict(private=False))
    time.sleep(0.35)
    assert validator.claims(token)["sub"] == "sub-alice"
    assert len(fetched) == 3


def test_an_unreachable_provider_is_503_and_not_fetched_per_request(provider: OidcStandIn) -> None:
    calls: list[str] = []

    def down(url: str) -> Any:
        calls.append(url)
        raise IdpUnavailable(f"cannot fetch {url}")

    validator = OidcValidator(settings(provider), fetch=down)
    for _ in range(5):
        with pytest.raises(IdpUnavailable) as unavailable:
            validator.claims(provider.token("alice", []))
        assert unavailable.value.http_status == 503
    assert len(calls) == 1


def test_a_discovery_document_of_another_issuer_is_refused(provider: OidcStandIn) -> None:
    doc = {**provider.discovery(), "issuer": "http://127.0.0.1:1/other"}
    validator = OidcValidator(
        settings(provider), fetch=lambda url: doc if "well-known" in url else provider.jwks
    )
    with pytest.raises(IdpUnavailable):
        validator.claims(provider.token("alice", []))


def test_an_issuer_without_an_audience_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="audience or client_id"):
        OidcValidator(OidcSettings(issuer="http://idp"))
