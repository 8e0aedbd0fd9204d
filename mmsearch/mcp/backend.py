"""The seam under the MCP tools: what they ask of wherever the index is (``Backend``).

Three answer it: the embedded store in this process (``local.py``), a running server's parts for the
caller of its ``/mcp`` (``served.py``), and a running server through its HTTP API (``remote.py``). Each
sees only what its principal may (the server's scope; in process, everything), and answers a point or
a document outside it as absent (``NotFound``). Failures are ``MmsearchError``s, which the tools turn
into tool errors.
"""

from __future__ import annotations

from typing import Protocol

from mmsearch.index.store import Filters, SearchMode
from mmsearch.mcp.citations import Document, Found, Listing, Unit


class Backend(Protocol):
    async def search(
        self, query: str, *, top_k: int | None, filters: Filters | None, mode: SearchMode | None
    ) -> Found:
        """The hits of a text query, best first (``filters`` as sent; the backend adds its scope)."""
        ...

    async def unit(self, point_id: str) -> Unit:
        """One page, image or video segment by point id, with its whole text; ``NotFound`` outside."""
        ...

    async def image(self, point_id: str) -> bytes | None:
        """The stored image of a point (its preview frame for a video segment); None when it has none."""
        ...

    async def documents(self, collection: str | None, offset: int, limit: int) -> Listing:
        """A page of the documents (of one collection, or all), ordered by collection and name."""
        ...

    async def all_documents(self) -> list[Document]:
        """Every document the backend may see (``list_collections`` counts them)."""
        ...
