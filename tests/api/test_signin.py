"""The web sign-in over HTTP, through a real uvicorn and the loopback OIDC stand-in: a session only after
a whole, valid authorization-code flow; the cookie's attributes; every tampered step refused with no
session; sign-out; and no cross-site write riding on the cookie."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from api_support import Indexed, live_server
from signin_support import oidc_app

from tests.oidc_standin import OidcStandIn, running_standin

pytestmark = pytest.mark.slow


@pytest.fixture
def provider() -> Iterator[OidcStandIn]:
    with running_standin() as standin:
        yield standin


@pytest.fixture
def server_url(indexed: Indexed, provider: OidcStandIn, tmp_path: Path) -> Iterator[str]:
    with live_server(oidc_app(indexed, provider, tmp_path)) as server:
        yield server.url


def browser() -> httpx.Client:
    """A client that keeps cookies and follows no redirect, as the tests walk each hop themselves."""
    return httpx.Client(timeout=30, follow_redirects=False)


def start(client: httpx.Client, server_url: str) -> str:
    """``/auth/login``: the provider's authorization URL it sends the browser to."""
    response = client.get(server_url + "/auth/login")
    assert response.status_code == 303, response.text
    assert response.headers["cache-control"] == "no-store"
    return response.headers["location"]


def authorize(url: str) -> str:
    """The provider signs in (whoever ``login_as`` named) and answers with the callback URL."""
    response = httpx.get(url, follow_redirects=False)
    assert response.status_code == 302, response.text
    return response.headers["location"]


def sign_in(client: httpx.Client, server_url: str, provider: OidcStandIn, user: str, groups: list[str],
            **claims: object) -> httpx.Response:  # fmt: skip
    provider.login_as(user, groups, **claims)
    return client.get(authorize(start(client, server_url)))


def session_cookie(response: httpx.Response) -> str | None:
    """The Set-Cookie header that sets the session, or None."""
    for header in response.headers.get_list("set-cookie"):
        if header.startswith("mmsearch_session=") and not header.startswith('mmsearch_session="";'):
            return header
    return None


def with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | params
    return urlunsplit(parts._replace(query=urlencode(query)))


def test_a_reader_signs_in_and_gets_a_strict_httponly_session_cookie(
    server_url: str, provider: OidcStandIn, tmp_path: Path
) -> None:
    with browser() as client:
        assert client.get(server_url + "/v1/me").status_code == 401  # auth is on: nobody yet
        assert client.get(server_url + "/v1/info").json()["sign_in"] is True
        url = start(client, server_url)
        query = parse_qs(urlsplit(url).query)
        assert query["code_challenge_method"] == ["S256"] and query["response_type"] == ["code"]
        assert query["redirect_uri"] == [server_url + "/auth/callback"]
        assert "code_verifier" not in query  # the verifier stays on the server
        provider.login_as("alice", ["finance-staff"])
        landed = client.get(authorize(url))
        assert landed.status_code == 200, landed.text
        cookie = session_cookie(landed)
        assert cookie is not None
        attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
        assert {"httponly", "samesite=strict", "path=/", "max-age=28800"} <= attributes
        assert "secure" not in attributes  # plain http on loopback
        # A page of this origin moves the browser on (a navigation that carries a Strict cookie); no script.
        assert '<meta http-equiv="refresh" content="0; url=/">' in landed.text
        assert "<script" not in landed.text
        policy = landed.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "unsafe-inline" not in policy
        assert landed.headers["referrer-policy"] == "no-referrer"  # the code in the URL goes nowhere
        me = client.get(server_url + "/v1/me").json()
        assert (me["name"], me["role"], me["collections"]) == ("oidc:alice", "reader", ["finance"])
        assert may_write(me) is False
        # Searching from the page works with the cookie alone; the token exchange sent the PKCE verifier.
        search = {"text": "birds", "rerank": False}
        found = client.post(server_url + "/v1/search", json=search, headers={"Sec-Fetch-Site": "same-origin"})
        assert found.status_code == 200
        assert provider.token_requests[-1]["code_verifier"]
    session_id = cookie.split(";")[0].split("=", 1)[1]
    with sqlite3.connect(tmp_path / "sessions.sqlite") as db:
        stored = [str(v) for row in db.execute("SELECT * FROM sessions") for v in row]
    assert stored and not any(session_id in value for value in stored)  # only its hash is kept
    entries = audit(tmp_path)
    signed = [e for e in entries if e["action"] == "sign_in"]
    assert signed and signed[0]["principal"] == {"name": "oidc:alice", "role": "reader", "via": "session"}
    assert signed[0]["details"] == {"collections": ["finance"]}
    assert [e["principal"]["name"] for e in entries if e["action"] == "search"] == ["oidc:alice"]
    trail = (tmp_path / "audit" / "audit.jsonl").read_text()
    code = parse_qs(urlsplit(url).query)["state"][0]
    assert session_id not in trail and code not in trail


