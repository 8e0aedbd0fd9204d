"""The API under a real uvicorn on a free loopback port: probes, keys, 50 concurrent searches, metrics,
raw traversal attempts, and ingest while the server owns the store (through it, or refused)."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from api_support import READ_KEY, WRITE_KEY, Indexed, LiveServer, live_server

from mmsearch.cli.remote import RemoteIngest
from mmsearch.client import RemoteError
from mmsearch.ingest.names import Labels
from mmsearch.samples import make_pdf
from tests.support import run_cli

pytestmark = pytest.mark.slow

READ = {"Authorization": f"Bearer {READ_KEY}"}
WRITE = {"Authorization": f"Bearer {WRITE_KEY}"}


@pytest.fixture(scope="module")
def server(indexed: Indexed) -> Iterator[LiveServer]:
    with live_server(indexed.app(read_keys=[READ_KEY], write_keys=[WRITE_KEY])) as live:
        yield live


def cli_env(indexed: Indexed) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MMSEARCH_")}
    env.update(
        MMSEARCH_EMBEDDING__MODEL=indexed.settings.embedding.model,
        MMSEARCH_RERANKER__MODEL=indexed.settings.reranker.model,
        MMSEARCH_EMBEDDING__DEVICE="cpu",
        MMSEARCH_RERANKER__DEVICE="cpu",
        HF_HUB_OFFLINE="1",
    )
    return env


def test_probes_and_info(server: LiveServer) -> None:
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{server.url}/readyz").json()
    assert ready["status"] == "ready"
    assert ready["checks"]["store"]["ok"] and ready["checks"]["store"]["points"] > 0
    assert ready["checks"]["embedder"]["ok"] and ready["checks"]["reranker"]["ok"]
    info = httpx.get(f"{server.url}/v1/info").json()
    assert info["auth_required"] is True and info["dim"] > 0 and info["reranker"]


def test_keys_over_the_wire(server: LiveServer) -> None:
    refused = httpx.post(f"{server.url}/v1/search", json={"text": "revenue"})
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"
    body = {"text": "revenue", "top_k": 2, "candidates": 2}
    response = httpx.post(f"{server.url}/v1/search", json=body, headers=READ, timeout=60)
    assert response.status_code == 200
    hit = response.json()["hits"][0]
    assert hit["image_url"].startswith(f"{server.url}/v1/images/")
    image = httpx.get(hit["image_url"])  # signed: no header needed
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"


def test_fifty_concurrent_searches_all_answered(server: LiveServer) -> None:
    """50 at once: the server runs 8, queues the rest, and answers every one. One in ten is reranked
    (on two candidates: CPU reranking of the tiny model is the slow part, and it is serialised)."""
    texts = ["quarterly revenue", "birds in flight", "a moving block", "mountain lake", "ledger audit"]

    def body(i: int) -> dict[str, object]:
        return {"text": f"{texts[i % 5]} {i}", "top_k": 2, "candidates": 2, "rerank": i % 10 == 0}

    async def run() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=50)
        async with httpx.AsyncClient(base_url=server.url, headers=READ, limits=limits, timeout=120) as client:
            return await asyncio.gather(*(client.post("/v1/search", json=body(i)) for i in range(50)))

    started = time.perf_counter()
    responses = asyncio.run(run())
    elapsed = time.perf_counter() - started
    assert [r.status_code for r in responses] == [200] * 50
    assert all(len(r.json()["hits"]) == 2 for r in responses)
    assert [r.json()["reranked"] for r in responses] == [i % 10 == 0 for i in range(50)]
    assert elapsed < 90, f"50 searches took {elapsed:.1f}s"
    metrics = httpx.get(f"{server.url}/metrics", headers=READ).text
    assert _sample(metrics, 'mmsearch_searches_total{reranked="false"}') >= 45
    assert _sample(metrics, 'mmsearch_searches_total{reranked="true"}') >= 5
    assert (
        _sample(metrics, 'mmsearch_http_requests_total{method="POST",route="/v1/search",status="200"}') >= 50
    )
    for stage in ("embed", "search", "total"):
        assert _sample(metrics, f'mmsearch_search_stage_duration_seconds_count{{stage="{stage}"}}') >= 50
    assert _sample(metrics, 'mmsearch_search_stage_duration_seconds_count{stage="rerank"}') >= 5


def _sample(metrics: str, name: str) -> float:
    for line in metrics.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in /metrics")


@pytest.mark.parametrize(
    "raw",
    [
        "/v1/images/../../../../etc/passwd",
        "/v1/images/..%2f..%2f..%2f..%2fetc%2fpasswd",
        "/v1/images/%2e%2e/%2e%2e/etc/passwd",
        "/static/../../../../etc/passwd",
        "/static/..%2f..%2f..%2f..%2fetc%2fpasswd",
        "/static/%2e%2e/%2e%2e/api/settings.py",
        "/v1/documents/..%2f..%2f..%2fetc%2fpasswd/file",
        "/v1/documents/../../../etc/passwd/file",
    ],
)
def test_traversal_attempts_are_404(server: LiveServer, raw: str) -> None:
    """Sent byte for byte (http.client does not normalise paths), with a valid read key."""
    netloc = urlsplit(server.url).netloc
    connection = http.client.HTTPConnection(netloc, timeout=10)
    try:
        connection.request("GET", raw, headers=READ)
        response = connection.getresponse()
        body = response.read().decode()
    finally:
        connection.close()
    assert response.status == 404, (raw, body)
    assert json.loads(body)["error"]["code"] == "not_found"
    assert "root:" not in body and "ApiSettings" not in body


def test_cli_ingest_while_serving_is_refused_with_store_locked(
    server: LiveServer, indexed: Indexed, tmp_path: Path
) -> None:
    pdf = tmp_path / "late.pdf"
    make_pdf(pdf, 1)
    result = run_cli(
        ["--data-dir", str(indexed.settings.data_dir), "ingest", str(pdf)], cli_env(indexed), tmp_path
    )
    assert result.returncode == 1, result.stderr
    assert "Error:" in result.stderr and "in use by another process" in result.stderr


def test_remote_ingest_goes_through_the_server(server: LiveServer, indexed: Indexed, tmp_path: Path) -> None:
    folder = tmp_path / "inbox"
    make_pdf(folder / "memo.pdf", 2, topic="chemistry")
    make_pdf(folder / "sub" / "memo.pdf", 1, topic="birds")  # same name, other folder: another document
    (folder / "notes.pdf").write_bytes(b"plain text, not a PDF\n" * 10)
    events: list[str] = []
    with RemoteIngest(server.url, WRITE_KEY) as remote:
        report = remote.run(
            [folder], indexed.settings.ingest, on_progress=lambda e: events.append(e.kind),
            labels=Labels.checked("inbox", ["staff"], {"source": "scanner", "year": 2024}),
        )  # fmt: skip
    by_path = {Path(f.path).relative_to(folder).as_posix(): f for f in report.files}
    assert by_path["memo.pdf"].status == "indexed" and by_path["memo.pdf"].units == 2
    assert by_path["sub/memo.pdf"].status == "indexed" and by_path["sub/memo.pdf"].units == 1
    assert by_path["notes.pdf"].status == "failed" and by_path["notes.pdf"].code == "unsupported_file"
    assert events[0] == "run_start" and events.count("file_end") == 3
    listing = httpx.get(f"{server.url}/v1/documents", headers=READ).json()["documents"]
    uploaded = [d for d in listing if d["collection"] == "inbox"]
    assert sorted(d["name"] for d in uploaded) == ["memo.pdf", "sub/memo.pdf"]  # relative to the folder given
    assert all(
        d["groups"] == ["staff"] and d["metadata"] == {"source": "scanner", "year": 2024} for d in uploaded
    )
    assert by_path["sub/memo.pdf"].name == "sub/memo.pdf" and by_path["sub/memo.pdf"].collection == "inbox"
    for doc in uploaded:  # leave the shared index as it was
        assert httpx.delete(f"{server.url}/v1/documents/{doc['doc_id']}", headers=WRITE).status_code == 200


def test_remote_ingest_errors_are_clear(server: LiveServer, indexed: Indexed, tmp_path: Path) -> None:
    pdf = tmp_path / "x.pdf"
    make_pdf(pdf, 1)
    with RemoteIngest(server.url, READ_KEY) as remote, pytest.raises(RemoteError, match="write key"):
        remote.run([pdf], indexed.settings.ingest)
    with RemoteIngest(server.url) as remote, pytest.raises(RemoteError, match="API key"):
        remote.run([pdf], indexed.settings.ingest)
    with (
        RemoteIngest("http://127.0.0.1:9", timeout_s=5) as remote,
        pytest.raises(RemoteError, match="cannot reach"),
    ):
        remote.run([pdf], indexed.settings.ingest)


def test_cli_ingest_with_server_option(server: LiveServer, indexed: Indexed, tmp_path: Path) -> None:
    from mmsearch.cli.ingest import ingest

    if "server" not in {p.name for p in ingest.params}:
        pytest.fail(
            "mmsearch/cli/ingest.py has no --server option yet: wire RemoteIngest (mmsearch/cli/remote.py)"
        )
    pdf = tmp_path / "via-cli.pdf"
    make_pdf(pdf, 1)
    env = cli_env(indexed) | {"MMSEARCH_API_KEY": WRITE_KEY}
    result = run_cli(["ingest", "--server", server.url, "--json", str(pdf)], env, tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["files"][0]["status"] == "indexed"
    listing = httpx.get(f"{server.url}/v1/documents", headers=READ).json()["documents"]
    doc = next(d for d in listing if d["file_name"] == "via-cli.pdf")
    assert httpx.delete(f"{server.url}/v1/documents/{doc['doc_id']}", headers=WRITE).status_code == 200
