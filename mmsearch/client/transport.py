"""What both clients share around sending a call: headers, retries, and reading the answer.

- Every request carries ``Authorization: Bearer <key>``; without a key a placeholder, because the server
  refuses a write that carries neither that header nor its own page's ``Origin`` (``api/edge/guard.py``).
- A 429 (the ingest queue is full) or 503 (busy, starting, a model server down) is retried by stamina,
  after the ``Retry-After`` the server sent (at most ``MAX_RETRY_AFTER_S``) or with exponential backoff,
  ``retries`` times at most within ``retry_timeout_s``; any other error answer is raised at once.
- An answer is JSON (an object) or one of the errors of ``errors.py``; a transport failure is a
  ``RemoteError`` naming the server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import stamina

from mmsearch import __version__
from mmsearch.client.errors import RemoteError, ServerError, error_from

RETRIED = frozenset({429, 503})
MAX_RETRY_AFTER_S = 30.0


@dataclass(frozen=True)
class Settings:
    """How a client talks to one server."""

    base_url: str
    api_key: str | None = None
    timeout_s: float = 300.0  # a search may queue behind others; an upload may be large
    connect_timeout_s: float = 10.0
    retries: int = 4  # retries of a 429/503 (so at most retries + 1 attempts)
    retry_timeout_s: float = 120.0  # all attempts of one call together

    @property
    def headers(self) -> dict[str, str]:
        return {**auth_headers(self.api_key), "User-Agent": f"mmsearch-client/{__version__}"}

    @property
    def timeout(self) -> httpx.Timeout:
        return httpx.Timeout(self.timeout_s, connect=self.connect_timeout_s)

    def retrying(self) -> Any:
        """stamina's retry context for one call (``for attempt in ...: with attempt: ...``)."""
        return stamina.retry_context(
            on=_backoff,
            attempts=self.retries + 1,
            timeout=self.retry_timeout_s,
            wait_initial=0.5,
            wait_max=10.0,
        )


def auth_headers(api_key: str | None) -> dict[str, str]:
    """Always an ``Authorization`` header: with no key (a server without auth) a placeholder, because the
    server refuses a POST/DELETE that carries neither it nor a same-origin ``Origin`` (api/edge/guard.py)."""
    return {"Authorization": f"Bearer {api_key or 'no-key'}"}


def _backoff(exc: Exception) -> bool | float:
    """Retry a 429/503, after its ``Retry-After`` when it gave one."""
    if not isinstance(exc, ServerError) or exc.http_status not in RETRIED:
        return False
    return min(exc.retry_after, MAX_RETRY_AFTER_S) if exc.retry_after else True


def checked(response: httpx.Response) -> httpx.Response:
    """``response`` if it is a success, else its error raised."""
    if response.is_success:
        return response
    raise error_from(response)


def json_of(response: httpx.Response, base_url: str) -> dict[str, Any]:
    """The JSON object of a success."""
    try:
        data = response.json()
    except ValueError as exc:
        raise RemoteError(
            f"{base_url} did not answer like an mmsearch server: {response.text[:200]!r}"
        ) from exc
    if not isinstance(data, dict):
        raise RemoteError(f"{base_url} did not answer like an mmsearch server: {str(data)[:200]!r}")
    return data


def unreachable(exc: httpx.TransportError, base_url: str) -> RemoteError:
    if isinstance(exc, httpx.TimeoutException):
        return RemoteError(f"the mmsearch server at {base_url} did not answer in time ({type(exc).__name__})")
    return RemoteError(
        f"cannot reach the mmsearch server at {base_url}: {exc}. Is `mmsearch serve` running there?"
    )


def is_missing_route(exc: ServerError) -> bool:
    """A 404 for the route itself (an older server without it), not for a thing the route looked up."""
    return exc.http_status == 405 or (exc.http_status == 404 and "no such endpoint" in str(exc))
