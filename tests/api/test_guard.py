"""Host allow-list and the Origin rule for writes (``mmsearch/api/edge/guard.py``), in process.

The browser halves (a real cross-origin page, DNS rebinding's Host) are in ``test_hardening_browser.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import READ_KEY, Indexed, tiny_settings

from mmsearch.api.app import create_app
from mmsearch.api.edge.guard import HostRule, host_name
from mmsearch.api.settings import ApiSettings
from mmsearch.errors import ConfigError

pytestmark = pytest.mark.anyio

PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415478da63f8cfc0"
    "00000301010018dd8db00000000049454e44ae426082"
)


async def send(
    app: object, method: str, url: str, headers: dict[str, str], **kwargs: object
) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        return await client.request(method, url, headers=headers, **kwargs)  # type: ignore[arg-type]


def open_app(tmp_path: Path, **server: object) -> object:
    return create_app(tiny_settings(tmp_path / "data", tmp_path / "no-models", server=server))


@pytest.mark.parametrize(
    ("header", "allowed"),
    [
        ("localhost", True),
        ("localhost:8000", True),
        ("127.0.0.1:41234", True),
        ("[::1]:8000", True),
        ("LOCALHOST.", True),
        ("attacker.example", False),
        ("attacker.example:8000", False),
        ("localhost.attacker.example", False),
        ("127.0.0.1.nip.io", False),
        ("localhost:80:80", False),
        ("localhost:x", False),
        ("[::1", False),
        ("", False),
    ],
)
def test_loopback_server_answers_to_loopback_names_only(header: str, allowed: bool) -> None:
    assert HostRule(ApiSettings()).allows(header) is allowed


def test_listed_names_and_wildcards() -> None:
    rule = HostRule(ApiSettings(host="0.0.0.0", allowed_hosts=["search.example.com", "*.corp.example"]))
    assert rule.allows("search.example.com") and rule.allows("SEARCH.example.com:443")
    assert rule.allows("a.corp.example") and rule.allows("b.a.corp.example:8000")
    assert rule.allows("127.0.0.1:8000")  # health checks from inside the container
    assert not rule.allows("corp.example") and not rule.allows("evilcorp.example")
    assert not rule.allows("search.example.com.attacker.example")
    assert HostRule(ApiSettings(host="0.0.0.0", allowed_hosts=["*"])).allows("anything.example")


def test_a_public_server_must_list_its_names() -> None:
    with pytest.raises(
        ConfigError, match=r"server\.allowed_hosts is required when server\.host is 0\.0\.0\.0"
    ):
        HostRule(ApiSettings(host="0.0.0.0", read_keys=["k" * 20]))
    with pytest.raises(ConfigError, match="ALLOWED_HOSTS"):
        HostRule(ApiSettings(host="0.0.0.0", allowed_hosts=[]))


def test_allowed_hosts_values_are_checked() -> None:
    assert ApiSettings.model_validate({"allowed_hosts": "a.example, [::1] ,B.example."}).allowed_hosts == [
        "a.example", "::1", "b.example",
    ]  # fmt: skip
    for bad in ["http://a.example", "a.example:8000", "a b", "a/b"]:
        with pytest.raises(ValueError, match="not a host name"):
            ApiSettings(allowed_hosts=[bad])


def test_host_name_parsing() -> None:
    assert host_name("Example.COM:8080") == "example.com"
    assert host_name("[2001:db8::1]:443") == "2001:db8::1"
    assert host_name("[::1]x") == ""


async def test_a_foreign_host_is_refused_on_every_route(tmp_path: Path) -> None:
    app = open_app(tmp_path)
    for method, url in [("GET", "/"), ("GET", "/v1/info"), ("GET", "/healthz"), ("POST", "/v1/search")]:
        response = await send(
            app, method, url, {"Host": "attacker.example", "Origin": "http://attacker.example"}
        )
        assert response.status_code == 400, (url, response.text)
        assert response.json()["error"]["code"] == "host_not_allowed"
        assert "server.allowed_hosts" in response.json()["error"]["message"]


async def test_signed_urls_never_carry_a_foreign_host(indexed: Indexed) -> None:
    app = indexed.app(read_keys=[READ_KEY], allowed_hosts=["search.example.com"])
    auth = {"Authorization": f"Bearer {READ_KEY}"}
    body = {"text": "revenue", "top_k": 1, "candidates": 1, "rerank": False}
    async with app.router.lifespan_context(app):
        refused = await send(app, "POST", "/v1/search", {**auth, "Host": "attacker.example"}, json=body)
        assert refused.status_code == 400 and "attacker" not in refused.json().get("hits", "")
        ok = await send(app, "POST", "/v1/search", {**auth, "Host": "search.example.com"}, json=body)
    assert ok.status_code == 200, ok.text
    hit = ok.json()["hits"][0]
    for url in (hit["image_url"], hit["thumbnail_url"], hit["file_url"], hit["link"]):
        assert url.startswith("http://search.example.com/v1/"), url


@pytest.mark.parametrize(
    "headers",
    [
        {},  # a no-cors form post from a browser too old for Origin, or a program that sent nothing
        {"Origin": "http://127.0.0.1:9999"},  # another site on this machine
        {"Origin": "null"},  # a sandboxed or data: page
        {"Origin": "http://localhost", "Sec-Fetch-Site": "cross-site"},  # Fetch Metadata wins
        {"Sec-Fetch-Site": "same-site"},
        {"Sec-Fetch-Site": "none"},
    ],
)
async def test_cross_site_writes_are_refused_with_auth_off(tmp_path: Path, headers: dict[str, str]) -> None:
    app = open_app(tmp_path)
    files = {"files": ("x.png", PNG_1PX, "image/png")}
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/v1/documents", {"files": files}),
        ("DELETE", "/v1/documents/abc", {}),
        ("POST", "/v1/search", {"json": {"text": "x"}}),
    ]
    for method, url, kwargs in calls:
        response = await send(app, method, url, headers, **kwargs)
        assert response.status_code == 403, (method, url, headers, response.text)
        error = response.json()["error"]
        assert error["code"] == "cross_origin" and "Authorization" in error["message"]
    assert not (tmp_path / "data" / "uploads").exists()  # nothing was stored


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://localhost"},
        {"Sec-Fetch-Site": "same-origin"},
        {"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"},
        {"Authorization": "Bearer anything-at-all"},
    ],
)
async def test_same_origin_or_authorized_writes_pass_the_guard(
    tmp_path: Path, headers: dict[str, str]
) -> None:
    """They reach the route (503 here: this app's parts were never opened), not the guard's 403."""
    response = await send(open_app(tmp_path), "POST", "/v1/search", headers, json={"text": "x"})
    assert response.status_code == 503 and response.json()["error"]["code"] == "starting"


async def test_reads_need_no_origin(tmp_path: Path) -> None:
    assert (await send(open_app(tmp_path), "GET", "/v1/info", {})).status_code == 200


async def test_with_auth_on_a_keyless_write_is_a_plain_401(tmp_path: Path) -> None:
    app = open_app(tmp_path, write_keys=["w" * 20])
    response = await send(app, "POST", "/v1/documents", {}, files={"files": ("x.png", PNG_1PX, "image/png")})
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"


async def test_the_web_page_allows_no_inline_script(tmp_path: Path) -> None:
    app = open_app(tmp_path)
    page = await send(app, "GET", "/", {})
    policy = dict(part.strip().split(" ", 1) for part in page.headers["content-security-policy"].split(";"))
    assert policy["script-src"] == "'self'" and policy["default-src"] == "'none'"
    assert "<script>" not in page.text  # only <script src=...>
    script = (await send(app, "GET", "/static/app.js", {})).text
    # The key is kept for the tab (sessionStorage), never where it outlives it; no script touches cookies.
    assert "localStorage." not in script and "document.cookie" not in script
