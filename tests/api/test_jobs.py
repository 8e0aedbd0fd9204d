"""Ingest jobs under a real uvicorn on loopback: a 5000-page PDF is refused by the default page cap, and
with the cap raised it ingests as a job with progress while a search and a delete answer within 2 s;
cancelling the running job then rolls its file back. (Its full ingest — minutes on a CPU — is measured
by ``bench/upload.py``, not here.)"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import LiveServer, budget, live_server, tiny_settings

from mmsearch.api.app import create_app
from mmsearch.api.services.parts import open_services
from mmsearch.client.transport import auth_headers
from mmsearch.samples import make_empty_pdf, make_pdf

# A program, not a browser page: it sends an Authorization header (any value; the server has no keys),
# as the server's Origin rule asks of every write and search (api/edge/guard.py).
PROGRAM = auth_headers(None)

pytestmark = pytest.mark.slow

# The smallest pages the model takes (4 visual tokens): the test is about the job, not the pixels.
SMALL = {"pdf_dpi": 36.0, "max_pixels": 4 * 32 * 32, "video_frame_max_pixels": 4 * 32 * 32}
ANSWER_S = 2.0


@pytest.fixture(scope="module")
def huge(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_empty_pdf(tmp_path_factory.mktemp("huge") / "huge.pdf", 5000)


@contextmanager
def serving(data_dir: Path, models: Path, **ingest: Any) -> Iterator[LiveServer]:
    settings = tiny_settings(data_dir, models, small_media=True, ingest={**SMALL, **ingest})
    services = open_services(settings)
    try:
        with live_server(create_app(settings, services)) as live:
            yield live
    finally:
        services.close()


def upload(url: str, path: Path, name: str | None = None) -> dict[str, Any]:
    started = time.perf_counter()
    with path.open("rb") as handle:
        response = httpx.post(
            headers=PROGRAM,
            url=f"{url}/v1/documents",
            files=[("files", (name or path.name, handle))],
            timeout=60,
        )
    assert response.status_code == 202, response.text
    job: dict[str, Any] = response.json()
    job["answered_s"] = time.perf_counter() - started
    return job


def wait(url: str, job: dict[str, Any], timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + budget(timeout)
    while job["state"] in ("queued", "running"):
        assert time.monotonic() < deadline, f"job still {job['state']}: {job['progress']}"
        time.sleep(0.1)
        job = httpx.get(job["url"], timeout=10).json()
    return job


def timed(method: str, url: str, **kwargs: Any) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = httpx.request(method, url, headers=PROGRAM, timeout=30, **kwargs)
    return response, time.perf_counter() - started


def test_the_default_page_cap_refuses_a_5000_page_pdf(huge: Path, tiny_models: Path, tmp_path: Path) -> None:
    with serving(tmp_path / "data", tiny_models) as live:
        job = wait(live.url, upload(live.url, huge))
    assert job["state"] == "done" and job["failed"] == 1
    failed = job["files"][0]
    assert failed["status"] == "failed" and failed["code"] == "limit_exceeded"
    assert "5,000 pages is over ingest.max_pages_per_file (2,000)" in failed["message"]
    assert not (tmp_path / "data" / "uploads" / "huge.pdf").exists()


def test_a_5000_page_pdf_ingests_as_a_job_while_search_and_delete_answer(
    huge: Path, tiny_models: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other.pdf"
    make_pdf(other, 1, topic="birds")
    data = tmp_path / "data"
    with serving(data, tiny_models, max_pages_per_file=6000) as live:
        small = wait(live.url, upload(live.url, other))
        assert small["indexed"] == 1
        body = {"text": "birds", "top_k": 3, "candidates": 3}
        idle, idle_s = timed("POST", f"{live.url}/v1/search", json=body)  # the first one warms up
        print(f"search with the worker idle: {idle_s:.2f}s {idle.json()['timings_ms']}")
        job = upload(live.url, huge)
        assert job["answered_s"] < ANSWER_S and job["progress"]["files_total"] == 1
        while job["progress"]["units_done"] < 32:
            job = httpx.get(job["url"], timeout=10).json()
            assert job["state"] in ("queued", "running"), job
            time.sleep(0.1)
        search, search_s = timed("POST", f"{live.url}/v1/search", json=body)
        delete, delete_s = timed("DELETE", f"{live.url}/v1/documents/{small['files'][0]['doc_id']}")
        listing, listing_s = timed("GET", f"{live.url}/v1/documents")
        time.sleep(1.0)
        during = httpx.get(job["url"], timeout=10).json()
        cancelled = httpx.delete(headers=PROGRAM, url=job["url"], timeout=10)
        assert cancelled.status_code == 200, cancelled.text
        ended = wait(live.url, cancelled.json())
        points = httpx.get(f"{live.url}/readyz").json()["checks"]["store"]["points"]
        after = httpx.get(f"{live.url}/v1/documents").json()
        again = httpx.delete(headers=PROGRAM, url=job["url"], timeout=10).json()
    print(f"during the ingest: search {search_s:.2f}s {search.json()['timings_ms']}, delete {delete_s:.2f}s")
    assert search.status_code == 200 and search_s < ANSWER_S, (search.text, search_s)
    assert all(h["file_name"] != "huge.pdf" for h in search.json()["hits"])  # not committed yet
    assert delete.status_code == 200 and delete_s < ANSWER_S, (delete.text, delete_s)
    assert listing.status_code == 200 and listing_s < ANSWER_S and listing.json()["total"] == 0
    assert during["state"] == "running" and during["progress"]["current"] == "huge.pdf"
    assert during["progress"]["units_done"] > job["progress"]["units_done"]  # it goes on meanwhile
    assert ended["state"] == "cancelled" and ended["files"][0]["status"] == "cancelled"
    assert ended["files"][0]["code"] == "cancelled" and again["state"] == "cancelled"
    assert points == 0 and after["total"] == 0  # its pages were rolled back
    assert [p for p in (data / "uploads").rglob("*") if p.is_file()] == []
    assert not list((data / "media").rglob("*.jpg"))
