"""``mmsearch mcp``: serve the search to an agent over MCP on stdin/stdout (``mcp/stdio.py``)."""

from __future__ import annotations

import click

from mmsearch.cli.app import AppContext, pass_app


@click.command()
@click.option(
    "--server", metavar="URL",
    help="Search through a running `mmsearch serve` (its HTTP API) instead of opening the local store.",
)  # fmt: skip
@click.option("--api-key", envvar="MMSEARCH_API_KEY", help="Read key for --server (env MMSEARCH_API_KEY).")
@click.option("--no-rerank", is_flag=True, help="Keep the vector order (no reranker model is loaded).")
@pass_app
def mcp(app: AppContext, server: str | None, api_key: str | None, no_rerank: bool) -> None:
    """Serve the search to an agent over MCP (stdio): tools search, get_page, list_documents, list_collections.

    An agent starts this command and talks MCP on its stdin/stdout. It searches the local index in this
    process (the models load at the first search), or, with --server, a running `mmsearch serve`
    with that server's key, seeing what the key may. `mmsearch serve` also offers the same tools over
    HTTP at /mcp.

    \b
    Examples:
      mmsearch mcp                                           # the local index
      mmsearch mcp --no-rerank                               # faster, vector order
      mmsearch mcp --server http://127.0.0.1:8000 --api-key mms_...   # through a running server
    """
    from mmsearch.mcp.stdio import serve_local, serve_remote

    if no_rerank and server:
        raise click.UsageError("--no-rerank is for the local index: the server's settings decide")
    settings = app.settings()
    if server:
        serve_remote(settings, server, api_key)
    else:
        serve_local(settings, rerank=not no_rerank)
