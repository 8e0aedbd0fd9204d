"""``/mcp`` of a live server (real uvicorn), driven by the official ``mcp`` client over streamable HTTP.

Two apps over one index: auth off (programs still send ``Authorization``, any value: ``edge/guard.py``)
and auth on with managed keys, one of them scoped to the ``finance`` collection, which must see nothing
of ``photos`` through any tool. ``mmsearch mcp --server`` (stdio, in a child process) is driven through
the keyed server too, and ``GET /v1/points/{id}``, which it reads pages from.
"""

from __future__ import annotations

import base64
import io
import os
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult, ImageContent, TextContent
from PIL import Image

from mmsearch import components
from mmsearch.access.audit import open_audit_log
from mmsearch.access.keys import mint
from mmsearch.access.principal import Role
from mmsearch.api.app import create_app
from mmsearch.api.services.parts import open_services
from mmsearch.config import Settings
from mmsearch.mcp.images import MAX_BYTES, MAX_SIDE
from tests.api.api_support import live_server
from tests.mcp.mcp_support import McpIndex
from tests.support import REPO, tiny_env

TOOLS = {"search", "get_page", "list_documents", "list_collections"}


@dataclass(frozen=True)
class Served:
    open_url: str  # auth off
    keyed_url: str  # auth on
    finance_key: str  # a reader of `finance` only
    all_key: str  # a reader of every collection
    index: McpIndex
    finance_name: str  # the finance key's principal, in the audit trail


def _with_server(settings: Settings, **server: Any) -> Settings:
    return settings.model_copy(update={"server": settings.server.model_copy(update=server)})


@pytest.fixture(scope="module")
def served(mcp_index: McpIndex) -> Iterator[Served]:
    settings = mcp_index.settings
    keys = components.build_key_store(settings)
    finance_key, finance = mint(f"finance-{os.getpid()}", Role.READER, ["finance"], None)
    all_key, everything = mint(f"all-{os.getpid()}", Role.READER, ["*"], None)
    keys.add(finance)
    keys.add(everything)
    services = open_services(settings)
    try:
        open_app = create_app(_with_server(settings, require_auth=False), services)
        keyed_app = create_app(_with_server(settings, require_auth=True), services)
        with live_server(open_app) as open_live, live_server(keyed_app) as keyed_live:
            yield Served(
                open_live.url, keyed_live.url, finance_key, all_key, mcp_index, f"key:{finance.name}"
            )
    finally:
        services.close()
        for name in (finance.name, everything.name):
            keys.revoke(name, 0.0)


@asynccontextmanager
async def session(url: str, key: str | None = None) -> AsyncIterator[Client]:
    """An MCP client of ``url``/mcp sending ``Authorization: Bearer <key>`` (a placeholder without one)."""
    headers = {"Authorization": f"Bearer {key or 'no-key'}"}
    http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0, read=300.0))
    async with http, Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client:
        yield client


def text_of(result: CallToolResult) -> str:
    first = result.content[0]
    assert isinstance(first, TextContent)
    return first.text


def images_of(result: CallToolResult) -> list[ImageContent]:
    return [c for c in result.content if isinstance(c, ImageContent)]


def structured(result: CallToolResult) -> dict[str, Any]:
    assert result.structured_content is not None
    return result.structured_content


@pytest.mark.anyio
async def test_the_tools_are_listed_with_their_arguments(served: Served) -> None:
    async with session(served.open_url) as client:
        listed = (await client.list_tools()).tools
    assert {tool.name for tool in listed} == TOOLS
    search = next(tool for tool in listed if tool.name == "search")
    assert search.input_schema["required"] == ["query"]
    assert {"query", "top_k", "collections", "filters", "mode", "images"} <= set(
        search.input_schema["properties"]
    )
    assert all(tool.annotations is not None and tool.annotations.read_only_hint for tool in listed)


@pytest.mark.anyio
async def test_search_returns_citations_and_page_images(served: Served) -> None:
    async with session(served.open_url) as client:
        result = await client.call_tool("search", {"query": "quarterly revenue", "top_k": 3, "images": 2})
        vector = await client.call_tool(
            "search", {"query": "quarterly revenue", "mode": "vector", "images": 0}
        )
    assert not result.is_error, text_of(result)
    assert structured(vector)["mode"] == "vector" and "(vector search, not reranked" in text_of(vector)
    hits = structured(result)["hits"]
    assert 1 <= len(hits) <= 3
    text = text_of(result)
    for hit in hits:  # each hit is cited: name, collection, point id and a link that opens it in place
        assert f"[{hit['rank']}] {hit['name']}" in text and hit["point_id"] in text
        assert hit["link"].startswith(f"{served.open_url}/v1/documents/{hit['doc_id']}/file?v=")
        if hit["modality"] == "page":
            assert hit["link"].endswith(f"#page={hit['page']}") and f"page {hit['page']} of 2" in text
    images = images_of(result)
    assert len(images) == min(2, len(hits)) and structured(result)["images"] == [
        h["point_id"] for h in hits[:2]
    ]
    for image, hit in zip(images, hits, strict=False):
        data = base64.b64decode(image.data)
        assert image.mime_type == "image/jpeg" and len(data) <= MAX_BYTES
        with Image.open(io.BytesIO(data)) as opened:
            assert opened.format == "JPEG" and max(opened.size) <= MAX_SIDE
        assert image.meta is not None and image.meta["point_id"] == hit["point_id"]


