"""/v1/documents: upload (a job) + ingest, list, serve the original (with Range), delete; size limits,
the uploads quota, and keys."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from api_support import READ_KEY, WRITE_KEY, client_for, tiny_settings

from mmsearch.api.app import create_app
from mmsearch.api.services.parts import Services, open_services
from mmsearch.config import Settings
from mmsearch.samples import make_image, make_pdf, make_video

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

AUTH = {"read_keys": [READ_KEY], "write_keys": [WRITE_KEY]}
WRITE = {"Authorization": f"Bearer {WRITE_KEY}"}
READ = {"Authorization": f"Bearer {READ_KEY}"}


@pytest.fixture(scope="module")
def writable(
    tiny_models: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Settings, Services]]:
    """An index of its own (starts empty), so uploads and deletes touch no other test's data."""
    root = tmp_path_factory.mktemp("api-docs")
    settings = tiny_settings(root / "data", tiny_models, small_media=True, server=AUTH)
    services = open_services(settings)
    try:
        yield settings, services
    finally:
        services.close()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("uploads-src")
    paths = {
        "pdf": folder / "minutes.pdf",
        "png": folder / "chart.png",
        "mp4": folder / "clip.mp4",
        "bad": folder / "broken.pdf",
    }
    make_pdf(paths["pdf"], 2, topic="birds", with_charts=False)
    make_image(paths["png"], "png", (200, 150), text="chart")
    make_video(paths["mp4"], 2, fps=5)
    paths["bad"].write_bytes(b"%PDF-1.7\n" + b"\x00" * 300)
    return paths


async def ingested(client: httpx.AsyncClient, files: Any, timeout: float = 120.0) -> dict[str, Any]:
    """Upload, expect 202 and a job, follow it until it ends; the finished job."""
    response = await client.post("/v1/documents", files=files)
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["location"] == job["url"] and job["state"] in ("queued", "running", "done")
    with anyio.fail_after(timeout):
        while job["state"] in ("queued", "running"):
            await anyio.sleep(0.05)
            job = (await client.get(job["url"])).json()
    return job


def parts(*paths: Path, names: list[str] | None = None) -> list[tuple[str, tuple[str, bytes]]]:
    names = names or [p.name for p in paths]
    return [("files", (name, path.read_bytes())) for name, path in zip(names, paths, strict=True)]


async def test_upload_list_search_file_delete(
    writable: tuple[Settings, Services], files: dict[str, Path]
) -> None:
    settings, services = writable
    async with client_for(create_app(settings, services), WRITE_KEY) as client:
        report = await ingested(client, parts(files["pdf"], files["png"], files["bad"]))
        assert report["state"] == "done" and report["progress"]["files_done"] == 3
        assert (report["indexed"], report["unchanged"], report["failed"]) == (2, 0, 1)
        by_name = {f["name"]: f for f in report["files"]}
        assert by_name["minutes.pdf"]["units"] == 2 and by_name["minutes.pdf"]["kind"] == "pdf"
        bad = by_name["broken.pdf"]
        assert bad["status"] == "failed" and bad["code"] == "corrupt_file" and bad["doc_id"] is None
        assert (
            bad["message"].startswith("not a readable PDF") and str(settings.data_dir) not in bad["message"]
        )
        assert not (
            settings.data_dir / "uploads" / "default" / "broken.pdf"
        ).exists()  # a failed upload is not kept

        again = await ingested(client, parts(files["pdf"]))
        assert again["files"][0]["status"] == "unchanged"
        listed = (await client.get("/v1/jobs")).json()["jobs"]
        assert [j["job_id"] for j in listed[:2]] == [again["job_id"], report["job_id"]]

        listing = (await client.get("/v1/documents")).json()
        names = {d["file_name"]: d for d in listing["documents"]}
        assert listing["total"] == 2 and set(names) == {"minutes.pdf", "chart.png"}
        doc = names["minutes.pdf"]
        assert (
            doc["doc_id"] == by_name["minutes.pdf"]["doc_id"]
            and doc["units"] == 2
            and doc["modality"] == "page"
        )
        paged = (await client.get("/v1/documents", params={"limit": 1, "offset": 1})).json()
        assert paged["total"] == 2 and len(paged["documents"]) == 1

        hits = (await client.post("/v1/search", json={"text": "birds", "rerank": False})).json()["hits"]
        assert {h["doc_id"] for h in hits} == {d["doc_id"] for d in listing["documents"]}

        original = await client.get(doc["file_url"])
        assert original.status_code == 200 and original.content == files["pdf"].read_bytes()
        assert original.headers["content-type"] == "application/pdf"
        assert original.headers["content-disposition"].startswith("inline")

        deleted = await client.delete(f"/v1/documents/{doc['doc_id']}")
        assert deleted.status_code == 200 and deleted.json()["deleted_points"] == 2
        assert (await client.delete(f"/v1/documents/{doc['doc_id']}")).status_code == 404
        assert (await client.get(doc["file_url"])).status_code == 404
        for hit in hits:
            if hit["doc_id"] == doc["doc_id"]:
                assert (await client.get(hit["image_url"])).status_code == 404
        assert not (settings.data_dir / "uploads" / "default" / "minutes.pdf").exists()
        left = (await client.get("/v1/documents")).json()
        assert [d["file_name"] for d in left["documents"]] == ["chart.png"]


