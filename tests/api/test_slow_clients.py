"""Slow and many clients over a real uvicorn with the options ``mmsearch serve`` passes
(``api/edge/timeouts.py``): slowloris heads and stalled bodies are closed within their timeouts while
``/healthz`` stays fast; and an upload name too long in bytes is a clear 422, never a 500."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
from api_support import WRITE_KEY, Indexed, live_server

from mmsearch.api.edge.timeouts import uvicorn_options
from mmsearch.samples import make_image

pytestmark = pytest.mark.slow

HEADER_S = 1.5
BODY_S = 1.5
SLOW_CLIENTS = 60


def _open(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    return sock


def _closed_after(sock: socket.socket, trickle: bytes, every: float, limit: float) -> float | None:
    """Send ``trickle`` every ``every`` seconds until the server closes; seconds until then (None: open
    after ``limit``)."""
    started = time.monotonic()
    sock.settimeout(every)
    while time.monotonic() - started < limit:
        try:
            if sock.recv(4096) == b"":
                return time.monotonic() - started
        except TimeoutError:
            pass
        except OSError:
            return time.monotonic() - started
        try:
            sock.sendall(trickle)
        except OSError:
            return time.monotonic() - started
    return None


def test_slow_heads_and_stalled_bodies_are_closed_while_healthz_answers(indexed: Indexed) -> None:
    server = indexed.settings.server.model_copy(
        update={"header_timeout_s": HEADER_S, "body_timeout_s": BODY_S, "max_connections": 500}
    )
    with live_server(indexed.app(), **uvicorn_options(server)) as live:
        closed: list[float | None] = [None] * SLOW_CLIENTS
        socks = [_open(live.url) for _ in range(SLOW_CLIENTS)]
        for sock in socks:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")

        def slowloris(i: int) -> None:
            closed[i] = _closed_after(socks[i], b"X-Slow: 1\r\n", 0.3, HEADER_S * 6)

        threads = [threading.Thread(target=slowloris, args=(i,)) for i in range(SLOW_CLIENTS)]
        for thread in threads:
            thread.start()
        with httpx.Client(base_url=live.url, headers={"Host": "localhost"}, timeout=10) as client:
            slowest = 0.0
            for _ in range(10):  # one kept-alive connection: the head timer is re-armed after each answer
                started = time.monotonic()
                assert client.get("/healthz").status_code == 200
                slowest = max(slowest, time.monotonic() - started)
        # A stalled body: the head is complete, ten of 1000 bytes come, then nothing.
        stalled = _open(live.url)
        stalled.sendall(b"POST /v1/search HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer any\r\n"
                        b"Content-Type: application/json\r\n"
                        b"Content-Length: 1000\r\n\r\n{\"text\": \"")  # fmt: skip
        stalled.settimeout(BODY_S * 6)
        started = time.monotonic()
        try:
            answer = stalled.recv(4096)
        except OSError:
            answer = b""
        body_closed = time.monotonic() - started
        for thread in threads:
            thread.join()
        for sock in socks:
            sock.close()
        stalled.close()
    assert answer == b"", answer  # closed without an answer: the search was reading its body
    assert BODY_S * 0.9 <= body_closed < BODY_S * 4, body_closed
    assert slowest < HEADER_S, slowest  # answered while the slow clients still held their connections
    assert all(c is not None and c < HEADER_S * 4 for c in closed), closed


def test_a_name_too_long_in_bytes_is_a_clear_422(indexed: Indexed, tmp_path: Path) -> None:
    photo = tmp_path / "p.png"
    make_image(photo, "png", (40, 30), text="x")
    app = indexed.app(write_keys=[WRITE_KEY])
    with (
        live_server(app, **uvicorn_options(indexed.settings.server)) as live,
        httpx.Client(
            base_url=live.url,
            headers={"Host": "localhost", "Authorization": f"Bearer {WRITE_KEY}"},
            timeout=30,
        ) as client,
    ):
        for name in ("😀" * 150 + ".png", "a" * 252 + ".png", "dir/" + "é" * 126 + ".png"):
            response = client.post("/v1/documents", files=[("files", (name, photo.read_bytes()))])
            assert response.status_code == 400, (len(name.encode()), response.text)
            error = response.json()["error"]
            assert error["code"] == "invalid_name" and "bytes of UTF-8, over 255" in error["message"]
