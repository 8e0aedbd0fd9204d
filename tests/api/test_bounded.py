"""Bounds a client cannot push: the /metrics label set, /metrics access, the search body limit read under
the search gate, and searches whose client left before they started."""

from __future__ import annotations

import random
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx
import pytest
from api_support import READ_KEY, Indexed, client_for, live_server, tiny_settings

from mmsearch.api.app import create_app

pytestmark = pytest.mark.anyio

AUTH = {"Authorization": f"Bearer {READ_KEY}"}


def bare_client(app: object) -> httpx.AsyncClient:
    """A client for an app whose parts are never opened (no lifespan, no models)."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # type: ignore[arg-type]
    return httpx.AsyncClient(
        transport=transport, base_url="http://localhost", headers={"Origin": "http://localhost"}
    )


async def test_random_methods_leave_metrics_the_same_size(tmp_path: Path) -> None:
    """Issue #9: 50 requests with 2000-character methods grew /metrics from 36 KB to 2.1 MB."""
    app = create_app(tiny_settings(tmp_path / "data", tmp_path / "no-models"))
    rng = random.Random(9)
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ_-!#$%&'*+.^`|~0123456789"
    async with bare_client(app) as client:
        paths = ["/v1/documents/x", "/v1/search", "/nothing/0", "/metrics"]
        for path in paths:  # each route's series once (a raw method would add a series per request)
            await client.request("RANDOM", path)
        await client.get("/metrics")  # and the series of reading /metrics itself
        before = len((await client.get("/metrics")).content)
        for i in range(500):
            method = "".join(rng.choices(letters, k=rng.choice([1, 7, 60, 2000])))
            path = rng.choice(paths).replace("/0", f"/{i}")
            await client.request(method, path)
        text = (await client.get("/metrics")).text
    assert abs(len(text.encode()) - before) <= 1024, (before, len(text.encode()))
    assert 'method="other"' in text
    methods = {line.split('method="')[1].split('"')[0] for line in text.splitlines() if 'method="' in line}
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}


async def test_metrics_need_the_read_key_when_auth_is_on(tmp_path: Path) -> None:
    def app(**server: object) -> object:
        return create_app(
            tiny_settings(tmp_path / "data", tmp_path / "m", server={"read_keys": [READ_KEY], **server})
        )

    async with bare_client(app()) as client:
        refused = await client.get("/metrics")
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"
        assert (await client.get("/metrics", headers=AUTH)).status_code == 200
    async with bare_client(app(metrics_public=True)) as client:
        assert (await client.get("/metrics")).status_code == 200


async def test_a_search_body_is_read_only_once_admitted(indexed: Indexed) -> None:
    """With one place in the gate taken by a search still sending its body, the next is refused at
    once (503 busy) without a byte of its body read: bodies are read under the gate."""
    app = indexed.app(max_concurrent_searches=1, max_queued_searches=0)
    gate = app.state.ctx.searches
    release = anyio.Event()
    read: list[int] = []

    async def slow_body() -> AsyncIterator[bytes]:
        yield b'{"text": "rev'
        await release.wait()
        yield b'enue", "top_k": 1, "candidates": 1, "rerank": false}'

    async def counted_body() -> AsyncIterator[bytes]:
        read.append(1)
        yield b'{"text": "x"}'

    async with client_for(app) as client, anyio.create_task_group() as tasks:
        first: list[httpx.Response] = []

        async def send_first() -> None:
            first.append(
                await client.post(
                    "/v1/search", content=slow_body(), headers={"Content-Type": "application/json"}
                )
            )

        tasks.start_soon(send_first)
        with anyio.fail_after(10):
            while gate.pending == 0:
                await anyio.sleep(0.01)
        busy = await client.post(
            "/v1/search", content=counted_body(), headers={"Content-Type": "application/json"}
        )
        release.set()
    assert busy.status_code == 503 and busy.json()["error"]["code"] == "busy"
    assert first[0].status_code == 200, first[0].text
    assert read == []  # the refused search's body was never pulled
    assert gate.pending == 0


async def test_an_oversized_declared_search_body_is_refused_before_reading(indexed: Indexed) -> None:
    async with client_for(indexed.app(max_search_mb=1)) as client:

        async def endless() -> AsyncIterator[bytes]:
            while True:
                yield b"A" * 65536

        response = await client.post(
            "/v1/search", content=endless(), headers={"Content-Type": "application/json"}
        )  # chunked: no Content-Length, cut off once past 1 MiB
    assert response.status_code == 413 and "server.max_search_mb" in response.json()["error"]["message"]


def _sample(metrics: str, prefix: str) -> float:
    return sum(float(line.split()[-1]) for line in metrics.splitlines() if line.startswith(prefix))


@pytest.mark.slow
def test_searches_whose_clients_left_never_start(indexed: Indexed) -> None:
    """One search runs and holds the only running place (the test holds the embedder's lock, as a long
    ingest chunk would); five more queue; their clients hang up; then the lock is released. The five
    are dropped before any model work (499 in /metrics), the one that waited is answered."""
    app = indexed.app(max_concurrent_searches=1, max_queued_searches=10)
    gate = app.state.ctx.searches
    lock = indexed.services.embedder._lock
    body = b'{"text": "ledger audit", "top_k": 1, "candidates": 1, "rerank": false}'
    with live_server(app) as server:
        host, port = server.url.removeprefix("http://").split(":")
        request = (
            f"POST /v1/search HTTP/1.1\r\nHost: {host}:{port}\r\nOrigin: {server.url}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        before = httpx.get(f"{server.url}/metrics").text
        lock.acquire()
        try:
            kept = socket.create_connection((host, int(port)))
            kept.sendall(request)
            _wait(lambda: gate.pending == 1)
            left = [socket.create_connection((host, int(port))) for _ in range(5)]
            for sock in left:
                sock.sendall(request)
            _wait(lambda: gate.pending == 6)
            for sock in left:
                sock.close()
            time.sleep(0.3)
        finally:
            lock.release()
        kept.settimeout(60)
        answer = kept.recv(65536).decode(errors="replace")
        kept.close()
        _wait(lambda: gate.pending == 0)
        after = httpx.get(f"{server.url}/metrics").text
    assert answer.startswith("HTTP/1.1 200"), answer[:200]
    gone = 'mmsearch_http_requests_total{method="POST",route="/v1/search",status="499"}'
    assert _sample(after, gone) - _sample(before, gone) == 5
    ran = 'mmsearch_searches_total{reranked="false"}'
    assert _sample(after, ran) - _sample(before, ran) == 1


def _wait(condition: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.01)