async def test_video_file_supports_range_requests(
    writable: tuple[Settings, Services], files: dict[str, Path]
) -> None:
    settings, services = writable
    data = files["mp4"].read_bytes()
    async with client_for(create_app(settings, services), WRITE_KEY) as client:
        report = await ingested(client, parts(files["mp4"], names=["talks/2024/clip.mp4"]))
        entry = report["files"][0]
        assert entry["status"] == "indexed" and entry["name"] == "talks/2024/clip.mp4"
        assert (settings.data_dir / "uploads" / "default" / "talks" / "2024" / "clip.mp4").is_file()
        url = f"/v1/documents/{entry['doc_id']}/file"
        part = await client.get(url, headers={"Range": "bytes=10-99"})
        whole = await client.get(url)
    assert part.status_code == 206 and part.content == data[10:100]
    assert part.headers["content-range"] == f"bytes 10-99/{len(data)}"
    assert whole.headers["accept-ranges"] == "bytes" and whole.headers["content-type"] == "video/mp4"


async def test_a_failed_new_version_keeps_the_old_file(
    writable: tuple[Settings, Services], files: dict[str, Path]
) -> None:
    settings, services = writable
    async with client_for(create_app(settings, services), WRITE_KEY) as client:
        first = await ingested(client, parts(files["png"], names=["keep.png"]))
        broken = await ingested(client, parts(files["bad"], names=["keep.png"]))
    assert first["files"][0]["status"] in ("indexed", "unchanged")
    assert broken["files"][0]["status"] == "failed"
    assert (settings.data_dir / "uploads" / "default" / "keep.png").read_bytes() == files["png"].read_bytes()


async def test_a_name_that_leaves_the_uploads_folder_is_refused(
    writable: tuple[Settings, Services], files: dict[str, Path]
) -> None:
    settings, services = writable
    async with client_for(create_app(settings, services), WRITE_KEY) as client:
        for name in ("../../../escape.png", "/etc/escape.png", "a\\..\\escape.png"):
            response = await client.post("/v1/documents", files=parts(files["png"], names=[name]))
            assert response.status_code == 400, response.text
            assert response.json()["error"]["code"] == "invalid_name"
    assert not list(settings.data_dir.parent.rglob("escape.png"))
    assert not list((settings.data_dir / "uploads" / ".incoming").iterdir())


async def test_keys_read_cannot_write_and_none_cannot_read(
    writable: tuple[Settings, Services], files: dict[str, Path]
) -> None:
    settings, services = writable
    async with client_for(create_app(settings, services)) as client:
        nobody = await client.post("/v1/documents", files=parts(files["png"]))
        reader = await client.post("/v1/documents", files=parts(files["png"]), headers=READ)
        reader_delete = await client.delete(
            "/v1/documents/00000000-0000-0000-0000-000000000000", headers=READ
        )
        listing_anon = await client.get("/v1/documents")
        listing_read = await client.get("/v1/documents", headers=READ)
        search_anon = await client.post("/v1/search", json={"text": "x"})
        wrong = await client.get("/v1/documents", headers={"Authorization": "Bearer " + "x" * 30})
    for response in (nobody, listing_anon, search_anon, wrong):
        assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"
        assert response.headers["www-authenticate"].startswith("Bearer")
    for response in (reader, reader_delete):
        assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
    assert listing_read.status_code == 200


async def test_oversize_upload_is_413(writable: tuple[Settings, Services], files: dict[str, Path]) -> None:
    settings, services = writable
    small = settings.model_copy(
        update={"server": settings.server.model_copy(update={"max_upload_mb": 0.005})}
    )
    body = [("files", ("big.pdf", b"%PDF-1.7\n" + b"0" * 20_000))]

    async def chunks() -> AsyncIterator[bytes]:
        yield b'--b\r\nContent-Disposition: form-data; name="files"; filename="big.pdf"\r\n\r\n%PDF-1.7\n'
        for _ in range(10):
            yield b"0" * 1000

    async with client_for(create_app(small, services), WRITE_KEY) as client:
        declared = await client.post("/v1/documents", files=body)
        streamed = await client.post(
            "/v1/documents", content=chunks(), headers={"Content-Type": "multipart/form-data; boundary=b"}
        )  # no Content-Length: the limit is enforced while the body streams in
    for response in (declared, streamed):
        assert response.status_code == 413, response.text
        assert response.json()["error"]["code"] == "payload_too_large"
        assert "server.max_upload_mb" in response.json()["error"]["message"]
    assert not (settings.data_dir / "uploads" / "default" / "big.pdf").exists()
    assert not list((settings.data_dir / "uploads" / ".incoming").iterdir())


