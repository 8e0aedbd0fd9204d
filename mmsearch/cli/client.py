"""The CLI's ``--server`` commands' way to a running ``mmsearch serve``: ``mmsearch.client.Client``, opened
from ``--server`` and ``--api-key``, with the hints the CLI adds to what goes wrong.

There is one HTTP client of our API (``mmsearch.client``); this only says, on a refused key, which key
to pass and how (``RemoteError``, code ``remote_error``), and names the server in the message of any
other error answer (keeping its class and code). An unreachable server is already a ``RemoteError``
that names it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from mmsearch.client import Client, RemoteError, ServerError


@contextmanager
def server_client(url: str, api_key: str | None, key_kind: Literal["read", "write"] = "read",
                  timeout_s: float = 300.0) -> Iterator[Client]:  # fmt: skip
    """A client of the server at ``url``; its errors, raised in the block, carry the CLI's hints."""
    try:
        with Client(url, api_key, timeout=timeout_s) as client:
            yield client
    except ServerError as exc:
        raise hinted(exc, url, key_kind) from exc


def hinted(exc: ServerError, url: str, key_kind: str) -> RemoteError:
    """``exc`` as the CLI says it: a refused key names the key to pass; any other answer names the server."""
    if exc.http_status in (401, 403):
        return RemoteError(
            f"the server at {url} refused: {exc} (pass a {key_kind} key with --api-key or MMSEARCH_API_KEY)"
        )
    return type(exc)(
        f"the server at {url} answered {exc.http_status}: {exc}", code=exc.code, status=exc.http_status,
        details=exc.details, retry_after=exc.retry_after, body=exc.body,
    )  # fmt: skip