def may_write(me: dict[str, Any]) -> bool:
    """``/v1/me``'s answer to "may this caller add and delete" (``can_write``, or h19c's ``may_write``)."""
    return bool(me["can_write"] if "can_write" in me else me["may_write"])


def audit(data_dir: Path) -> list[dict[str, Any]]:
    path = data_dir / "audit" / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_the_cookie_is_secure_when_the_callback_is_https(
    indexed: Indexed, provider: OidcStandIn, tmp_path: Path
) -> None:
    app = oidc_app(indexed, provider, tmp_path, redirect_url="https://127.0.0.1/auth/callback")
    with live_server(app) as server, browser() as client:
        login = client.get(server.url + "/auth/login")
        assert "secure" in login.headers["set-cookie"].lower()  # the login cookie too
        provider.login_as("alice", ["finance-staff"])
        back = urlsplit(authorize(login.headers["location"]))
        assert back.scheme == "https"
        # The proxy in front would pass this on as plain http: the server redeems the code for the https URL.
        binding = login.cookies["mmsearch_login"]  # over https the browser would send it; httpx, not on http
        landed = client.get(
            server.url + back.path + "?" + back.query, headers={"Cookie": f"mmsearch_login={binding}"}
        )
        cookie = session_cookie(landed)
        assert cookie is not None and "secure" in cookie.lower().split("; ")


@pytest.mark.parametrize("state", [None, "forged-state-0123456789"])
def test_a_forged_or_absent_state_opens_no_session(
    server_url: str, provider: OidcStandIn, state: str | None, tmp_path: Path
) -> None:
    with browser() as client:
        provider.login_as("alice", ["finance-staff"])
        callback = authorize(start(client, server_url))
        params = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
        if state is None:
            params.pop("state")
        else:
            params["state"] = state
        answer = client.get(server_url + "/auth/callback?" + urlencode(params))
        assert answer.status_code == 401 and "Sign-in failed" in answer.text
        assert "unknown, was already used" in answer.text
        assert session_cookie(answer) is None
        assert client.get(server_url + "/v1/me").status_code == 401
    failed = [e for e in audit(tmp_path) if e["action"] == "sign_in_failed"]
    assert len(failed) == 1 and "already used" in failed[0]["details"]["why"]


def test_a_used_callback_or_code_opens_no_second_session(server_url: str, provider: OidcStandIn) -> None:
    with browser() as first:
        provider.login_as("alice", ["finance-staff"])
        callback = authorize(start(first, server_url))
        assert session_cookie(first.get(callback)) is not None
    with browser() as client:  # the same callback URL again: its state was taken once
        client.cookies.update(first.cookies)
        replay = client.get(callback)
        assert replay.status_code == 401 and session_cookie(replay) is None
    with browser() as client:  # the old code under a fresh, valid login: the provider refuses it
        fresh = parse_qs(urlsplit(start(client, server_url)).query)["state"][0]
        answer = client.get(with_query(callback, state=fresh))
        assert answer.status_code == 401 and "invalid_grant" in answer.text
        assert session_cookie(answer) is None


def test_an_id_token_with_another_nonce_opens_no_session(server_url: str, provider: OidcStandIn) -> None:
    with browser() as client:
        provider.login_as("alice", ["finance-staff"])
        url = with_query(start(client, server_url), nonce="a-nonce-this-login-never-sent")
        answer = client.get(authorize(url))
        assert answer.status_code == 401 and "nonce" in answer.text
        assert session_cookie(answer) is None
        assert client.get(server_url + "/v1/me").status_code == 401


def test_an_id_token_from_another_issuer_opens_no_session(server_url: str, provider: OidcStandIn) -> None:
    with browser() as client:
        answer = sign_in(client, server_url, provider, "alice", ["finance-staff"], iss="http://127.0.0.1:9/")
        assert answer.status_code == 401 and "iss" in answer.text
        assert session_cookie(answer) is None


