"""A full disk under data_dir (a real, small tmpfs): searches, listings and files keep answering, /readyz
says "disk full", an ingest that fails on the disk is rolled back at once and reported with its cause,
and once space is freed the same upload is indexed."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from api_support import WRITE_KEY, live_server, tiny_settings

from mmsearch.api.app import create_app
from mmsearch.api.services.local_ledger import LocalLedger
from mmsearch.api.services.parts import open_services
from mmsearch.samples import make_image, make_pdf

pytestmark = pytest.mark.slow

AUTH = {"Authorization": f"Bearer {WRITE_KEY}"}
DISK_MB = 48


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of DISK_MB mounted for the test (needs root: skipped where mounting is not allowed)."""
    where = tmp_path / "disk"
    where.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m", "tmpfs", str(where)],
                          check=False, capture_output=True, text=True)  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(folder: Path) -> Path:
    """Write one file until the disk refuses (ENOSPC): the disk is then full to the last block."""
    filler = folder / "filler.bin"
    block = b"\0" * (1 << 20)
    with open(filler, "wb", buffering=0) as out:
        try:
            while True:
                out.write(block)
        except OSError:
            pass
        try:
            while True:
                out.write(b"\0" * 4096)
        except OSError:
            pass
    return filler


def wait_job(client: httpx.Client, url: str, timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    url = httpx.URL(url).path  # the server's links name the Host it was reached by
    job = client.get(url).json()
    while job["state"] in ("queued", "running"):
        assert time.monotonic() < deadline, job
        time.sleep(0.1)
        job = client.get(url).json()
    return job


def test_a_full_disk_keeps_reads_answering_and_rolls_a_failed_ingest_back(
    small_disk: Path, tiny_models: Path, tmp_path: Path
) -> None:
    data = small_disk / "data"
    settings = tiny_settings(data, tiny_models, small_media=True,
                             server={"write_keys": [WRITE_KEY], "min_free_disk_mb": 16})  # fmt: skip
    photo = tmp_path / "photo.png"
    make_image(photo, "png", (200, 150), text="harbour")
    big = tmp_path / "big.pdf"
    make_pdf(big, 40, topic="birds")
    services = open_services(settings)
    try:
        with (
            live_server(create_app(settings, services)) as live,
            httpx.Client(base_url=live.url, headers={**AUTH, "Host": "localhost"}, timeout=60) as client,
        ):
            up = client.post("/v1/documents", files=[("files", ("photo.png", photo.read_bytes()))])
            assert up.status_code == 202, up.text
            assert wait_job(client, up.json()["url"])["files"][0]["status"] == "indexed"
            assert client.get("/readyz").status_code == 200

            photo_id = client.get("/v1/documents").json()["documents"][0]["doc_id"]
            points = services.store.count()
            filler = fill(small_disk)
            free = os.statvfs(small_disk).f_bavail
            assert free * os.statvfs(small_disk).f_frsize < 64 * 1024, "the disk should be full"

            ready = client.get("/readyz")
            assert ready.status_code == 503, ready.text
            assert "disk full (" in ready.json()["error"]["message"], ready.text
            search = client.post("/v1/search", json={"text": "harbour", "rerank": False})
            assert search.status_code == 200, search.text
            hits = search.json()["hits"]
            assert hits
            listing = client.get("/v1/documents")
            assert listing.status_code == 200, listing.text
            doc = listing.json()["documents"][0]
            assert client.get(httpx.URL(doc["file_url"]).raw_path.decode()).status_code == 200
            assert client.get(httpx.URL(hits[0]["image_url"]).raw_path.decode()).status_code == 200
            assert client.get("/healthz").status_code == 200

            # An upload admitted while the disk is full (the ledger's view of it made generous, as when
            # another process fills the disk after the check): the ingest fails on the disk.
            filler.unlink()
            room = fill_leaving(small_disk, big.stat().st_size + 192 * 1024)
            held = services.jobs.ledger.usage()
            services.jobs.ledger = LocalLedger(held, lambda: 1 << 40)
            up = client.post("/v1/documents", files=[("files", ("big.pdf", big.read_bytes()))])
            assert up.status_code == 202, up.text
            job = wait_job(client, up.json()["url"])
            file = job["files"][0]
            assert file["status"] == "failed", job
            assert file["code"] == "disk_full" and "disk is full" in file["message"], job
            media = [p for p in (data / "media").rglob("*") if p.is_file()]
            assert media and all(p.parent.name == photo_id for p in media), media  # big.pdf's pages are gone
            assert services.store.count() == points, "the failed file's points were not rolled back"
            assert services.jobs.ledger.usage() == held, "the failed upload's bytes are still reserved"
            assert not list((data / "uploads" / ".incoming").glob("*/*")), "its staged bytes are still there"

            room.unlink()  # space freed: the same upload goes through
            up = client.post("/v1/documents", files=[("files", ("big.pdf", big.read_bytes()))])
            assert up.status_code == 202, up.text
            job = wait_job(client, up.json()["url"])
            assert job["files"][0]["status"] == "indexed", job
            assert client.get("/readyz").status_code == 200
    finally:
        services.close()


def fill_leaving(folder: Path, leave: int) -> Path:
    """Fill the disk but ``leave`` bytes."""
    filler = folder / "filler-room.bin"
    stat = os.statvfs(folder)
    size = stat.f_bavail * stat.f_frsize - leave
    with open(filler, "wb") as out:
        out.write(b"\0" * max(size, 0))
    return filler
