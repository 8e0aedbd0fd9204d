"""Hostile files uploaded to a real uvicorn on loopback: MP4s whose atoms lie, a page MuPDF would render
for hours, a PDF of 100,000 objects. The job reports one clear error per bad file (the slow page at
``ingest.render_timeout_s``), indexes the rest, and the server answers probes and searches throughout."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import budget, live_server, tiny_settings

from mmsearch.api.app import create_app
from mmsearch.api.services.parts import open_services
from mmsearch.client.transport import auth_headers
from mmsearch.samples import make_bad_files, make_image, make_many_objects_pdf, make_slow_page_pdf

PROGRAM = auth_headers(None)  # a program: writes need an Authorization header or the page's Origin

pytestmark = pytest.mark.slow

HOSTILE_MP4 = ("truncated-moov.mp4", "huge-stsz-count.mp4", "huge-stsz-size.mp4")


def upload(url: str, paths: list[Path]) -> dict[str, Any]:
    handles = [path.open("rb") for path in paths]
    try:
        files = [("files", (path.name, handle)) for path, handle in zip(paths, handles, strict=True)]
        response = httpx.post(f"{url}/v1/documents", headers=PROGRAM, files=files, timeout=budget(60))
    finally:
        for handle in handles:
            handle.close()
    assert response.status_code == 202, response.text
    job: dict[str, Any] = response.json()
    return job


def test_hostile_uploads_fail_one_by_one_while_the_server_answers(tmp_path: Path, tiny_models: Path) -> None:
    bad = make_bad_files(tmp_path / "bad")
    slow = make_slow_page_pdf(tmp_path / "up" / "slow.pdf")
    many = make_many_objects_pdf(tmp_path / "up" / "many.pdf")
    photo = make_image(tmp_path / "up" / "photo.jpg", "jpeg", (320, 240), text="photo")
    timeout = budget(8.0)
    settings = tiny_settings(
        tmp_path / "data", tiny_models, small_media=True, ingest={"render_timeout_s": timeout}
    )
    services = open_services(settings)
    try:
        with live_server(create_app(settings, services)) as live:
            first = upload(live.url, [photo])
            job = upload(live.url, [*(tmp_path / "bad" / name for name in HOSTILE_MP4), slow, many])
            answered = 0
            deadline = time.monotonic() + budget(120)
            while job["state"] in ("queued", "running"):
                assert time.monotonic() < deadline, job
                health = httpx.get(f"{live.url}/healthz", timeout=budget(5))
                assert health.status_code == 200, health.text
                if httpx.get(first["url"], timeout=budget(5)).json()["state"] == "done":
                    body = {"text": "photo", "top_k": 3, "rerank": False}
                    found = httpx.post(
                        f"{live.url}/v1/search", json=body, headers=PROGRAM, timeout=budget(30)
                    )
                    assert found.status_code == 200, found.text
                    answered += 1
                time.sleep(0.2)
                job = httpx.get(job["url"], timeout=budget(5)).json()
            body = {"text": "photo", "top_k": 10, "rerank": False}
            after = httpx.post(f"{live.url}/v1/search", json=body, headers=PROGRAM, timeout=budget(30))
            ready = httpx.get(f"{live.url}/readyz", timeout=budget(5))
    finally:
        services.close()
    assert answered > 0  # searches were answered while the slow page held the render worker
    assert job["state"] == "done", job
    outcomes = {f["name"]: (f["status"], f.get("code")) for f in job["files"]}
    assert outcomes == {
        **{name: ("failed", bad[name]) for name in HOSTILE_MP4},
        "slow.pdf": ("failed", "limit_exceeded"),
        "many.pdf": ("indexed", None),
    }
    messages = {f["name"]: f.get("message") or "" for f in job["files"]}
    for name in HOSTILE_MP4:  # the file's name is its line's, not repeated in its message
        assert messages[name] and not messages[name].startswith(f"{name}: "), messages
    assert messages["slow.pdf"].startswith(
        f"page 1 of 1 took longer than ingest.render_timeout_s ({timeout:g} s)"
    )
    assert after.status_code == 200 and ready.status_code == 200, (after.text, ready.text)
    assert {h["name"] for h in after.json()["hits"]} == {"photo.jpg", "many.pdf"}