def test_an_expired_id_token_opens_no_session(server_url: str, provider: OidcStandIn) -> None:
    with browser() as client:
        answer = sign_in(client, server_url, provider, "alice", ["finance-staff"], exp=1_000_000_000)
        assert answer.status_code == 401 and "expired" in answer.text
        assert session_cookie(answer) is None


def test_a_login_finished_in_another_browser_opens_no_session(server_url: str, provider: OidcStandIn) -> None:
    """Login CSRF: an attacker's own authorization response, fed to a victim's browser, signs nobody in."""
    with browser() as attacker, browser() as victim:
        provider.login_as("mallory", ["finance-editors"])
        callback = authorize(start(attacker, server_url))
        answer = victim.get(callback)
        assert answer.status_code == 401 and "another browser" in answer.text
        assert session_cookie(answer) is None


def test_a_user_whose_groups_map_to_nothing_gets_no_access_and_no_session(
    server_url: str, provider: OidcStandIn, tmp_path: Path
) -> None:
    with browser() as client:
        answer = sign_in(client, server_url, provider, "bob", ["marketing"])
        assert answer.status_code == 403 and "No access" in answer.text and "bob" in answer.text
        assert session_cookie(answer) is None
        assert client.get(server_url + "/v1/me").status_code == 401
    failed = [e for e in audit(tmp_path) if e["action"] == "sign_in_failed"]
    assert [e["principal"]["name"] for e in failed] == ["oidc:bob"]


def test_the_provider_saying_no_opens_no_session(server_url: str) -> None:
    with browser() as client:
        state = parse_qs(urlsplit(start(client, server_url)).query)["state"][0]
        answer = client.get(
            server_url + "/auth/callback?" + urlencode({"state": state, "error": "access_denied"})
        )
        assert answer.status_code == 401 and "access_denied" in answer.text
        assert session_cookie(answer) is None


def test_sign_out_ends_the_session_on_the_server(server_url: str, provider: OidcStandIn) -> None:
    with browser() as client:
        landed = sign_in(client, server_url, provider, "erin", ["finance-editors"])
        assert may_write(client.get(server_url + "/v1/me").json()) is True
        kept = dict(client.cookies)
        out = client.post(server_url + "/auth/logout", headers={"Sec-Fetch-Site": "same-origin"})
        assert out.status_code == 303 and out.headers["location"] == "/"
        cleared = out.headers["set-cookie"]
        assert cleared.startswith('mmsearch_session="";') and "max-age=0" in cleared.lower()
        assert client.get(server_url + "/v1/me").status_code == 401
    assert session_cookie(landed) is not None
    # The old cookie, replayed: its session is gone from the server, not just from the browser.
    assert httpx.get(server_url + "/v1/me", cookies=kept).status_code == 401


def test_a_cross_site_write_with_the_cookie_is_refused(server_url: str, provider: OidcStandIn) -> None:
    with browser() as client:
        sign_in(client, server_url, provider, "erin", ["finance-editors"])
        files = {"files": ("x.png", b"\x89PNG\r\n\x1a\n", "image/png")}
        for headers in (
            {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
            {"Sec-Fetch-Site": "same-site"},  # a sibling host: SameSite=Strict still sends the cookie
            {"Origin": "http://evil.example"},  # a browser without Fetch Metadata
            {},  # neither: not provably from this origin
        ):
            refused = client.post(server_url + "/v1/documents", files=files, headers=headers)
            assert refused.status_code == 403, (headers, refused.text)
            assert refused.json()["error"]["code"] == "cross_origin"
            out = client.post(server_url + "/auth/logout", headers=headers)
            assert out.status_code == 403  # nor can another site sign the user out
        assert client.get(server_url + "/v1/me").json()["name"] == "oidc:erin"


def test_a_reader_session_may_not_write(server_url: str, provider: OidcStandIn) -> None:
    with browser() as client:
        sign_in(client, server_url, provider, "alice", ["finance-staff"])
        files = {"files": ("x.png", b"\x89PNG\r\n\x1a\n", "image/png")}
        answer = client.post(
            server_url + "/v1/documents", files=files, headers={"Sec-Fetch-Site": "same-origin"}
        )
        assert answer.status_code == 403 and answer.json()["error"]["code"] == "forbidden"


def test_without_oidc_the_auth_routes_are_absent(indexed: Indexed) -> None:
    with live_server(indexed.app()) as server:
        assert httpx.get(server.url + "/auth/login").status_code == 404
        assert httpx.get(server.url + "/v1/info").json()["sign_in"] is False
        assert httpx.get(server.url + "/v1/me").json()["role"] == "admin"  # an open loopback server
