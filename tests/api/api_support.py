"""Helpers for the API tests (imported as ``api_support``: pytest puts this folder on ``sys.path``)."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from mmsearch import components
from mmsearch.api.app import create_app
from mmsearch.api.services.parts import Services
from mmsearch.config import Settings
from mmsearch.samples import make_landscape, make_pdf, make_video
from tests.support import budget, clean_env, tcp_listener, tiny_settings  # noqa: F401 - the shared ones, for the API tests

READ_KEY = "read-key-0123456789abcdef"
WRITE_KEY = "write-key-0123456789abcdef"


def make_corpus(folder: Path) -> dict[str, Path]:
    """Two PDFs (5 pages), a photo, and a 4-second video (2 segments)."""
    files = {
        "report": folder / "quarterly-report.pdf",
        "birds": folder / "field-guide-birds.pdf",
        "photo": folder / "photo-landscape.jpg",
        "video": folder / "moving-block.mp4",
    }
    make_pdf(files["report"], 3, topic="finance")
    make_pdf(files["birds"], 2, topic="birds", with_tables=False)
    make_landscape(files["photo"], (400, 250))
    make_video(files["video"], 4, fps=5, size=(160, 120))
    return files


def ingest(settings: Settings, services: Services, paths: list[Path]) -> None:
    with components.build_manifest(settings) as manifest:
        indexer = components.build_indexer(settings, services.embedder, services.store, manifest, None)
        report = indexer.run(paths)
    assert not report.failed, report.failed


@dataclass
class Indexed:
    settings: Settings
    services: Services
    files: dict[str, Path]

    def app(self, **server: Any) -> FastAPI:
        """An app over this index; ``server`` overrides the server section (keys, limits)."""
        settings = self.settings.model_copy(update={"server": self.settings.server.model_copy(update=server)})
        return create_app(settings, self.services)


BASE_URL = "http://localhost"  # a loopback name: the only Host a server without allowed_hosts answers


@asynccontextmanager
async def client_for(app: FastAPI, key: str | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process client (httpx.ASGITransport) with the app's lifespan running. Without a key it
    sends ``Origin`` as the server's own web page does (writes need one or the other: ``api/edge/guard.py``)."""
    headers = {"Authorization": f"Bearer {key}"} if key else {"Origin": BASE_URL}
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    client = httpx.AsyncClient(transport=transport, base_url=BASE_URL, headers=headers)
    async with app.router.lifespan_context(app), client:
        yield client


@dataclass
class LiveServer:
    url: str
    server: uvicorn.Server


@contextmanager
def live_server(app: FastAPI, **options: Any) -> Iterator[LiveServer]:
    """The app under a real uvicorn on a free loopback port, in a background thread; ``options``: more
    ``uvicorn.Config`` arguments (``edge.timeouts.uvicorn_options`` for what ``mmsearch serve`` sets)."""
    sock = tcp_listener()
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=5, **options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + budget(30)
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", server)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
