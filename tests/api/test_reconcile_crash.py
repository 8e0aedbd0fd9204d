"""``kill -9`` of a real ``mmsearch serve`` while its start-up reconciliation (``index/reconcile.py``) is
removing what an earlier crash left, then a restart: the second reconciliation finishes the work, and
store, manifest and page images agree; the server answers.

The leftovers: a document whose manifest row is gone (a first ingest cut short before its commit: its
points and images are uncommitted) and 20,000 page-image folders of no document, so the image pass
lasts long enough to be caught from outside (the kill lands once some of them are gone, not all).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from test_crash import PROGRAM, SMALL, Server, committed, free_port

from mmsearch.ingest.units import doc_id_for
from mmsearch.samples import make_image, make_pdf
from tests.support import budget, run_cli, tiny_env

pytestmark = pytest.mark.slow

STRAYS = 20_000  # page-image folders of no document, all under media/00/


def leave_leftovers(data_dir: Path, forgotten: str) -> list[Path]:
    """Forget ``forgotten``'s manifest row and write ``STRAYS`` image folders of no document."""
    db = sqlite3.connect(data_dir / "manifest.sqlite")
    try:
        with db:
            assert db.execute("DELETE FROM documents WHERE doc_id = ?", (forgotten,)).rowcount == 1
    finally:
        db.close()
    jpeg = next((data_dir / "media").rglob("*.jpg")).read_bytes()
    strays = []
    for i in range(STRAYS):
        folder = data_dir / "media" / "00" / str(uuid.UUID(int=i + 1))  # 00000000-…: all in media/00
        folder.mkdir(parents=True)
        (folder / "p0001.jpg").write_bytes(jpeg)
        strays.append(folder)
    return strays


def kill_while_reconciling(data_dir: Path, models: Path, cwd: Path) -> None:
    """Start ``mmsearch serve``; ``kill -9`` it once the image pass has removed some strays, not all."""
    env = tiny_env(data_dir, models, **SMALL)
    port = free_port()
    with (cwd / "killed.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mmsearch", "serve", "--port", str(port)],
            env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    strays = data_dir / "media" / "00"
    deadline = time.monotonic() + budget(180)
    try:
        while (left := len(os.listdir(strays))) >= STRAYS:
            assert proc.poll() is None, f"mmsearch serve exited {proc.returncode}: see {cwd / 'killed.log'}"
            assert time.monotonic() < deadline, "reconciliation did not start"
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(60)
    assert 0 < left < STRAYS, "reconciliation finished before it could be killed; add strays"
    print(f"killed with {left} of {STRAYS} stray image folders left")
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)  # it never got to serve


def test_kill_9_during_start_up_reconciliation_then_restart(tiny_models: Path, tmp_path: Path) -> None:
    data_dir, cwd = tmp_path / "data", tmp_path / "cwd"
    cwd.mkdir()
    corpus = tmp_path / "corpus"
    make_pdf(corpus / "kept.pdf", 2, topic="finance", with_charts=False, with_tables=False)
    make_pdf(corpus / "cut-short.pdf", 3, topic="birds", with_charts=False, with_tables=False)
    make_image(corpus / "photo.jpg", "jpeg", (160, 120))
    done = run_cli(["ingest", str(corpus)], tiny_env(data_dir, tiny_models, **SMALL), cwd)
    assert done.returncode == 0, done.stderr
    forgotten = doc_id_for("default", "cut-short.pdf")
    leave_leftovers(data_dir, forgotten)
    rows = committed(data_dir)
    assert len(rows) == 2

    kill_while_reconciling(data_dir, tiny_models, cwd)

    server = Server(data_dir, tiny_models, cwd)  # reconciles again, to the end
    try:
        assert committed(data_dir) == rows  # the committed documents are untouched
        points = httpx.get(f"{server.url}/readyz", timeout=10).json()["checks"]["store"]["points"]
        assert points == sum(units for _, units in rows.values()) == 3
        media = data_dir / "media"
        folders = {p.name: len(list(p.glob("*.jpg"))) for p in media.glob("*/*")}
        kept = {doc_id_for("default", Path(path).name): units for path, (_, units) in rows.items()}
        assert folders == kept, "page images disagree with the manifest"
        assert not (media / "00").exists() and not list(media.rglob(".tmp-*"))
        listing = httpx.get(f"{server.url}/v1/documents", timeout=10).json()["documents"]
        assert sorted(d["name"] for d in listing) == ["kept.pdf", "photo.jpg"]
        body = {"text": "finance", "top_k": 10, "candidates": 10, "rerank": False}
        found = httpx.post(f"{server.url}/v1/search", json=body, headers=PROGRAM, timeout=budget(30))
        assert found.status_code == 200, found.text
        assert forgotten not in {h["doc_id"] for h in found.json()["hits"]}
        assert len(found.json()["hits"]) == 3
    finally:
        server.kill(signal.SIGTERM)
