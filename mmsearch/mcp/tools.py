"""The MCP tools, defined once over a ``Backend``: ``search``, ``get_page``, ``list_documents``, ``list_collections``.

``build_server(backend_for, max_query_chars)`` returns the SDK's ``MCPServer`` (mcp 2.x; ``FastMCP`` in
1.x) with the four tools; ``backend_for`` picks the backend of each call (one fixed backend over stdio;
over HTTP, one for the principal of the request that carried the call). Each tool answers text an agent
reads (citations: name, page or time, collection, point id, link, snippet) and the same as
``structured_content``; ``search`` and ``get_page`` add the page images as MCP image content (JPEG,
bounded by ``images.py``). Bad arguments are refused by the SDK against each tool's JSON Schema; a
failure we foresee (a page not found, a busy or unreachable server, a bad filter) is a tool error with
our message (``ToolError``), never a traceback.

Written without ``from __future__ import annotations``: the SDK builds each tool's schema from the
function's annotations at registration.
"""

import base64
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Annotated, Any

import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, ContentBlock, ImageContent, TextContent, ToolAnnotations
from pydantic import Field

from mmsearch import __version__
from mmsearch.api.schemas import FiltersIn
from mmsearch.errors import MmsearchError
from mmsearch.index.store import MAX_FILTER_VALUE_CHARS, MAX_FILTER_VALUES, Filters, SearchMode
from mmsearch.mcp.backend import Backend
from mmsearch.mcp.citations import Citation, collection_counts
from mmsearch.mcp.images import DEFAULT_IMAGES, MAX_IMAGES, MAX_TOTAL_BYTES, agent_jpeg

BackendFor = Callable[[Context], Backend]

MAX_TOP_K = 50  # hits one search may return to an agent
MAX_PAGE_TEXT = 100_000  # characters of a unit's text get_page returns
MAX_LISTING = 500  # documents one list_documents call returns

INSTRUCTIONS = (
    "mmsearch searches indexed PDFs (one hit per page), images and videos (one hit per segment) by "
    "meaning and by words. Call `search` with a question; cite hits by their name and page (or time) "
    "and give their link. `get_page` returns a hit's whole text and its image by point_id. "
    "`list_collections` and `list_documents` show what is indexed."
)
READ_ONLY = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)

Query = Annotated[str, Field(min_length=1, description="What to look for: a question or keywords.")]
TopK = Annotated[
    int | None,
    Field(ge=1, le=MAX_TOP_K, description="How many hits to return (default: the server's search.top_k)."),
]
CollectionName = Annotated[str, Field(min_length=1, max_length=MAX_FILTER_VALUE_CHARS)]
Collections = Annotated[
    list[CollectionName] | None,
    Field(
        min_length=1,
        max_length=MAX_FILTER_VALUES,
        description="Search only these collections (list_collections names them).",
    ),
]
SearchFilters = Annotated[
    FiltersIn | None,
    Field(
        description="Restrict the hits, as the HTTP API's `filters`: modality (page, image, video), "
        "name, doc_id, groups, metadata {KEY: value}, metadata_ranges {KEY: {gte, lt}}, "
        "ingested_after/before, and `not` with any of these."
    ),
]
Mode = Annotated[
    SearchMode | None,
    Field(
        description="hybrid (meaning and words), vector (meaning only) or keyword (words only); "
        "default: the server's search.mode."
    ),
]
Images = Annotated[
    int,
    Field(ge=0, le=MAX_IMAGES, description="Attach the page images of this many best hits (0: none)."),
]
PointId = Annotated[str, Field(min_length=1, max_length=64, description="The point_id of a search hit.")]
Offset = Annotated[int, Field(ge=0, description="Skip this many documents (paging).")]
Limit = Annotated[int, Field(ge=1, le=MAX_LISTING, description="Documents to return.")]
Collection = Annotated[str | None, Field(min_length=1, description="Only the documents of this collection.")]


@contextmanager
def tool_errors() -> Iterator[None]:
    """A failure of ours reaches the agent as a tool error with our message (what failed, and the fix)."""
    try:
        yield
    except MmsearchError as exc:
        raise ToolError(str(exc)) from exc


