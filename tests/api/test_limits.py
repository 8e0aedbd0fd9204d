"""Limits through a real uvicorn and real parallel clients: quotas per collection and over all of them, the
disk's free-space reserve, reserved atomically (parallel uploads cannot pass them together); a delete frees
its bytes; a restart derives what is used from the disk; the cap on queued jobs (429 with Retry-After).

While an assertion counts what parallel uploads hold, the test holds the worker's ``guard`` (the lock it
takes to start a file), so no job ends and gives bytes back meanwhile: the counts do not depend on timing.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from api_support import live_server, tiny_settings
from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from mmsearch.access.principal import Principal, Role
from mmsearch.api.app import create_app
from mmsearch.api.services.local_ledger import LocalLedger
from mmsearch.api.services.parts import Services, open_services
from mmsearch.api.services.uploads import INCOMING, usage
from mmsearch.config import Settings
from mmsearch.samples import make_image

pytestmark = pytest.mark.slow

MiB = 2**20
SIZE = int(2.4 * MiB)  # four fit in 10 MiB (with their multipart overhead), five do not
HEADERS = {"Authorization": "Bearer no-key"}  # a server without auth: any bearer passes the write guard


@pytest.fixture(scope="module")
def shared(
    tiny_models: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Settings, Services]]:
    settings = tiny_settings(tmp_path_factory.mktemp("limits") / "data", tiny_models, small_media=True)
    services = open_services(settings)
    try:
        yield settings, services
    finally:
        services.close()


def app_with(settings: Settings, services: Services, **server: Any) -> FastAPI:
    changed = settings.model_copy(update={"server": settings.server.model_copy(update=server)})
    return create_app(changed, services)


def payload(name: str, size: int = SIZE) -> bytes:
    return b"\x89PNG" + name.encode().ljust(size - 4, b".")  # not an image: its job fails, giving it back


def post(
    url: str, name: str, collection: str | None, chunked: bool = False, headers: dict[str, str] | None = None
) -> httpx.Response:
    """One upload of ``payload(name)``: with a Content-Length (as httpx and browsers send it), or chunked
    (the server reserves as the bytes arrive)."""
    data = payload(name)
    with httpx.Client(base_url=url, headers={**HEADERS, **(headers or {})}, timeout=300) as client:
        if not chunked:
            fields = {"collection": collection} if collection else {}
            return client.post("/v1/documents", data=fields, files=[("files", (name, data))])
        return client.post(
            "/v1/documents",
            content=_chunks(name, data, collection),
            headers={"Content-Type": "multipart/form-data; boundary=lim"},
        )


def _chunks(name: str, data: bytes, collection: str | None) -> Iterator[bytes]:
    if collection:
        yield (
            b'--lim\r\nContent-Disposition: form-data; name="collection"\r\n\r\n'
            + collection.encode()
            + b"\r\n"
        )
    yield b'--lim\r\nContent-Disposition: form-data; name="files"; filename="' + name.encode() + b'"\r\n\r\n'
    for start in range(0, len(data), 65536):
        yield data[start : start + 65536]
    yield b"\r\n--lim--\r\n"


def in_parallel(calls: Sequence[Callable[[], httpx.Response]]) -> list[httpx.Response]:
    """Every call at once, each on its own thread and connection, released together."""
    start = threading.Barrier(len(calls))

    def run(call: Callable[[], httpx.Response]) -> httpx.Response:
        start.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


@contextmanager
def worker_held(services: Services) -> Iterator[None]:
    """No job starts a file (so none ends and gives its bytes back) until the block ends; then every job
    runs to its end."""
    services.jobs.guard.acquire()
    try:
        yield
    finally:
        services.jobs.guard.release()
        drain(services)


def drain(services: Services, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while services.jobs.jobs.jobs(active_only=True):
        assert time.monotonic() < deadline, "the ingest jobs did not end"
        time.sleep(0.05)


def staged_bytes(settings: Settings) -> int:
    return usage(settings.data_dir / "uploads" / INCOMING)


def staging_folders(settings: Settings) -> int:
    return len(os.listdir(settings.data_dir / "uploads" / INCOMING))


def refusals(responses: list[httpx.Response], quota: str, collection: str) -> list[dict[str, Any]]:
    """The 507s, each checked to name ``quota`` and its numbers."""
    found = []
    for response in responses:
        assert response.status_code in (202, 507), response.text
        if response.status_code == 507:
            error = response.json()["error"]
            assert error["code"] == "insufficient_storage"
            assert error["quota"]["name"] == quota and error["quota"]["collection"] == collection
            assert quota in error["message"] and repr(collection) in error["message"]
            assert (
                error["quota"]["used_bytes"] + error["quota"]["asked_bytes"] > error["quota"]["limit_bytes"]
            )
            found.append(error["quota"])
    return found


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_parallel_uploads_cannot_pass_a_collection_quota(
    shared: tuple[Settings, Services], chunked: bool
) -> None:
    settings, services = shared
    collection = f"finance-{int(chunked)}"
    app = app_with(settings, services, collection_quotas_mb={collection: 10})
    with live_server(app) as server, worker_held(services):
        before = staged_bytes(settings)
        calls = [partial(post, server.url, f"q{int(chunked)}-{i}.png", collection, chunked) for i in range(8)]
        responses = in_parallel(calls)
        accepted = [r for r in responses if r.status_code == 202]
        refused = refusals(responses, f"server.collection_quotas_mb.{collection}", collection)
        assert len(accepted) + len(refused) == 8
        assert len(accepted) * SIZE <= 10 * MiB and len(refused) >= 4
        assert staged_bytes(settings) - before == len(accepted) * SIZE <= 10 * MiB
        assert all(q["limit_bytes"] == 10 * MiB for q in refused)
        if not chunked:  # each reserves its declared length at once: the first four fit, whole
            assert len(accepted) == 4
        assert services.jobs.ledger.usage()[collection] == len(accepted) * SIZE
    assert collection not in services.jobs.ledger.usage()  # their jobs failed: their bytes were given back
    assert staged_bytes(settings) == 0


def test_parallel_uploads_cannot_pass_the_global_quota(shared: tuple[Settings, Services]) -> None:
    settings, services = shared
    used = sum(services.jobs.ledger.usage().values())
    app = app_with(settings, services, uploads_quota_mb=(used + 10 * MiB) / MiB)
    with live_server(app) as server, worker_held(services):
        responses = in_parallel([partial(post, server.url, f"g{i}.png", f"dept-{i}") for i in range(8)])
        accepted = [r for r in responses if r.status_code == 202]
        refused = [r for r in responses if r.status_code == 507]
        assert len(accepted) == 4 and len(refused) == 4
        for response in refused:
            error = response.json()["error"]
            assert (
                error["quota"]["name"] == "server.uploads_quota_mb" and "all collections" in error["message"]
            )
            assert error["quota"]["limit_bytes"] == used + 10 * MiB
            assert "dept-" in error["quota"]["collection"]
        assert sum(services.jobs.ledger.usage().values()) == used + 4 * SIZE


def test_parallel_uploads_keep_the_free_space_reserve(shared: tuple[Settings, Services]) -> None:
    """The disk seen through the ledger's probe: 10 MiB beyond the reserve when the test starts, less every
    byte written under uploads since (what a real disk would show)."""
    settings, services = shared
    ledger = cast(LocalLedger, services.jobs.ledger)
    uploads = settings.data_dir / "uploads"
    reserve = 16 * MiB
    start = usage(uploads)
    real = ledger.free_bytes
    ledger.free_bytes = lambda: reserve + 10 * MiB - (usage(uploads) - start)
    try:
        app = app_with(settings, services, min_free_disk_mb=16)
        with live_server(app) as server, worker_held(services):
            calls = [partial(post, server.url, f"d{i}.png", "media", chunked=i % 4 == 3) for i in range(8)]
            responses = in_parallel(calls)
            accepted = [r for r in responses if r.status_code == 202]
            refused = refusals(responses, "server.min_free_disk_mb", "media")
            assert len(accepted) * SIZE <= 10 * MiB and len(refused) >= 4
            assert ledger.free_bytes() >= reserve  # the reserve held
            assert all(
                "free disk space" in r.json()["error"]["message"] for r in responses if r.status_code == 507
            )
    finally:
        ledger.free_bytes = real


def test_bad_collection_fields_are_422_and_leave_nothing(shared: tuple[Settings, Services]) -> None:
    settings, services = shared
    with (
        live_server(app_with(settings, services)) as server,
        httpx.Client(base_url=server.url, headers=HEADERS) as client,
    ):
        usage_before = services.jobs.ledger.usage()
        cases = [  # the field as ingest.names checks it (a blank one is `default`'s, like none)
            ({"collection": "Finance!"}, [("files", ("a.png", b"\x89PNG1"))], "collection 'Finance!'"),
            ({"collection": "x" * 65}, [("files", ("a.png", b"\x89PNG1"))], "1-64 lower-case letters"),
        ]
        for fields, files, needle in cases:
            response = client.post("/v1/documents", data=fields, files=files)
            assert response.status_code == 422, response.text
            assert response.json()["error"]["code"] == "invalid_label"
            assert needle in response.json()["error"]["message"]
        late = (
            b'--b\r\nContent-Disposition: form-data; name="files"; filename="a.png"\r\n\r\n\x89PNG1\r\n'
            b'--b\r\nContent-Disposition: form-data; name="collection"\r\n\r\nlegal\r\n--b--\r\n'
        )
        response = client.post(
            "/v1/documents", content=late, headers={"Content-Type": "multipart/form-data; boundary=b"}
        )
        assert response.status_code == 422 and "before the files" in response.text
        assert staging_folders(settings) == 0
        assert services.jobs.ledger.usage() == usage_before


def test_a_cancelled_job_and_a_client_that_goes_away_give_their_bytes_back(
    shared: tuple[Settings, Services],
) -> None:
    settings, services = shared
    app = app_with(settings, services, collection_quotas_mb={"hr": 5})
    with live_server(app) as server, worker_held(services):
        first, second = post(server.url, "hr-1.png", "hr"), post(server.url, "hr-2.png", "hr")
        assert (first.status_code, second.status_code) == (202, 202)
        assert post(server.url, "hr-3.png", "hr").status_code == 507  # 3 x 2.4 MiB > 5 MiB
        with httpx.Client(base_url=server.url, headers=HEADERS) as client:
            cancelled = client.delete(f"/v1/jobs/{second.json()['job_id']}")  # queued: cancelled at once
        assert cancelled.json()["state"] == "cancelled"
        assert services.jobs.ledger.usage()["hr"] == SIZE
        assert staged_bytes(settings) == SIZE

        host, port = server.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as sock:  # declares 2.4 MiB, sends half, leaves
            head = b'--lim\r\nContent-Disposition: form-data; name="collection"\r\n\r\nhr\r\n'
            head += b'--lim\r\nContent-Disposition: form-data; name="files"; filename="hr-4.png"\r\n\r\n'
            sock.sendall(
                b"POST /v1/documents HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer no-key\r\n"
                b"Content-Type: multipart/form-data; boundary=lim\r\n"
                + f"Content-Length: {len(head) + SIZE + 10}\r\n\r\n".encode()
                + head
                + payload("hr-4.png")[: SIZE // 2]
            )
            deadline = time.monotonic() + 60
            while services.jobs.ledger.usage()["hr"] < 2 * SIZE:  # its whole declared length is held
                assert time.monotonic() < deadline, "the upload never reserved its bytes"
                time.sleep(0.02)
        deadline = time.monotonic() + 60
        while services.jobs.ledger.usage()["hr"] > SIZE or staged_bytes(settings) > SIZE:
            assert time.monotonic() < deadline, "the abandoned upload kept its reservation or its bytes"
            time.sleep(0.05)
        assert staging_folders(settings) == 1
        assert post(server.url, "hr-5.png", "hr").status_code == 202  # the room is usable again
    assert "hr" not in services.jobs.ledger.usage()


class PrincipalFromHeader:
    """Stands in for the auth layer that sets ``request.state.principal``: ``X-Test-Principal: NAME``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            name = dict(scope["headers"]).get(b"x-test-principal", b"anonymous").decode()
            scope["state"] = {**scope.get("state", {}), "principal": Principal(name, Role.WRITER, via="key")}
        await self.app(scope, receive, send)