@pytest.mark.anyio
async def test_get_page_returns_the_whole_text_and_the_image(served: Served) -> None:
    async with session(served.open_url) as client:
        found = await client.call_tool(
            "search", {"query": "finance", "collections": ["finance"], "images": 0}
        )
        hit = structured(found)["hits"][0]
        assert not images_of(found)
        page = await client.call_tool("get_page", {"point_id": hit["point_id"]})
    assert not page.is_error, text_of(page)
    assert hit["modality"] == "page" and hit["name"] == "quarterly-report.pdf"
    marker = served.index.markers[hit["page"]]
    assert marker in structured(page)["text"] and marker in text_of(page)
    assert structured(page)["page"] == hit["page"] and len(images_of(page)) == 1


@pytest.mark.anyio
async def test_listings_show_both_collections_without_auth(served: Served) -> None:
    async with session(served.open_url) as client:
        collections = await client.call_tool("list_collections", {})
        documents = await client.call_tool("list_documents", {"limit": 1})
        rest = await client.call_tool("list_documents", {"offset": 1})
    assert [c["name"] for c in structured(collections)["collections"]] == ["finance", "photos"]
    assert structured(documents)["total"] == 2 and len(structured(documents)["documents"]) == 1
    assert "More: call again with offset 1" in text_of(documents)
    assert [d["name"] for d in structured(rest)["documents"]] == ["lake.jpg"]


@pytest.mark.anyio
async def test_a_key_scoped_to_one_collection_sees_only_that_collection(served: Served) -> None:
    async with session(served.keyed_url, served.all_key) as client:
        photo = await client.call_tool("search", {"query": "lake", "collections": ["photos"], "images": 0})
    photo_id = structured(photo)["hits"][0]["point_id"]
    async with session(served.keyed_url, served.finance_key) as client:
        everything = await client.call_tool("search", {"query": "lake mountains", "top_k": 10, "images": 0})
        asked_photos = await client.call_tool("search", {"query": "lake", "collections": ["photos"]})
        page = await client.call_tool("get_page", {"point_id": photo_id})
        collections = await client.call_tool("list_collections", {})
        documents = await client.call_tool("list_documents", {})
    assert {h["collection"] for h in structured(everything)["hits"]} == {"finance"}
    assert structured(asked_photos)["hits"] == [] and text_of(asked_photos).startswith("No hits")
    assert page.is_error and "no page" in text_of(page)
    assert [c["name"] for c in structured(collections)["collections"]] == ["finance"]
    assert [d["collection"] for d in structured(documents)["documents"]] == ["finance"]
    settings = served.index.settings
    trail = open_audit_log(settings.access.audit, settings.data_dir)  # as through REST: who searched what
    searched = [e.details.get("query") for e in trail.read(principal=served.finance_name, action="search")]
    assert {"lake mountains", "lake"} <= set(searched)


@pytest.mark.anyio
async def test_a_bad_or_missing_key_is_refused_before_the_tools(served: Served) -> None:
    for key in ("mms_0123456789abc_forged-secret", "not-a-key", None):
        headers = {"Authorization": f"Bearer {key}"} if key else {"Content-Type": "application/json"}
        async with httpx.AsyncClient(base_url=served.keyed_url, headers=headers) as http:
            response = await http.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"
    with pytest.raises(BaseExceptionGroup) as refused:  # the SDK's client: the 401 as an MCPError
        async with session(served.keyed_url, "mms_0123456789abc_forged-secret") as client:
            await client.list_tools()
    assert refused.group_contains(MCPError, match="error response")


@pytest.mark.anyio
async def test_the_api_edge_guards_mcp_too(served: Served) -> None:
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    async with httpx.AsyncClient(base_url=served.open_url) as http:
        foreign = await http.post(
            "/mcp", json=message, headers={"Host": "attacker.example", "Authorization": "x"}
        )
        cross_site = await http.post("/mcp", json=message, headers={"Origin": "http://attacker.example"})
        form = await http.post(
            "/mcp", content=b"{}", headers={"Authorization": "x", "Content-Type": "text/plain"}
        )
        stream = await http.get(
            "/mcp", headers={"Authorization": "x", "Accept": "text/event-stream"}, timeout=10
        )
    assert foreign.status_code == 400 and foreign.json()["error"]["code"] == "host_not_allowed"
    assert cross_site.status_code == 403 and cross_site.json()["error"]["code"] == "cross_origin"
    assert form.status_code == 400  # the SDK: a POST must be application/json (a preflighted type)
    assert stream.status_code == 405 and stream.headers["allow"] == "POST"  # no stream to hold open