async def test_over_the_uploads_quota_is_507_and_leaves_nothing(
    writable: tuple[Settings, Services], files: dict[str, Path]
) -> None:
    settings, services = writable
    tight = settings.model_copy(
        update={"server": settings.server.model_copy(update={"uploads_quota_mb": 0.01})}
    )
    big = [("files", ("big.png", b"\x89PNG" + b"0" * 30_000))]

    async def chunks() -> AsyncIterator[bytes]:
        yield b'--b\r\nContent-Disposition: form-data; name="files"; filename="big.png"\r\n\r\n'
        for _ in range(40):
            yield b"0" * 1000

    async with client_for(create_app(tight, services), WRITE_KEY) as client:
        declared = await client.post("/v1/documents", files=big)
        streamed = await client.post(
            "/v1/documents", content=chunks(), headers={"Content-Type": "multipart/form-data; boundary=b"}
        )
    for response in (declared, streamed):
        assert response.status_code == 507, response.text
        assert response.json()["error"]["code"] == "insufficient_storage"
        assert "server.uploads_quota_mb" in response.json()["error"]["message"]
    assert not list((settings.data_dir / "uploads" / ".incoming").iterdir())


async def test_an_upload_that_would_fill_the_disk_is_507(
    writable: tuple[Settings, Services], files: dict[str, Path]
) -> None:
    settings, services = writable
    free_mb = shutil.disk_usage(settings.data_dir).free / 2**20
    if free_mb + 1 > 1_048_576:
        pytest.skip("more free disk than server.min_free_disk_mb may ask to keep")
    full = settings.model_copy(
        update={"server": settings.server.model_copy(update={"min_free_disk_mb": free_mb + 1})}
    )
    async with client_for(create_app(full, services), WRITE_KEY) as client:
        response = await client.post(
            "/v1/documents", files=[("files", ("small.png", b"\x89PNG" + b"0" * 100))]
        )
    assert response.status_code == 507, response.text
    assert "server.min_free_disk_mb" in response.json()["error"]["message"]
    assert not list((settings.data_dir / "uploads" / ".incoming").iterdir())


@pytest.mark.parametrize(
    ("kwargs", "status", "needle"),
    [
        ({"json": {"files": []}}, 415, "multipart/form-data"),
        ({"data": {"note": "hello"}, "files": [("x", ("a.txt", b""))]}, 422, "form.note"),
        ({"files": [("files", ("a.png", b"1")), ("files", ("a.png", b"2"))]}, 409, "sent twice"),
        ({"content": b"--b\r\nbroken", "headers": {"Content-Type": "multipart/form-data"}}, 400, "multipart"),
    ],
)
async def test_bad_uploads(
    writable: tuple[Settings, Services], kwargs: dict[str, object], status: int, needle: str
) -> None:
    settings, services = writable
    async with client_for(create_app(settings, services), WRITE_KEY) as client:
        response = await client.post("/v1/documents", **kwargs)
    assert response.status_code == status, response.text
    assert needle in response.json()["error"]["message"]


async def test_empty_multipart_is_422(writable: tuple[Settings, Services]) -> None:
    settings, services = writable
    async with client_for(create_app(settings, services), WRITE_KEY) as client:
        response = await client.post(
            "/v1/documents", content=b"--b--\r\n", headers={"Content-Type": "multipart/form-data; boundary=b"}
        )
    assert response.status_code == 422 and "no files" in response.json()["error"]["message"]


async def test_delete_unknown_document_is_404(writable: tuple[Settings, Services]) -> None:
    settings, services = writable
    async with client_for(create_app(settings, services), WRITE_KEY) as client:
        for doc_id in ("00000000-0000-0000-0000-000000000000", "not-a-uuid", "..%2F..%2Fetc"):
            response = await client.delete(f"/v1/documents/{doc_id}")
            assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


async def test_a_name_that_clashes_with_a_folder_fails_alone(
    writable: tuple[Settings, Services], files: dict[str, Path]
) -> None:
    settings, services = writable
    async with client_for(create_app(settings, services), WRITE_KEY) as client:
        first = await ingested(client, parts(files["png"], names=["clash.png/x.png"]))
        both = parts(files["png"], files["png"], names=["clash.png", "clash.png/x.png/y.png"])
        second = await ingested(client, both)
    assert first["files"][0]["status"] in ("indexed", "unchanged")
    assert [f["code"] for f in second["files"]] == ["upload_error", "upload_error"]
    assert "another name" in second["files"][0]["message"]
    assert (settings.data_dir / "uploads" / "default" / "clash.png" / "x.png").read_bytes() == files[
        "png"
    ].read_bytes()
    assert not list((settings.data_dir / "uploads" / ".incoming").iterdir())
