"""Ingest jobs under a real uvicorn on loopback: a 5000-page PDF is refused by the default page cap, and
with the cap raised it ingests as a job with progress while a search and a delete answer within 2 s;
cancelling a running job rolls its file back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pymupdf
import pytest
from api_support import LiveServer, live_server, tiny_settings

from mmsearch.api.app import create_app
from mmsearch.api.services import open_services
from mmsearch.samples import make_pdf

pytestmark = pytest.mark.slow

# The smallest pages the model takes (4 visual tokens): the test is about the job, not the pixels.
SMALL = {"pdf_dpi": 36.0, "max_pixels": 4 * 32 * 32, "video_frame_max_pixels": 4 * 32 * 32}
ANSWER_S = 2.0


def empty_pdf(path: Path, pages: int) -> Path:
    doc = pymupdf.open()
    for _ in range(pages):
        doc.new_page(width=200, height=200)
    doc.save(path)
    doc.close()
    return path


@pytest.fixture(scope="module")
def huge(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return empty_pdf(tmp_path_factory.mktemp("huge") / "huge.pdf", 5000)


@contextmanager
def serving(data_dir: Path, models: Path, **ingest: Any) -> Iterator[LiveServer]:
    settings = tiny_settings(data_dir, models, ingest={**SMALL, **ingest})
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
            f"{url}/v1/documents", files=[("files", (name or path.name, handle))], timeout=60
        )
    assert response.status_code == 202, response.text
    job: dict[str, Any] = response.json()
    job["answered_s"] = time.perf_counter() - started
    return job


def wait(url: str, job: dict[str, Any], timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while job["state"] in ("queued", "running"):
        assert time.monotonic() < deadline, f"job still {job['state']}: {job['progress']}"
        time.sleep(0.1)
        job = httpx.get(job["url"], timeout=10).json()
    return job


def timed(method: str, url: str, **kwargs: Any) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = httpx.request(method, url, timeout=30, **kwargs)
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
    with serving(tmp_path / "data", tiny_models, max_pages_per_file=6000) as live:
        small = wait(live.url, upload(live.url, other))
        assert small["indexed"] == 1
        job = upload(live.url, huge)
        assert job["answered_s"] < ANSWER_S and job["progress"]["files_total"] == 1
        while job["progress"]["units_done"] < 32:
            job = httpx.get(job["url"], timeout=10).json()
            assert job["state"] in ("queued", "running"), job
            time.sleep(0.1)
        body = {"text": "birds", "top_k": 3, "candidates": 3}
        search, search_s = timed("POST", f"{live.url}/v1/search", json=body)
        delete, delete_s = timed("DELETE", f"{live.url}/v1/documents/{small['files'][0]['doc_id']}")
        during = httpx.get(job["url"], timeout=10).json()
        done = wait(live.url, job, timeout=900)
        hits = httpx.post(f"{live.url}/v1/search", json={"text": "x", "top_k": 5, "rerank": False}).json()
    assert search.status_code == 200 and search_s < ANSWER_S, (search.text, search_s)
    assert all(h["file_name"] != "huge.pdf" for h in search.json()["hits"])  # not committed yet
    assert delete.status_code == 200 and delete_s < ANSWER_S, (delete.text, delete_s)
    assert during["state"] == "running" and during["progress"]["current"] == "huge.pdf"
    assert during["progress"]["units_done"] >= job["progress"]["units_done"]
    assert done["state"] == "done" and done["indexed"] == 1 and done["files"][0]["units"] == 5000
    assert {h["page_count"] for h in hits["hits"]} == {5000}


def test_cancelling_a_running_job_rolls_its_file_back(huge: Path, tiny_models: Path, tmp_path: Path) -> None:
    with serving(tmp_path / "data", tiny_models, max_pages_per_file=6000) as live:
        job = upload(live.url, huge)
        while job["progress"]["units_done"] == 0:
            job = httpx.get(job["url"], timeout=10).json()
            time.sleep(0.05)
        cancelled = httpx.delete(job["url"], timeout=10)
        assert cancelled.status_code == 200
        job = wait(live.url, cancelled.json())
        points = httpx.get(f"{live.url}/readyz").json()["checks"]["store"]["points"]
        listing = httpx.get(f"{live.url}/v1/documents").json()
        again = httpx.delete(job["url"], timeout=10).json()
    assert job["state"] == "cancelled" and job["files"][0]["status"] == "cancelled"
    assert job["files"][0]["code"] == "cancelled" and again["state"] == "cancelled"
    assert points == 0 and listing["total"] == 0
    uploads = tmp_path / "data" / "uploads"
    assert [p for p in uploads.rglob("*") if p.is_file()] == []
    assert not list((tmp_path / "data" / "media").rglob("*.jpg"))
