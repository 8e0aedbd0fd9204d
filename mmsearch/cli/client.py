"""The CLI's HTTP client of a running ``mmsearch serve``: one base for every ``--server`` command.

It connects, always sends ``Authorization`` (``auth_headers``), and turns every way a call can fail —
unreachable, a refused key, an error answer, a reply that is not an mmsearch server's JSON — into a
``RemoteError`` that names the server and the fix. Commands subclass it (``RemoteIngest`` for
``ingest --server``, ``ServerReader`` for ``query``/``stats --server``).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Self

import httpx

from mmsearch.errors import MmsearchError


class RemoteError(MmsearchError):
    """The server could not be reached, refused the key, or failed (not one file's fault)."""

    code = "remote_error"
    http_status = 502  # another server failed us (a bad gateway), never this one's own fault


def auth_headers(api_key: str | None) -> dict[str, str]:
    """Always an ``Authorization`` header: with no key (a server without auth) a placeholder, because the
    server refuses a POST/DELETE that carries neither it nor a same-origin ``Origin`` (api/edge/guard.py)."""
    return {"Authorization": f"Bearer {api_key or 'no-key'}"}


class ServerClient:
    key_kind = "read"  # the key a refusal asks for: "read" or "write"

    def __init__(self, url: str, api_key: str | None = None, timeout_s: float = 300.0,
                 transport: httpx.BaseTransport | None = None) -> None:  # fmt: skip
        self.url = url.rstrip("/")
        self._client = httpx.Client(
            base_url=self.url, headers=auth_headers(api_key), timeout=httpx.Timeout(timeout_s, connect=10.0),
            transport=transport,
        )  # fmt: skip

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, allowed: Collection[int] = (), **kwargs: Any) -> httpx.Response:
        """The response to one call; any error status not in ``allowed`` raises ``RemoteError``."""
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise RemoteError(
                f"cannot reach the mmsearch server at {self.url}: {exc}. Is `mmsearch serve` running there?"
            ) from exc
        if response.status_code in (401, 403):
            raise RemoteError(
                f"the server at {self.url} refused: {error_message(response)} "
                f"(pass a {self.key_kind} key with --api-key or MMSEARCH_API_KEY)"
            )
        if response.status_code >= 400 and response.status_code not in allowed:
            raise RemoteError(
                f"the server at {self.url} answered {response.status_code}: {error_message(response)}"
            )
        return response

    def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """One call whose success is a JSON object."""
        return self.json(self.request(method, path, **kwargs))

    def json(self, response: httpx.Response) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError as exc:
            raise RemoteError(
                f"{self.url} did not answer like an mmsearch server: {response.text[:200]!r}"
            ) from exc
        if not isinstance(data, dict):
            raise RemoteError(f"{self.url} did not answer like an mmsearch server: {str(data)[:200]!r}")
        return data


def error_message(response: httpx.Response) -> str:
    """The message of the API's JSON error shape, or the start of whatever the body is."""
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return response.text[:200] or response.reason_phrase
