"""``mmsearch mcp`` over stdio, in process on the embedded store: a real child process, the official client.

One child for the module (it loads the tiny embedder at its first search; the reranker is off). What
it shares with ``/mcp`` (the tools, their errors) is tested there; here, what is its own: the whole
index with no key, and ``file://`` links to the files on this machine.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.types import CallToolResult, ImageContent, TextContent

from tests.mcp.mcp_support import McpIndex
from tests.support import REPO, run_cli, tiny_env


def text_of(result: CallToolResult) -> str:
    first = result.content[0]
    assert isinstance(first, TextContent)
    return first.text


@pytest.mark.anyio
async def test_stdio_serves_the_local_index(mcp_index: McpIndex, tmp_path: Path) -> None:
    env = tiny_env(mcp_index.settings.data_dir, mcp_index.models)
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "mmsearch", "mcp", "--no-rerank"], env=env, cwd=REPO
    )
    async with Client(params) as client:
        tools = {tool.name for tool in (await client.list_tools()).tools}
        found = await client.call_tool("search", {"query": "finance report", "top_k": 3, "images": 1})
        assert not found.is_error, text_of(found)
        hits = (found.structured_content or {})["hits"]
        page_hit = next(hit for hit in hits if hit["modality"] == "page")
        page = await client.call_tool("get_page", {"point_id": page_hit["point_id"]})
        collections = await client.call_tool("list_collections", {})
        bad = await client.call_tool("get_page", {"point_id": "nope"})
        second = run_cli(["mcp"], env, tmp_path)  # the child holds the embedded store: go through a server

    assert tools == {"search", "get_page", "list_documents", "list_collections"}
    assert len(hits) == 3
    assert [c.mime_type for c in found.content if isinstance(c, ImageContent)] == ["image/jpeg"]
    assert page_hit["link"] == f"{mcp_index.pdf.resolve().as_uri()}#page={page_hit['page']}"
    assert page_hit["link"] in text_of(found)
    assert mcp_index.markers[page_hit["page"]] in text_of(page)
    assert text_of(collections).splitlines() == [
        "finance: 1 documents, 2 units",
        "photos: 1 documents, 1 units",
    ]
    assert bad.is_error and "no page 'nope'" in text_of(bad)
    assert second.returncode == 1 and "in use by another process" in second.stderr
    assert "mcp --server" in second.stderr


def test_no_rerank_is_for_the_local_index(tmp_path: Path) -> None:
    result = run_cli(["mcp", "--server", "http://127.0.0.1:9", "--no-rerank"], {}, tmp_path)
    assert result.returncode == 2 and "--no-rerank is for the local index" in result.stderr
