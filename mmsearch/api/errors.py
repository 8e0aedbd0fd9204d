"""One JSON error shape for every failure the API returns, and the handlers that produce it.

    {"error": {"code": "<stable name>", "message": "<what went wrong and how to fix it>"}}

Validation errors add ``"details": [{"field": "...", "message": "..."}]``. Each error class states its
HTTP status (``MmsearchError.http_status``, inherited by subclasses; see ``mmsearch/errors.py``);
``ApiError`` carries its own per instance. Unknown exceptions become a 500
``internal_error`` whose message hides the internals (the traceback goes to the log).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Mount

from mmsearch.errors import MmsearchError

log = logging.getLogger(__name__)

HTTP_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    416: "range_not_satisfiable",
    422: "invalid_request",
    429: "too_many_requests",
    503: "unavailable",
}


class ApiError(MmsearchError):
    """An HTTP-level refusal raised by the API itself (404, 401, 413, ...)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
        details: list[dict[str, str]] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.http_status = status
        self.code = code
        self.headers = headers or {}
        self.details = details
        self.extra = extra or {}  # more members of the error object (e.g. ``quota`` of a 507)


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", what)


def invalid_request(details: list[dict[str, str]]) -> ApiError:
    """422 naming each bad field: ``details`` = ``[{"field": ..., "message": ...}]``."""
    return ApiError(422, "invalid_request", f"invalid request: {_summary(details)}", details=details)


def _summary(details: list[dict[str, str]]) -> str:
    return "; ".join(f"{d['field']}: {d['message']}" for d in details[:5])


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None,
                   **extra: Any) -> JSONResponse:  # fmt: skip
    return JSONResponse(error_body(code, message, **extra), status_code=status, headers=headers)


Refused = Callable[[Request, int, str, str], None]  # request, status, code, message: the audit trail


async def _mmsearch_error(
    request: Request, exc: Exception, on_refused: Refused | None = None
) -> JSONResponse:
    assert isinstance(exc, MmsearchError)
    status = exc.http_status
    if status in (401, 403) and on_refused is not None:
        on_refused(request, status, exc.code, str(exc))
    if status >= 500:
        log.error("%s %s failed: %s: %s", request.method, request.url.path, exc.code, exc)
    if isinstance(exc, ApiError):
        extra = {"details": exc.details} if exc.details is not None else {}
        extra |= exc.extra
        return error_response(status, exc.code, str(exc), exc.headers, **extra)
    headers = {"Retry-After": "5"} if status == 503 else None
    return error_response(status, exc.code, str(exc), headers)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if exc.status_code == 404:
        message = f"no such endpoint: {request.method} {request.url.path} (the API is described at /docs)"
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        method = request.method[:20]
        message = f"{method} is not allowed on {request.url.path} (see /docs for its methods)"
        headers["Allow"] = allowed_methods(request, headers.get("Allow"))
    return error_response(exc.status_code, code, message, headers)


ROUTABLE_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request, named: str | None) -> str:
    """Every method some route answers at this path: starlette's ``Allow`` names only the first
    matching route's (``GET`` for ``/v1/documents``, which also takes ``POST``)."""
    methods = {m.strip() for m in (named or "").split(",") if m.strip()}
    routes = [r for r in request.app.router.routes if not isinstance(r, Mount)]
    for method in ROUTABLE_METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in routes):
            methods.add(method)
    return ", ".join(sorted(methods))


def describe_validation(errors: list[Any], prefix: tuple[str, ...] = ()) -> list[dict[str, str]]:
    """Pydantic/FastAPI errors as ``{"field": "body.top_k", "message": "..."}`` items."""
    details = []
    for err in errors:
        loc = ".".join(str(part) for part in (*prefix, *err.get("loc", ())))
        message = err.get("msg", "invalid")
        if err.get("type") == "extra_forbidden":
            message = "unknown field"
        details.append({"field": loc or "(body)", "message": message})
    return details


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return validation_response(describe_validation(list(exc.errors())))


def validation_response(details: list[dict[str, str]]) -> JSONResponse:
    return error_response(422, "invalid_request", f"invalid request: {_summary(details)}", details=details)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("%s %s: unexpected error", request.method, request.url.path, exc_info=exc)
    return error_response(
        500,
        "internal_error",
        "the server failed unexpectedly; the error is in its log (try again, then report it)",
    )


def install(app: FastAPI, on_refused: Refused | None = None) -> None:
    """Route every error through the one shape; ``on_refused`` hears of each 401 and 403."""
    app.add_exception_handler(MmsearchError, partial(_mmsearch_error, on_refused=on_refused))
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