def test_the_queue_is_capped_per_principal_and_overall(shared: tuple[Settings, Services]) -> None:
    settings, services = shared
    app = app_with(settings, services, max_queued_jobs_per_principal=3, max_queued_jobs=5)
    app.add_middleware(PrincipalFromHeader)

    def upload(who: str, name: str) -> httpx.Response:
        return post(server.url, name, None, headers={"X-Test-Principal": who})

    with live_server(app) as server:
        with worker_held(services):
            jobs = len(services.jobs.jobs.jobs(limit=10_000))
            responses = in_parallel([partial(upload, "key:alice", f"alice-{i}.png") for i in range(8)])
            assert sorted(r.status_code for r in responses) == [202] * 3 + [429] * 5
            for response in (r for r in responses if r.status_code == 429):
                assert int(response.headers["retry-after"]) > 0
                assert response.json()["error"]["code"] == "too_many_jobs"
                assert "server.max_queued_jobs_per_principal = 3" in response.json()["error"]["message"]
            assert staging_folders(settings) == 3  # nothing of the refused ones was stored
            assert len(services.jobs.jobs.jobs(limit=10_000)) == jobs + 3
            assert upload("key:bob", "bob-1.png").status_code == 202  # bob has a queue of his own
            assert upload("key:bob", "bob-2.png").status_code == 202
            overall = upload("key:carol", "carol-1.png")
            assert overall.status_code == 429 and "server.max_queued_jobs = 5" in overall.text
            assert "retry-after" in overall.headers
            assert staging_folders(settings) == 5
        assert upload("key:alice", "alice-again.png").status_code == 202  # the jobs ended: room again
        drain(services)
    jobs_of = {job.principal for job in services.jobs.jobs.jobs(limit=20)}
    assert {"key:alice", "key:bob"} <= jobs_of


