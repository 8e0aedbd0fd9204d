"""``/mcp``: the MCP tools over streamable HTTP, mounted in the API app under the API's own edge.

The endpoint is one route of the FastAPI app, so every request first passes the app's middleware: the
access log, the metrics, and ``edge/guard.py`` (a ``Host`` not in ``server.allowed_hosts`` is refused, and
with auth off a write must carry ``Authorization``, any value, or come from the same origin). Then the
endpoint authenticates the request as ``GET /v1/search`` does (``Authenticator.check``: a read key, a
managed key, an OIDC token or the sign-in cookie; 401/403 in the API's JSON error shape, recorded in the
audit trail) before the SDK sees it. The tools of that request run for its principal (``served.py``).

The SDK's session manager runs stateless with JSON responses: every POST is whole in itself (no session
to hijack or to pin to one worker), and the principal is the one of the request that carries each call.
Other methods are a 405 (the spec's answer for "no server stream here"): a stateless GET would be an
SSE stream that never carries anything but holds a connection open.
Its own DNS-rebinding check is off because the guard above already checks ``Host`` against the server's
configured names (the SDK's defaults know only loopback names); it still requires ``Content-Type:
application/json`` on a POST, which no other site's page can send here without a CORS preflight that this
server never grants. Mounting follows the SDK's README ("Mounting to an existing ASGI server": run
``session_manager.run()`` in the host app's lifespan).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from mcp.server.mcpserver import Context
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from mmsearch.access.principal import Role
from mmsearch.api.errors import ApiError, error_response
from mmsearch.api.services.audit_trail import record_denied
from mmsearch.api.services.context import ApiContext
from mmsearch.mcp.backend import Backend
from mmsearch.mcp.served import ServedBackend
from mmsearch.mcp.tools import build_server

PATH = "/mcp"
MAX_BODY_BYTES = 1 << 20  # a tool call is a short JSON message (the SDK's default: 4 MiB)


def served_backend(ctx: Context) -> Backend:
    """The backend of one call: the server's parts, for the principal of the HTTP request carrying it."""
    request = ctx.request_context.request
    if not isinstance(request, Request):  # only the HTTP transport reaches here
        raise TypeError("an /mcp tool call without its HTTP request")
    return ServedBackend.of(request)


class McpEndpoint:
    """The ASGI app at ``/mcp``: authenticate like the REST API, then hand the request to the SDK."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx
        self.server = build_server(served_backend, ctx.settings.server.max_query_chars)
        self.manager: StreamableHTTPSessionManager | None = None

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """For the app's lifespan: a fresh session manager (one ``run()`` per manager) while it runs."""
        self.server.streamable_http_app(
            streamable_http_path=PATH,
            stateless_http=True,
            json_response=True,
            max_request_body_size=MAX_BODY_BYTES,
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )  # builds the server's session manager; the Starlette app it returns is not used
        manager = self.server.session_manager
        async with manager.run():
            self.manager = manager
            try:
                yield
            finally:
                self.manager = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            self.ctx.auth.check(request, Role.READER)
            if request.method != "POST":  # stateless: no stream for the server to open (GET), no session
                raise ApiError(405, "method_not_allowed", f"{request.method[:20]} is not allowed on {PATH}: "
                               "send MCP messages with POST (this server keeps no sessions and opens no "
                               "streams)", headers={"Allow": "POST"})  # fmt: skip
            if self.manager is None:
                raise ApiError(503, "starting", "the server is still starting or already stopping; retry shortly",
                               headers={"Retry-After": "2"})  # fmt: skip
        except ApiError as exc:
            if exc.http_status in (401, 403):
                record_denied(request, exc.http_status, exc.code, str(exc))
            await error_response(exc.http_status, exc.code, str(exc), exc.headers)(scope, receive, send)
            return
        await self.manager.handle_request(scope, receive, send)