@pytest.mark.anyio
async def test_bad_arguments_are_clear_tool_errors(served: Served) -> None:
    async with session(served.open_url) as client:
        top_k = await client.call_tool("search", {"query": "x", "top_k": 0})
        mode = await client.call_tool("search", {"query": "x", "mode": "fuzzy"})
        blank = await client.call_tool("search", {"query": "   "})
        twice = await client.call_tool(
            "search", {"query": "x", "collections": ["finance"], "filters": {"collection": "photos"}}
        )
        unknown_filter = await client.call_tool("search", {"query": "x", "filters": {"colour": "red"}})
        no_page = await client.call_tool("get_page", {"point_id": "not-a-point"})
        gone_page = await client.call_tool("get_page", {"point_id": "00000000-0000-4000-8000-000000000000"})
        limit = await client.call_tool("list_documents", {"limit": 100000})
    for result, says in (
        (top_k, "top_k"), (mode, "mode"), (blank, "blank"), (twice, "collections once"),
        (unknown_filter, "colour"), (no_page, "no page 'not-a-point'"), (gone_page, "no page"), (limit, "limit"),
    ):  # fmt: skip
        assert result.is_error and says in text_of(result), text_of(result)


@pytest.mark.anyio
async def test_points_endpoint_is_scoped(served: Served) -> None:
    async with session(served.keyed_url, served.all_key) as client:
        photo = await client.call_tool("search", {"query": "lake", "collections": ["photos"], "images": 0})
        page = await client.call_tool("search", {"query": "finance", "collections": ["finance"], "images": 0})
    photo_id, page_hit = structured(photo)["hits"][0]["point_id"], structured(page)["hits"][0]
    finance = {"Authorization": f"Bearer {served.finance_key}"}
    async with httpx.AsyncClient(base_url=served.keyed_url, headers=finance) as http:
        own = await http.get(f"/v1/points/{page_hit['point_id']}")
        other = await http.get(f"/v1/points/{photo_id}")
        bad = await http.get("/v1/points/not-a-uuid")
    assert own.status_code == 200, own.text
    body = own.json()
    assert body["name"] == "quarterly-report.pdf" and served.index.markers[body["page"]] in body["text"]
    assert body["link"].endswith(f"#page={body['page']}") and "/v1/images/" in body["image_url"]
    assert other.status_code == 404 and bad.status_code == 404


@pytest.mark.anyio
async def test_stdio_through_a_server_sees_what_its_key_may(served: Served) -> None:
    async with session(served.keyed_url, served.all_key) as client:
        photo = await client.call_tool("search", {"query": "lake", "collections": ["photos"], "images": 0})
    photo_id = structured(photo)["hits"][0]["point_id"]
    async with Client(mcp_through(served, served.keyed_url)) as client:
        collections = await client.call_tool("list_collections", {})
        found = await client.call_tool("search", {"query": "finance report", "images": 1})
        hit = structured(found)["hits"][0]
        page = await client.call_tool("get_page", {"point_id": hit["point_id"]})
        outside = await client.call_tool("get_page", {"point_id": photo_id})
    async with Client(mcp_through(served, "http://127.0.0.1:9")) as client:  # nothing listens there
        unreachable = await client.call_tool("search", {"query": "anything"})
    assert [c["name"] for c in structured(collections)["collections"]] == ["finance"]
    assert {h["collection"] for h in structured(found)["hits"]} == {"finance"} and len(images_of(found)) == 1
    assert hit["link"].startswith(f"{served.keyed_url}/v1/documents/")
    assert not page.is_error and served.index.markers[hit["page"]] in structured(page)["text"]
    assert outside.is_error and "no page" in text_of(outside)
    assert unreachable.is_error and "cannot reach the mmsearch server at http://127.0.0.1:9" in text_of(
        unreachable
    )


def mcp_through(served: Served, url: str) -> StdioServerParameters:
    """``mmsearch mcp --server URL`` as a child process, with the finance key (MMSEARCH_API_KEY)."""
    env = tiny_env(served.index.settings.data_dir, served.index.models, MMSEARCH_API_KEY=served.finance_key)
    args = ["-m", "mmsearch", "mcp", "--server", url]
    return StdioServerParameters(command=sys.executable, args=args, env=env, cwd=REPO)
