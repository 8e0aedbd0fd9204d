"""``kill -9`` of a real ``mmsearch serve`` at random moments during uploads and replacements, seven times,
each followed by a restart: store, manifest, page images and uploads agree, and no search — during the
uploads or after — returns two versions of one document or a partial one.

The versions of a file differ in page count, so a hit's ``page_count`` names its version: all hits of
one document must share it, and a search restricted to the document must return exactly that many
pages, 1…N.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from mmsearch.client.transport import auth_headers
from mmsearch.ingest.units import doc_id_for
from mmsearch.samples import make_pdf
from tests.support import budget, tiny_env

# A program, not a browser page: it sends an Authorization header (any value; the server has no keys),
# as the server's Origin rule asks of every write and search (api/edge/guard.py).
PROGRAM = auth_headers(None)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(1800),
]  # eight server starts: ~2 min idle, 12 min on a loaded machine

ROUNDS = 7  # random kill points; 10 took the suite past its 15-minute budget
NAMES = ("alpha.pdf", "beta.pdf", "gamma.pdf")
SMALL = {
    "MMSEARCH_INGEST__PDF_DPI": "36",
    "MMSEARCH_INGEST__MAX_PIXELS": str(4 * 32 * 32),
    "MMSEARCH_INGEST__VIDEO_FRAME_MAX_PIXELS": str(4 * 32 * 32),
    "MMSEARCH_RERANKER__BACKEND": "none",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    def __init__(self, data_dir: Path, models: Path, cwd: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = tiny_env(data_dir, models, **SMALL)
        self.log = (cwd / "serve.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mmsearch", "serve", "--port", str(self.port)],
            env=env, cwd=cwd, stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + budget(120)
        while True:
            assert self.proc.poll() is None, (
                f"mmsearch serve exited {self.proc.returncode}: see {self.log.name}"
            )
            assert time.monotonic() < deadline, "mmsearch serve did not start"
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        os.kill(self.proc.pid, sig)
        self.proc.wait(60)
        self.log.close()


def versions(tmp: Path) -> dict[int, Path]:
    """One PDF per page count 1…6 (the page count is the version)."""
    out = {}
    for pages in range(1, 7):
        out[pages] = tmp / f"v{pages}" / "doc.pdf"
        make_pdf(out[pages], pages, topic="finance", with_charts=False, with_tables=False)
    return out


def committed(data_dir: Path) -> dict[str, tuple[str, int]]:
    """path → (sha256, units) of every committed manifest row."""
    db = sqlite3.connect(f"{(data_dir / 'manifest.sqlite').as_uri()}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT path, sha256, unit_ids FROM documents WHERE sha256 IS NOT NULL").fetchall()
    finally:
        db.close()
    return {path: (sha, len(json.loads(ids))) for path, sha, ids in rows}


def doc_of(path: str, data_dir: Path) -> str:
    """The id of the upload stored at ``path`` (under uploads/default/)."""
    return doc_id_for(
        "default", Path(path).relative_to((data_dir / "uploads" / "default").resolve()).as_posix()
    )


def check_hits(hits: list[dict[str, Any]], whole: bool) -> None:
    """One version per document; with ``whole`` (a search restricted to one document), all its pages."""
    by_doc: dict[str, list[dict[str, Any]]] = {}
    for hit in hits:
        by_doc.setdefault(hit["doc_id"], []).append(hit)
    for doc_hits in by_doc.values():
        counts = {h["page_count"] for h in doc_hits}
        assert len(counts) == 1, f"two versions of {doc_hits[0]['file_name']} in one search: {counts}"
        if whole:
            assert sorted(h["page"] for h in doc_hits) == list(range(1, counts.pop() + 1)), "partial document"


def search(url: str, doc_id: str | None = None) -> list[dict[str, Any]] | None:
    body: dict[str, Any] = {"text": "quarterly report", "top_k": 100, "candidates": 100, "rerank": False}
    if doc_id:
        body["filters"] = {"doc_id": doc_id}
    try:
        response = httpx.post(headers=PROGRAM, url=f"{url}/v1/search", json=body, timeout=30)
    except httpx.TransportError:
        return None  # killed meanwhile
    if response.status_code == 409 and "empty_collection" in response.text:
        return None  # nothing indexed yet
    assert response.status_code == 200, response.text
    hits: list[dict[str, Any]] = response.json()["hits"]
    return hits


def wait_idle(url: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + budget(timeout)
    while True:
        jobs = httpx.get(f"{url}/v1/jobs", timeout=10).json()["jobs"]
        if not any(j["state"] in ("queued", "running") for j in jobs):
            return
        assert time.monotonic() < deadline, "jobs did not finish after the restart"
        time.sleep(0.2)


def check_agreement(url: str, data_dir: Path) -> None:
    """Store, manifest, page images and uploads agree (the server is up and idle)."""
    rows = committed(data_dir)
    uploads = data_dir / "uploads"
    stored = {str(p.resolve()) for p in uploads.rglob("*") if p.is_file() and ".incoming" not in p.parts}
    assert stored == set(rows), "uploads and manifest disagree"
    assert not list((uploads / ".incoming").iterdir()), "staged uploads left behind"
    assert not list(data_dir.glob("**/*.previous"))
    points = httpx.get(f"{url}/readyz", timeout=10).json()["checks"]["store"]["points"]
    assert points == sum(units for _, units in rows.values()), (
        "the store holds points of no committed version"
    )
    media = data_dir / "media"
    folders = {p.name: len(list(p.rglob("*.jpg"))) for p in media.glob("*/*")} if media.is_dir() else {}
    assert folders == {doc_of(path, data_dir): units for path, (_, units) in rows.items()}, (
        "page images disagree"
    )
    assert not list(media.rglob(".tmp-*"))
    listing = httpx.get(f"{url}/v1/documents", timeout=10).json()["documents"]
    assert {d["doc_id"]: d["source_sha256"] for d in listing} == {
        doc_of(p, data_dir): sha for p, (sha, _) in rows.items()
    }
    for path in rows:
        hits = search(url, doc_of(path, data_dir))
        assert hits is not None
        check_hits(hits, whole=True)
        assert len(hits) == rows[path][1]


def watch(
    url: str, docs: list[str | None], stop: threading.Event, failures: list[BaseException], seen: list[int]
) -> None:
    """Search over and over (everything, and each document alone) and check every answer."""
    while not stop.is_set():
        try:
            for doc in docs:
                hits = search(url, doc)
                if hits is not None:
                    check_hits(hits, whole=doc is not None)
                    seen[0] += 1
        except (httpx.TransportError, ValueError):
            return  # the server was killed under us
        except AssertionError as exc:
            failures.append(exc)
            return


def test_kill_9_during_uploads_and_replacements(tiny_models: Path, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    pdfs = versions(tmp_path / "versions")
    rng = random.Random(9)
    seen = [0]  # searches checked
    for round_no in range(ROUNDS):
        server = Server(data_dir, tiny_models, tmp_path)
        wait_idle(server.url)
        check_agreement(server.url, data_dir)
        stop = threading.Event()
        failures: list[BaseException] = []

        docs = [None, *(doc_id_for("default", n) for n in NAMES)]
        watcher = threading.Thread(target=watch, args=(server.url, docs, stop, failures, seen), daemon=True)
        watcher.start()
        for _ in range(rng.randint(1, 3)):
            name, pages = rng.choice(NAMES), rng.randint(1, 6)
            with pdfs[pages].open("rb") as handle:
                response = httpx.post(
                    headers=PROGRAM,
                    url=f"{server.url}/v1/documents",
                    files=[("files", (name, handle))],
                    timeout=30,
                )
            assert response.status_code == 202, response.text
        time.sleep(rng.uniform(0.0, 2.5))
        server.kill()
        stop.set()
        watcher.join(30)
        assert not failures, f"round {round_no}: {failures[0]}"
    server = Server(data_dir, tiny_models, tmp_path)
    wait_idle(server.url)
    check_agreement(server.url, data_dir)
    server.kill(signal.SIGTERM)
    assert seen[0] > 0
    assert committed(data_dir), "nothing was ever committed: the kills came too early to test anything"