def image(folder: Path, name: str, seed: int) -> bytes:
    """A real image (indexed, so kept), of a size that depends on its content."""
    path = folder / name
    make_image(path, "png", (160 + seed * 8, 120), text=f"image {seed}")
    return path.read_bytes()


def upload_and_wait(client: httpx.Client, name: str, data: bytes) -> httpx.Response:
    response = client.post("/v1/documents", files=[("files", (name, data))])
    if response.status_code != 202:
        return response
    job = response.json()
    deadline = time.monotonic() + 300
    while job["state"] in ("queued", "running"):
        assert time.monotonic() < deadline, "the ingest job did not end"
        time.sleep(0.05)
        job = client.get(job["url"]).json()
    assert job["files"][0]["status"] == "indexed", job
    return response


def test_a_delete_frees_quota_and_a_restart_derives_usage_from_disk(
    tiny_models: Path, tmp_path: Path
) -> None:
    settings = tiny_settings(tmp_path / "data", tiny_models, small_media=True)
    first, second = image(tmp_path, "first.png", 1), image(tmp_path, "second.png", 2)
    quota = {"collection_quotas_mb": {"default": (len(first) + len(second) - 1) / MiB}}
    services = open_services(settings)
    try:
        with (
            live_server(app_with(settings, services, **quota)) as server,
            httpx.Client(base_url=server.url, headers=HEADERS, timeout=300) as client,
        ):
            kept = upload_and_wait(client, "first.png", first)
            assert kept.status_code == 202
            refused = client.post("/v1/documents", files=[("files", ("second.png", second))])
            assert refused.status_code == 507, refused.text
            assert refused.json()["error"]["quota"]["used_bytes"] == len(first)
            doc_id = client.get("/v1/documents").json()["documents"][0]["doc_id"]
            assert client.delete(f"/v1/documents/{doc_id}").status_code == 200
            assert services.jobs.ledger.usage().get("default", 0) == 0
            assert upload_and_wait(client, "second.png", second).status_code == 202
    finally:
        services.close()
    services = open_services(settings)  # a restart: nothing but the disk tells what is used
    try:
        assert services.jobs.ledger.usage() == {"default": len(second)}
        with (
            live_server(app_with(settings, services, **quota)) as server,
            httpx.Client(base_url=server.url, headers=HEADERS, timeout=300) as client,
        ):
            refused = client.post("/v1/documents", files=[("files", ("first.png", first))])
            assert refused.status_code == 507, refused.text
            assert refused.json()["error"]["quota"]["used_bytes"] == len(second)
            assert refused.json()["error"]["quota"]["name"] == "server.collection_quotas_mb.default"
    finally:
        services.close()
