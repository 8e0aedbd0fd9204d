"""The API docs at /docs: Swagger UI from this server's own files (no CDN), under a strict CSP.

The page in a real browser is in ``test_browser.py``."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from api_support import tiny_settings

from mmsearch.api.app import create_app
from mmsearch.api.edge.headers import script_hash

pytestmark = pytest.mark.anyio

CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A server that needs keys, sent none; its parts are never opened (no lifespan)."""
    app = create_app(
        tiny_settings(tmp_path / "data", tmp_path / "no-models", server={"read_keys": ["k" * 20]})
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        yield client


async def docs_page(client: httpx.AsyncClient) -> httpx.Response:
    response = await client.get("/docs")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    return response


def referenced(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]*)"', html)


async def test_docs_reference_only_local_assets_and_each_loads(client: httpx.AsyncClient) -> None:
    page = await docs_page(client)
    assert "http://" not in page.text and "https://" not in page.text
    urls = referenced(page.text)
    assert len(urls) == 3, urls  # the script, the stylesheet, the icon
    for url in urls:
        assert not url.startswith(("/", "//")) and ":" not in url, url  # relative: works under a prefix
        asset = await client.get(page.url.join(url))
        assert asset.status_code == 200, url
        expected = CONTENT_TYPES[Path(url).suffix]
        assert asset.headers["content-type"].split(";")[0] == expected, url
        assert len(asset.content) > 1000, url


async def test_the_spec_the_page_loads_is_served(client: httpx.AsyncClient) -> None:
    page = await docs_page(client)
    spec_url = re.search(r"url: '([^']+)'", page.text)
    assert spec_url is not None, page.text
    spec = await client.get(page.url.join(spec_url.group(1)))
    assert spec.status_code == 200
    assert spec.json()["info"]["title"] == "mmsearch"
    assert "/v1/search" in spec.json()["paths"]


async def test_csp_allows_only_the_page_s_own_inline_script(client: httpx.AsyncClient) -> None:
    page = await docs_page(client)
    inline = re.findall(r"<script>(.*?)</script>", page.text, re.DOTALL)
    assert len(inline) == 1 and "SwaggerUIBundle(" in inline[0]
    policy = dict(
        directive.strip().split(" ", 1) for directive in page.headers["content-security-policy"].split(";")
    )
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == f"'self' {script_hash(inline[0])}"
    assert "unsafe" not in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"


async def test_the_web_page_still_allows_no_inline_script(client: httpx.AsyncClient) -> None:
    page = await client.get("/")
    assert "script-src 'self';" in page.headers["content-security-policy"]


@pytest.mark.parametrize("path", ["/redoc", "/docs/assets/nothing.js", "/docs/assets/..%2Fcore.py"])
async def test_cdn_pages_and_unknown_assets_are_404(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_openapi_declares_the_bearer_scheme_on_key_checked_routes(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["HTTPBearer"]["scheme"].lower() == "bearer"
    assert {name: s["type"] for name, s in schemes.items()} == {"HTTPBearer": "http", "SignedUrl": "apiKey"}
    assert spec["paths"]["/v1/search"]["post"]["security"]
    assert spec["paths"]["/v1/documents"]["post"]["security"]
