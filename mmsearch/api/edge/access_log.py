"""The server's access log, and what keeps secrets out of every log the server writes.

``AccessLog`` (ASGI middleware) writes one line per request to the ``mmsearch.access`` logger, in place
of uvicorn's (``mmsearch serve`` turns that off), with the principal the request acted for::

    127.0.0.1:50312 - key:finance-app "GET /v1/images/…?v=3f2a…&by=key%3Afinance-app&exp=1796327400&sig=[redacted] HTTP/1.1" 200 12ms

Query values that grant access (``sig``, ``token``, OIDC's ``code`` and ``state``, ...: ``SECRET_PARAMS``)
are written as ``[redacted]``. ``ScrubFilter``, put on every log handler (``log_config``, ``protect_root``),
does the same to every other record (uvicorn's own access lines if they are on, messages, tracebacks): bearer and basic
credentials, JWTs, secret query values, and the configured keys and secrets themselves.
"""

from __future__ import annotations

import copy
import logging
import re
import time
import urllib.parse
from collections.abc import Callable, Iterable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("mmsearch.access")

REDACTED = "[redacted]"
SECRET_PARAMS = frozenset(
    {
        "sig", "signature", "token", "access_token", "id_token", "refresh_token", "code", "state",
        "session_state", "key", "api_key", "apikey", "password", "secret", "client_secret", "session",
        "assertion", "jwt", "code_verifier",
    }
)  # fmt: skip
_SECRET_QUERY = re.compile(
    r"(?i)((?:^|[?&;\s\"'])(?:" + "|".join(sorted(SECRET_PARAMS, key=len, reverse=True)) + r")=)[^&\s\"'#]+"
)
_CREDENTIALS = re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=-]+")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_HEADERS = re.compile(r"(?i)\b(authorization|cookie|set-cookie)(['\"]?\s*[:=,]\s*['\"]?)[^\r\n'\"]+")

PrincipalName = Callable[[Scope], str | None]


def redact_query(query: str) -> str:
    """A raw query string with the values of ``SECRET_PARAMS`` replaced (names matched decoded and
    case-insensitively; everything else kept as sent)."""
    if not query:
        return query
    parts = []
    for part in query.split("&"):
        name, eq, _ = part.partition("=")
        secret = eq and urllib.parse.unquote_plus(name).strip().lower() in SECRET_PARAMS
        parts.append(f"{name}={REDACTED}" if secret else part)
    return "&".join(parts)


def request_target(scope: Scope) -> str:
    """The request line's target as uvicorn writes it, with secret query values redacted."""
    path = urllib.parse.quote(scope.get("root_path", "") + scope.get("path", ""))
    query = scope.get("query_string", b"").decode("ascii", "replace")
    return f"{path}?{redact_query(query)}" if query else path


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` without credentials: the given secrets, bearer/basic credentials, JWTs, secret query
    values and Authorization/Cookie header values."""
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    text = _CREDENTIALS.sub(rf"\1\2{REDACTED}", text)
    text = _JWT.sub(REDACTED, text)
    text = _SECRET_QUERY.sub(rf"\1{REDACTED}", text)
    return _HEADERS.sub(rf"\1\2{REDACTED}", text)


class ScrubFilter(logging.Filter):
    """On a handler: every record it writes is scrubbed (``scrub``), its traceback too. Records are
    changed in place, so each handler sees the scrubbed one."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = tuple(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
            # uvicorn's AccessFormatter unpacks (client, method, target, http_version, status)
            target = urllib.parse.urlsplit(str(args[2]))
            redacted = f"{target.path}?{redact_query(target.query)}" if target.query else target.path
            record.args = (args[0], args[1], scrub(redacted, self.secrets), args[3], args[4])
            return True
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record: logging reports it itself
            return True
        cleaned = scrub(message, self.secrets)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text, self.secrets)
        return True


class AccessLog:
    """ASGI middleware: one ``mmsearch.access`` line per HTTP request, after its response: client,
    principal (``-`` when none was known), method, target (redacted), status, milliseconds."""

    def __init__(self, app: ASGIApp, principal_name: PrincipalName) -> None:
        self.app = app
        self.principal_name = principal_name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless a response starts

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            if log.isEnabledFor(logging.INFO):
                log.info("%s", access_line(scope, self._name(scope), status, time.perf_counter() - started))

    def _name(self, scope: Scope) -> str:
        try:
            return self.principal_name(scope) or "-"
        except Exception:  # noqa: BLE001 - a log line must never fail a request
            return "-"


def access_line(scope: Scope, principal: str, status: int, seconds: float) -> str:
    client = scope.get("client")
    where = f"{client[0]}:{client[1]}" if client else "-"
    http = scope.get("http_version", "1.1")
    who = principal.replace(" ", "_").replace('"', "'")
    return (
        f'{where} - {who} "{scope.get("method", "-")} {request_target(scope)} HTTP/{http}" {status} '
        f"{seconds * 1000:.0f}ms"
    )


def log_config(level: str, secrets: Iterable[str] = ()) -> dict[str, Any]:
    """uvicorn's logging configuration (``uvicorn.run(log_config=...)``) plus the ``mmsearch.access``
    logger (to stdout, as uvicorn's access log; at INFO unless ``level`` is quieter) and a
    ``ScrubFilter`` on every handler. Run with ``access_log=False``: this access log replaces uvicorn's."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"scrub": {"()": ScrubFilter, "secrets": list(secrets)}}
    config["handlers"]["mmsearch_access"] = {
        "formatter": "default", "class": "logging.StreamHandler", "stream": "ext://sys.stdout",
    }  # fmt: skip
    for handler in config["handlers"].values():
        handler["filters"] = ["scrub"]
    quiet = level.lower() not in ("info", "debug", "trace")
    config["loggers"][log.name] = {
        "handlers": ["mmsearch_access"], "level": "WARNING" if quiet else "INFO", "propagate": False,
    }  # fmt: skip
    return config


def protect_root(secrets: Iterable[str] = ()) -> None:
    """A ``ScrubFilter`` on the root logger's handlers (the CLI's ``logging.basicConfig``), where every
    other library's records end up."""
    for handler in logging.getLogger().handlers:
        handler.filters = [f for f in handler.filters if not isinstance(f, ScrubFilter)]
        handler.addFilter(ScrubFilter(secrets))
