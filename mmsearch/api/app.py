"""``create_app(settings)``: the FastAPI application — REST API, web page, probes, metrics.

Standing alone, the app owns its parts: a lifespan opens them (store first, then models) and closes
them at shutdown. ``mmsearch serve`` opens them itself before binding instead, so a locked store or a
missing model fails with a plain ``Error:`` before any port opens, and closes them after the server
stops. Auth is checked when the app is
created: a server that must have keys and has none is refused here, and so is a public server that
lists no host names (``edge/guard.py``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources

import anyio.to_thread
from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.routing import Route

from mmsearch import __version__
from mmsearch.api import docs, errors, openapi
from mmsearch.api.edge.access_log import AccessLog
from mmsearch.api.edge.guard import RequestGuard
from mmsearch.api.edge.headers import page_headers
from mmsearch.api.prometheus import MetricsMiddleware
from mmsearch.api.routes import audit, auth, documents, facets, health, images, jobs, keys, me, points, search
from mmsearch.api.services.audit_trail import principal_name, record_denied
from mmsearch.api.services.context import ApiContext
from mmsearch.api.services.parts import Services, open_services
from mmsearch.config import Settings
from mmsearch.mcp.http import PATH as MCP_PATH
from mmsearch.mcp.http import McpEndpoint

log = logging.getLogger(__name__)

STATIC = resources.files("mmsearch.api") / "static"
PAGE_HEADERS = page_headers()  # loads nothing from elsewhere: no CDN, no inline script

DESCRIPTION = """Two-stage multimodal search over PDFs (one hit per page), images and videos (one hit per
segment): Qwen3-VL-Embedding vectors in Qdrant, reranked by Qwen3-VL-Reranker.

Send `Authorization: Bearer <key>` when the server has keys (`GET /v1/info` says whether it does).
Every error is `{"error": {"code": "...", "message": "..."}}`."""


def create_app(settings: Settings, services: Services | None = None) -> FastAPI:
    """The app. Without ``services`` its lifespan opens the parts and closes them at shutdown; with
    ``services`` it uses those, and whoever opened them closes them."""
    ctx = ApiContext.create(settings)  # raises ConfigError when keys are required but missing
    mcp = McpEndpoint(ctx)  # the MCP tools at /mcp, under the same edge and auth (mcp/http.py)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = services is None
        parts = await anyio.to_thread.run_sync(open_services, settings) if services is None else services
        ctx.services = parts
        parts.jobs.listeners.append(ctx.observe_job)
        announce = jobs.announce_end(ctx.webhooks)
        parts.jobs.listeners.append(announce)  # an upload's notify_url hears of its job's end
        parts.jobs.jobs.watchers.append(ctx.job_watch.notify)  # wakes long polls and event streams
        parts.jobs.yield_to.append(ctx.searches.busy)  # the ingest worker gives way to searches
        try:
            async with mcp.running():
                yield
        finally:
            parts.jobs.yield_to.remove(ctx.searches.busy)
            parts.jobs.jobs.watchers.remove(ctx.job_watch.notify)
            parts.jobs.listeners.remove(announce)
            parts.jobs.listeners.remove(ctx.observe_job)
            ctx.webhooks.close()
            ctx.decoder.shutdown(wait=False)
            opened, ctx.services = ctx.services, None
            if owned and opened is not None:
                await anyio.to_thread.run_sync(opened.close)

    app = FastAPI(
        title="mmsearch",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # FastAPI's pages load Swagger UI / ReDoc from a CDN; docs.install serves /docs
        redoc_url=None,
        generate_unique_id_function=openapi.operation_id,
    )
    app.state.ctx = ctx
    errors.install(app, on_refused=record_denied)
    # Inside the metrics, so refusals are counted. With auth on, writes need a key, or a session cookie,
    # which the guard checks (the Origin rule) whenever a request carries one.
    app.add_middleware(RequestGuard, hosts=ctx.hosts, check_origin=not ctx.auth.required)
    app.add_middleware(MetricsMiddleware, metrics=ctx.metrics)
    app.add_middleware(AccessLog, principal_name=principal_name)  # outermost: every request, its principal
    for module in (search, points, facets, images, documents, jobs, me, keys, audit, health, auth):
        app.include_router(module.router)
    app.router.routes.append(Route(MCP_PATH, mcp, include_in_schema=False))  # an ASGI app: every method
    _web_page(app)
    docs.install(app)
    openapi.install(app, settings.server, lambda: ctx.auth.required)
    if not ctx.auth.required:
        level = logging.INFO if settings.server.is_loopback else logging.WARNING
        log.log(
            level, "auth is off: anyone who can reach %s may search, upload and delete", settings.server.host
        )
    return app


def _web_page(app: FastAPI) -> None:
    index = str(STATIC / "index.html")
    admin = str(STATIC / "admin.html")

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(index, media_type="text/html", headers=PAGE_HEADERS)

    # The admin page: open to all as a page (it holds no data); every endpoint it calls needs the admin role.
    @app.get("/admin", include_in_schema=False)
    async def admin_page() -> FileResponse:
        return FileResponse(admin, media_type="text/html", headers=PAGE_HEADERS)

    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
