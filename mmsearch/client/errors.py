"""The client's errors: what the server answered, as the project's own error classes.

    RemoteError          the server could not be reached, or did not answer like an mmsearch server
     └── ServerError     an error answer: its ``code``, ``http_status``, message and ``details``
          └── (per code) also an instance of the ``mmsearch.errors`` class of that code

An error answer whose ``code`` names a class of ``mmsearch.errors`` (``not_found``, ``query_error``,
``empty_collection``, ...) is raised as a subclass of both ``ServerError`` and that class, so
``except NotFound`` and ``except ServerError`` both catch it; any other code (``unauthorized``,
``invalid_request``, ``too_many_jobs``, ...) is a plain ``ServerError`` carrying it.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import httpx

from mmsearch import errors
from mmsearch.errors import MmsearchError


class RemoteError(MmsearchError):
    """The server could not be reached, or its answer was not an mmsearch server's."""

    code = "remote_error"
    http_status = 502  # another server failed us (a bad gateway), never this one's own fault


class ServerError(RemoteError):
    """An error answer: ``code`` and ``http_status`` as the server sent them, its message as ``str()``,
    ``details`` (a 422's fields) and ``retry_after`` (seconds, when the server asked to wait)."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "error",
        status: int = 502,
        details: list[dict[str, Any]] | None = None,
        retry_after: float | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.http_status = status
        self.details = details or []
        self.retry_after = retry_after
        self.body = body or {}


def error_from(response: httpx.Response) -> ServerError:
    """The error a non-2xx ``response`` stands for (read from the API's one error shape)."""
    body: dict[str, Any] = {}
    try:
        parsed = response.json()
        if isinstance(parsed, dict):
            body = parsed
    except ValueError:
        pass
    found = body.get("error")
    error: dict[str, Any] = found if isinstance(found, dict) else {}
    code = str(error.get("code") or f"http_{response.status_code}")
    message = str(error.get("message") or response.text[:200] or response.reason_phrase)
    kind = server_class(code)
    return kind(
        message, code=code, status=response.status_code, details=list(error.get("details") or []),
        retry_after=retry_after(response.headers.get("retry-after")), body=body,
    )  # fmt: skip


def retry_after(value: str | None) -> float | None:
    """Seconds of a ``Retry-After`` header given as a number (a date, or none: None)."""
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


@cache
def server_class(code: str) -> type[ServerError]:
    """``ServerError``, or a subclass of it and of the ``mmsearch.errors`` class whose code is ``code``."""
    known = _classes_by_code().get(code)
    if known is None:
        return ServerError
    return type(known.__name__, (ServerError, known), {"__module__": __name__, "__doc__": known.__doc__})


@cache
def _classes_by_code() -> dict[str, type[MmsearchError]]:
    found: dict[str, type[MmsearchError]] = {}
    for value in vars(errors).values():
        if isinstance(value, type) and issubclass(value, MmsearchError) and value is not MmsearchError:
            found.setdefault(value.code, value)
    return found