def build_server(backend_for: BackendFor, max_query_chars: int) -> MCPServer:
    server: MCPServer = MCPServer(
        "mmsearch", title="mmsearch", instructions=INSTRUCTIONS, version=__version__, log_level="WARNING"
    )

    @server.tool(name="search", annotations=READ_ONLY, structured_output=False)
    async def search(
        query: Query,
        ctx: Context,
        top_k: TopK = None,
        collections: Collections = None,
        filters: SearchFilters = None,
        mode: Mode = None,
        images: Images = DEFAULT_IMAGES,
    ) -> CallToolResult:
        """Search the indexed pages, images and video segments. Returns citations (name, page or time,
        collection, point_id, link, snippet), best first, and the page images of the best hits."""
        if len(query) > max_query_chars:
            raise ToolError(f"the query is {len(query)} characters; the most is {max_query_chars}")
        if not query.strip():
            raise ToolError("the query is blank: say what to look for")
        with tool_errors():
            backend = backend_for(ctx)
            asked = _filters(filters, collections)
            found = await backend.search(query.strip(), top_k=top_k, filters=asked, mode=mode)
            shown = await _images(backend, found.citations[:images])
        order = f"{found.mode} search, " + ("reranked" if found.reranked else "not reranked")
        hits = f"{len(found.citations)} hit{'s' if len(found.citations) != 1 else ''}"
        head = f"{hits} for {query.strip()!r} ({order}, from {found.candidates} candidates)."
        lines = [head] if found.citations else [f"No hits for {query.strip()!r}."]
        for citation in found.citations:
            lines += citation.lines()
        if shown:
            lines.append("Images follow, in this order: " + ", ".join(f"[{c.rank}]" for c, _ in shown) + ".")
        content: list[ContentBlock] = [TextContent(type="text", text="\n".join(lines))]
        content += [_image_content(citation, jpeg) for citation, jpeg in shown]
        structured = {
            "hits": [c.to_dict() for c in found.citations],
            "reranked": found.reranked,
            "candidates": found.candidates,
            "mode": found.mode,
            "images": [c.point_id for c, _ in shown],
        }
        return CallToolResult(content=content, structured_content=structured)

    @server.tool(name="get_page", annotations=READ_ONLY, structured_output=False)
    async def get_page(point_id: PointId, ctx: Context) -> CallToolResult:
        """One page, image or video segment by the point_id of a search hit: its whole text and its image."""
        with tool_errors():
            backend = backend_for(ctx)
            unit = await backend.unit(point_id.strip())
            shown = await _images(backend, (unit.citation,))
        text = unit.text[:MAX_PAGE_TEXT]
        cut = (
            f"\n[text cut at {MAX_PAGE_TEXT} of {len(unit.text)} characters]"
            if len(unit.text) > len(text)
            else ""
        )
        lines = [
            *unit.citation.lines(),
            "text:" if text else "text: (none: no text layer or OCR text)",
            text + cut,
        ]
        content: list[ContentBlock] = [TextContent(type="text", text="\n".join(lines).rstrip())]
        content += [_image_content(citation, jpeg) for citation, jpeg in shown]
        structured = {**unit.citation.to_dict(), "text": text, "image": bool(shown)}
        return CallToolResult(content=content, structured_content=structured)

    @server.tool(name="list_documents", annotations=READ_ONLY, structured_output=False)
    async def list_documents(
        ctx: Context, collection: Collection = None, offset: Offset = 0, limit: Limit = 50
    ) -> CallToolResult:
        """The indexed documents (files) you may search, by collection and name, a page at a time."""
        with tool_errors():
            listing = await backend_for(ctx).documents(collection, offset, limit)
        docs = listing.documents
        if docs:
            head = f"Documents {offset + 1}-{offset + len(docs)} of {listing.total}:"
        else:
            head = f"No documents at offset {offset} ({listing.total} in all)."
        more = offset + len(docs) < listing.total
        tail = [f"More: call again with offset {offset + len(docs)}."] if more and docs else []
        text = "\n".join([head, *(d.line() for d in docs), *tail])
        structured: dict[str, Any] = {"total": listing.total, "offset": offset,
                                      "documents": [vars(d) for d in docs]}  # fmt: skip
        return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=structured)

    @server.tool(name="list_collections", annotations=READ_ONLY, structured_output=False)
    async def list_collections(ctx: Context) -> CallToolResult:
        """The collections you may search, with how many documents and units (pages, images, segments) each holds."""
        with tool_errors():
            counts = collection_counts(await backend_for(ctx).all_documents())
        lines = [f"{c.name}: {c.documents} documents, {c.units} units" for c in counts]
        text = "\n".join(lines) if lines else "No collections: nothing you may search is indexed yet."
        structured = {"collections": [vars(c) for c in counts]}
        return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=structured)

    return server


def _filters(filters: FiltersIn | None, collections: list[str] | None) -> Filters | None:
    """The search's filters: ``filters`` as the API reads them, restricted to ``collections``."""
    asked = filters.to_filters() if filters is not None else None
    if not collections:
        return asked
    if asked is not None and asked.collection:
        raise ToolError("give the collections once: in `collections` or in `filters.collection`, not both")
    return replace(asked, collection=collections) if asked is not None else Filters(collection=collections)


async def _images(backend: Backend, citations: tuple[Citation, ...]) -> list[tuple[Citation, bytes]]:
    """The JPEGs of ``citations``, in order, while they fit in ``MAX_TOTAL_BYTES`` together."""
    shown: list[tuple[Citation, bytes]] = []
    total = 0
    for citation in citations:
        stored = await backend.image(citation.point_id)
        jpeg = await anyio.to_thread.run_sync(agent_jpeg, stored) if stored else None
        if jpeg is None:
            continue
        if total + len(jpeg) > MAX_TOTAL_BYTES:
            break
        total += len(jpeg)
        shown.append((citation, jpeg))
    return shown


def _image_content(citation: Citation, jpeg: bytes) -> ImageContent:
    meta = {
        "point_id": citation.point_id,
        "rank": citation.rank,
        "name": citation.name,
        "where": citation.where,
    }
    return ImageContent(
        type="image", data=base64.b64encode(jpeg).decode("ascii"), mime_type="image/jpeg", _meta=meta
    )
