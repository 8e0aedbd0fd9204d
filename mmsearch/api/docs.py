"""The API docs at ``/docs``: Swagger UI from files this server serves, so it works offline.

FastAPI's own ``/docs`` and ``/redoc`` load their scripts from a public CDN, which a firewalled network
never reaches, and render blank there; both are off. This page uses the Swagger UI build shipped in the
``fastapi-offline`` package (``swagger-ui-bundle.js``, ``swagger-ui.css``, ``favicon.png``), mounted at
``/docs/assets``. Its one inline script, Swagger UI's start-up call, is allowed by its hash in the page's
Content-Security-Policy; everything else is as strict as the web page.

URLs in the page are relative (``openapi.json``, ``docs/assets/…``), like the web page's, so it also
works behind a proxy that serves the app under a path prefix. Like ``/`` and ``/openapi.json`` it needs
no key.
"""

from __future__ import annotations

import re
from importlib import resources

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from mmsearch.api.edge.headers import page_headers

ASSETS = resources.files("fastapi_offline") / "static"
ASSETS_URL = "docs/assets"
INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def install(app: FastAPI) -> None:
    """Serve ``/docs`` and its assets. The app must be made with ``docs_url=None, redoc_url=None``."""
    html = _page(app)
    headers = page_headers(*INLINE_SCRIPT.findall(html))

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(html, headers=headers)

    app.mount(f"/{ASSETS_URL}", StaticFiles(directory=str(ASSETS)), name="docs-assets")


def _page(app: FastAPI) -> str:
    response = get_swagger_ui_html(
        openapi_url=(app.openapi_url or "/openapi.json").lstrip("/"),
        title=f"{app.title} API",
        swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
        swagger_ui_parameters=app.swagger_ui_parameters,
    )
    return bytes(response.body).decode()
