"""Who may talk to the server at all: the ``Host`` it is reached by, and where a write comes from.

**Host.** Every request must name this server by one of ``server.allowed_hosts`` (or a loopback name).
A page on ``attacker.example`` whose DNS name is re-pointed at 127.0.0.1 (DNS rebinding) reaches the
server with ``Host: attacker.example`` and is refused here, so it can neither read nor write, and no
signed URL is ever built on a foreign host. A server on a non-loopback address must list its names;
``*`` allows any (for a proxy that checks the name itself).

**Origin.** A browser lets any site send a "simple" cross-site POST (a form, or ``fetch`` with
``mode: "no-cors"``) that carries cookies but no ``Authorization`` header. So a request that is not
``GET``/``HEAD``/``OPTIONS`` must show it is not one: an ``Authorization`` header (which a browser sends
cross-site only after a CORS preflight this server never grants), or ``Sec-Fetch-Site: same-origin``,
or, from browsers without Fetch Metadata, an ``Origin`` equal to the server's own. This holds with auth
off; programs send ``Authorization: Bearer <key>`` (any value when the server has no keys). With auth on
it holds for every request that carries the web sign-in's session cookie (``cookies.py``), the one
credential a browser adds by itself; other writes need a key in that header, so a request with neither
gets the clearer 401.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from mmsearch.api.edge.cookies import carries_session
from mmsearch.api.errors import error_response
from mmsearch.api.settings import LOOPBACK_NAMES, ApiSettings
from mmsearch.errors import ConfigError

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
DEFAULT_PORTS = (":80", ":443")


class HostRule:
    """The names this server answers to."""

    def __init__(self, settings: ApiSettings) -> None:
        configured = settings.allowed_hosts or []
        if not configured and not settings.is_loopback:
            raise ConfigError(
                f"server.allowed_hosts is required when server.host is {settings.host} (reachable from "
                "other machines): list the names clients use to reach it, e.g. MMSEARCH_SERVER__ALLOWED_"
                "HOSTS=search.example.com,10.0.0.5 (or * behind a proxy that checks the Host header)"
            )
        self.any = "*" in configured
        self.exact = frozenset({*LOOPBACK_NAMES, *(n for n in configured if not n.startswith("*"))})
        self.suffixes = tuple(n[1:] for n in configured if n.startswith("*.") and len(n) > 2)

    def allows(self, host_header: str) -> bool:
        name = host_name(host_header)
        if not name:
            return False
        return self.any or name in self.exact or name.endswith(self.suffixes)


def host_name(host_header: str) -> str:
    """The name in a ``Host`` header, lower-case, without port or IPv6 brackets (``""`` if malformed)."""
    value = host_header.strip().lower()
    if value.startswith("["):
        name, bracket, rest = value[1:].partition("]")
        return name if bracket and (not rest or rest[1:].isdigit() and rest[0] == ":") else ""
    name, colon, port = value.partition(":")
    if colon and not (port.isascii() and port.isdigit()):
        return ""
    return name.rstrip(".")


def same_origin(headers: Headers) -> bool:
    """Whether a state-changing request provably did not come from another site's page."""
    if headers.get("authorization", "").strip():
        return True
    site = headers.get("sec-fetch-site")
    if site is not None:
        return site == "same-origin"
    origin = headers.get("origin")
    if not origin or origin == "null":
        return False
    return _netloc(urlsplit(origin).netloc) == _netloc(headers.get("host", ""))


def _netloc(value: str) -> str:
    value = value.strip().lower()
    for port in DEFAULT_PORTS:
        value = value.removesuffix(port)
    return value


class RequestGuard:
    """Pure ASGI middleware: refuse a foreign ``Host`` (400) and a cross-site write (403)."""

    def __init__(self, app: ASGIApp, hosts: HostRule, check_origin: bool) -> None:
        self.app = app
        self.hosts = hosts
        self.check_origin = check_origin  # off when every write needs a key or a session cookie (auth on)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        if not self.hosts.allows(host):
            shown = host[:100] or "(none)"
            response = error_response(
                400, "host_not_allowed",
                f"this server is not reached as {shown!r}: use a name in server.allowed_hosts "
                "(a loopback name, or one the administrator listed)",
            )  # fmt: skip
            await response(scope, receive, send)
            return
        method = str(scope.get("method", "GET"))
        checked = self.check_origin or carries_session(headers)
        if checked and method not in SAFE_METHODS and not same_origin(headers):
            response = error_response(
                403, "cross_origin",
                f"{method[:20]} refused: it came from another site's page, or from a program that "
                "sent neither an Authorization header nor an Origin. Programs send `Authorization: Bearer "
                "<key>` (any value while the server has no keys); web pages of other sites may not write here.",
            )  # fmt: skip
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
