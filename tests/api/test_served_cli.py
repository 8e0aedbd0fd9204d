"""``mmsearch query``/``stats`` while ``mmsearch serve`` owns the store: refused with a pointer to
``--server``, and with ``--server URL`` answered by the server (real uvicorn on loopback; the CLI's entry
point run in process by ``tests.support.run_cli``)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator

import httpx
import pytest
from api_support import READ_KEY, WRITE_KEY, Indexed, LiveServer, live_server

from tests.support import run_cli

pytestmark = pytest.mark.slow

READ = {"Authorization": f"Bearer {READ_KEY}"}


@pytest.fixture(scope="module")
def server(indexed: Indexed) -> Iterator[LiveServer]:
    with live_server(indexed.app(read_keys=[READ_KEY], write_keys=[WRITE_KEY])) as live:
        yield live


def mmsearch(indexed: Indexed, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MMSEARCH_")}
    clean.update(
        MMSEARCH_DATA_DIR=str(indexed.settings.data_dir),
        MMSEARCH_EMBEDDING__MODEL=indexed.settings.embedding.model,
        MMSEARCH_RERANKER__MODEL=indexed.settings.reranker.model,
        HF_HUB_OFFLINE="1",
        COLUMNS="160",
        **env,
    )
    cwd = indexed.settings.data_dir.parent / "cli-cwd"  # no config.yaml there
    cwd.mkdir(exist_ok=True)
    return run_cli(list(args), clean, cwd)


@pytest.mark.parametrize("args", [["query", "revenue"], ["stats"]])
def test_local_query_and_stats_on_a_served_store_point_at_server(
    server: LiveServer, indexed: Indexed, args: list[str]
) -> None:
    done = mmsearch(indexed, *args)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("Error: ") and "in use by another process" in done.stderr
    assert "--server URL" in done.stderr and "query" in done.stderr and "stats" in done.stderr


def test_query_with_server(server: LiveServer, indexed: Indexed) -> None:
    args = ["query", "quarterly revenue", "--server", server.url, "--top-k", "3", "--candidates", "4"]
    as_json = mmsearch(indexed, *args, "--json", "--no-rerank", MMSEARCH_API_KEY=READ_KEY)
    assert as_json.returncode == 0, as_json.stderr
    reply = json.loads(as_json.stdout)
    direct = httpx.post(
        f"{server.url}/v1/search", headers=READ, timeout=60,
        json={"text": "quarterly revenue", "top_k": 3, "candidates": 4, "rerank": False},
    ).json()  # fmt: skip
    assert reply["reranked"] is False and len(reply["hits"]) == 3
    assert [h["point_id"] for h in reply["hits"]] == [h["point_id"] for h in direct["hits"]]

    only_pages = mmsearch(indexed, *args, "--json", "--filter", "modality=page", "--no-rerank",
                          MMSEARCH_API_KEY=READ_KEY)  # fmt: skip
    assert {h["modality"] for h in json.loads(only_pages.stdout)["hits"]} == {"page"}

    by_image = mmsearch(indexed, "query", "--image", str(indexed.files["photo"]), "--server", server.url,
                        "--top-k", "1", "--json", MMSEARCH_API_KEY=READ_KEY)  # fmt: skip
    assert by_image.returncode == 0, by_image.stderr
    assert json.loads(by_image.stdout)["reranked"] is True

    table = mmsearch(indexed, *args, MMSEARCH_API_KEY=READ_KEY)
    assert table.returncode == 0, table.stderr
    # the table reranks the same 4 candidates: at least 2 of the 3 unreranked hits are among its 3
    assert sum(h["name"] in table.stdout for h in reply["hits"]) >= 2 and "reranked by" in table.stdout


def test_query_by_video_with_server(server: LiveServer, indexed: Indexed) -> None:
    """The clip goes as a multipart file part (the API reads clips only from file parts)."""
    clip = indexed.files["video"]
    done = mmsearch(indexed, "query", "--video", str(clip), "--server", server.url, "--top-k", "2",
                    "--no-rerank", "--filter", "modality=video", "--json", MMSEARCH_API_KEY=READ_KEY)  # fmt: skip
    assert done.returncode == 0, done.stderr
    reply = json.loads(done.stdout)
    direct = httpx.post(
        f"{server.url}/v1/search", headers=READ, timeout=60,
        data={"top_k": "2", "rerank": "false", "modality": "video"},
        files={"video": (clip.name, clip.read_bytes(), "application/octet-stream")},
    ).json()  # fmt: skip
    assert {h["modality"] for h in reply["hits"]} == {"video"} and reply["reranked"] is False
    assert [h["point_id"] for h in reply["hits"]] == [h["point_id"] for h in direct["hits"]]
    assert [h["vector_score"] for h in reply["hits"]] == [h["vector_score"] for h in direct["hits"]]


def test_stats_with_server(server: LiveServer, indexed: Indexed) -> None:
    done = mmsearch(indexed, "stats", "--json", "--documents", "--server", server.url, "--api-key", READ_KEY)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    listing = httpx.get(f"{server.url}/v1/documents", headers=READ).json()["documents"]
    assert out["documents"] == len(listing) == len(out["documents_list"])
    assert out["points"] == sum(d["units"] for d in listing) == indexed.services.store.count()
    assert out["by_modality"]["page"] == 5 and out["dim"] == indexed.services.embedder.dim
    assert {d["doc_id"] for d in out["documents_list"]} == {d["doc_id"] for d in listing}
    table = mmsearch(indexed, "stats", "--documents", "--server", server.url, MMSEARCH_API_KEY=READ_KEY)
    assert table.returncode == 0 and all(d["doc_id"] in table.stdout for d in listing)


def test_server_errors_are_clear(server: LiveServer, indexed: Indexed) -> None:
    no_key = mmsearch(indexed, "stats", "--server", server.url, "--json")
    assert no_key.returncode == 1 and "read key" in no_key.stderr
    assert json.loads(no_key.stdout)["error"]["code"] == "remote_error"
    down = mmsearch(indexed, "query", "x", "--server", "http://127.0.0.1:9", MMSEARCH_API_KEY=READ_KEY)
    assert down.returncode == 1 and "cannot reach the mmsearch server" in down.stderr
