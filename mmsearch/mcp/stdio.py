"""``mmsearch mcp``: the MCP tools over stdio, for an agent that starts this process (a desktop agent).

In process, the store is opened here (so a store that ``mmsearch serve`` holds fails at once with its
"store locked" error, naming ``--server``), and the models load at the first search; the agent sees the
whole index, as the CLI does. With ``--server URL``, every call goes to that server's HTTP API with the
key given, and the agent sees what the key may. The SDK moves stdout aside while it serves, so nothing
but protocol messages reaches the agent there; logs go to stderr.
"""

from __future__ import annotations

from mmsearch import components
from mmsearch.config import Settings
from mmsearch.mcp.backend import Backend
from mmsearch.mcp.local import LazySearcher, StoreBackend
from mmsearch.mcp.remote import RemoteBackend, api_client
from mmsearch.mcp.tools import build_server


def serve_local(settings: Settings, rerank: bool) -> None:
    store = components.build_store(settings)
    try:
        backend = StoreBackend(settings, store, LazySearcher(settings, store, rerank), rerank=rerank)
        _serve(backend, settings)
    finally:
        store.close()


def serve_remote(settings: Settings, url: str, api_key: str | None) -> None:
    backend = RemoteBackend(api_client(url, api_key))
    try:
        _serve(backend, settings)
    finally:
        backend.close()


def _serve(backend: Backend, settings: Settings) -> None:
    build_server(lambda _: backend, settings.server.max_query_chars).run("stdio")
