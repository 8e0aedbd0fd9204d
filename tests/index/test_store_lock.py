"""Who may open a store: one process per embedded folder (a second gets StoreLocked, from another process
too), several threads through one store, and a clear error naming the URL when a server is down."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from mmsearch.errors import StoreError, StoreLocked
from mmsearch.index.settings import IndexSettings, StoreSettings
from mmsearch.index.store import Payload, Point
from mmsearch.index.store_registry import open_store

OPEN_IN_CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from mmsearch.errors import StoreLocked
    from mmsearch.index.settings import IndexSettings, StoreSettings
    from mmsearch.index.store_registry import open_store

    try:
        with open_store(StoreSettings(), IndexSettings(), Path(sys.argv[1])) as store:
            print("opened", store.count())
    except StoreLocked as exc:
        print("locked:", exc)
        sys.exit(3)
    """
)


def open_in_child(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", OPEN_IN_CHILD, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def make_point(rng: np.random.Generator, i: int) -> Point:
    vector = rng.normal(size=32)
    payload = Payload(
        doc_id=f"doc-{i % 4}", source_path=f"/d/{i % 4}.pdf", modality="page", text="", media_paths=[],
        content_hash=str(i), source_sha256="s", ingest_time=float(i), model_id="m", dim=32, page=i,
    )  # fmt: skip
    return Point(str(uuid.uuid5(uuid.NAMESPACE_OID, str(i))), vector / np.linalg.norm(vector), payload)


@pytest.mark.slow
def test_a_second_process_gets_store_locked_until_the_first_closes(tmp_path: Path) -> None:
    path = tmp_path / "qdrant"
    store = open_store(StoreSettings(), IndexSettings(), path)
    try:
        child = open_in_child(path)
    finally:
        store.close()
    assert child.returncode == 3, child.stderr
    assert f"store at {path} is in use by another process" in child.stdout
    assert "mmsearch serve" in child.stdout and "store.url" in child.stdout
    again = open_in_child(path)
    assert (again.returncode, again.stdout.strip()) == (0, "opened 0"), again.stderr


def test_a_second_open_in_the_same_process_is_locked_too(tmp_path: Path) -> None:
    locked = pytest.raises(StoreLocked, match="Stop that process and retry; .*--server URL.*Qdrant server")
    with open_store(StoreSettings(), IndexSettings(), tmp_path / "qdrant"), locked:
        open_store(StoreSettings(), IndexSettings(), tmp_path / "qdrant")
    open_store(StoreSettings(), IndexSettings(), tmp_path / "qdrant").close()  # released on close


def test_one_embedded_store_serves_several_threads(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    points = [make_point(rng, i) for i in range(200)]
    with open_store(StoreSettings(), IndexSettings(upsert_batch=8), tmp_path / "qdrant") as store:
        store.ensure_collection("m", 32)

        def work(k: int) -> int:
            store.upsert(points[k * 20 : (k + 1) * 20])
            return len(store.search(points[k * 20].vector, limit=5))

        with ThreadPoolExecutor(max_workers=4) as pool:
            found = list(pool.map(work, range(10)))
        assert store.count() == 200
    assert all(n == 5 for n in found)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_server_that_is_down_is_named_by_its_url(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(StoreError, match=f"cannot reach the Qdrant server at {url}.*Is it running"):
        open_store(StoreSettings(url=url, timeout_s=5), IndexSettings(), tmp_path / "unused")
    assert not (tmp_path / "unused").exists()  # server mode never touches the embedded folder
