"""GET /v1/images/{point_id}: the stored page/frame image, thumbnails, frames, caching, signed URLs,
and no way to read any other file."""

from __future__ import annotations

import io
import time
import uuid
from typing import Any

import httpx
import numpy as np
import pytest
from api_support import READ_KEY, WRITE_KEY, Indexed, client_for
from PIL import Image

from mmsearch.index.store import Payload, Point

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


async def first_hit(client: httpx.AsyncClient, modality: str, **extra: Any) -> dict[str, Any]:
    response = await client.post(
        "/v1/search",
        json={"text": "x", "rerank": False, "top_k": 1, "filters": {"modality": modality}},
        **extra,
    )
    assert response.status_code == 200, response.text
    hit: dict[str, Any] = response.json()["hits"][0]
    return hit


def assert_not_found(response: httpx.Response) -> None:
    assert response.status_code == 404, (response.request.url, response.text)
    assert response.json()["error"]["code"] == "not_found"


async def test_page_image_thumbnail_and_cache(indexed: Indexed) -> None:
    async with client_for(indexed.app()) as client:
        hit = await first_hit(client, "page")
        full = await client.get(hit["image_url"])
        thumb = await client.get(hit["image_url"], params={"w": 64})
        cached = await client.get(hit["image_url"], headers={"If-None-Match": full.headers["etag"]})
    assert full.status_code == 200 and full.headers["content-type"] == "image/jpeg"
    assert "immutable" in full.headers["cache-control"]
    page = Image.open(io.BytesIO(full.content))
    assert page.format == "JPEG" and page.height > page.width  # an A4 page, portrait
    small = Image.open(io.BytesIO(thumb.content))
    assert small.width == 64 and abs(small.height - round(page.height * 64 / page.width)) <= 1
    assert cached.status_code == 304 and cached.content == b""


async def test_video_frames(indexed: Indexed) -> None:
    async with client_for(indexed.app()) as client:
        hit = await first_hit(client, "video")
        frames = [await client.get(hit["image_url"], params={"frame": i}) for i in range(hit["frames"])]
        preview = await client.get(hit["image_url"])
        past_end = await client.get(hit["image_url"], params={"frame": hit["frames"]})
        negative = await client.get(hit["image_url"], params={"frame": -1})
    assert hit["frames"] >= 2
    assert all(f.status_code == 200 for f in frames)
    assert preview.content == frames[hit["preview_frame"]].content
    assert len({f.content for f in frames}) == len(frames)  # the block moves: frames differ
    assert_not_found(past_end)
    assert "frame=0.." in past_end.json()["error"]["message"]
    assert negative.status_code == 422 and negative.json()["error"]["code"] == "invalid_request"


@pytest.mark.parametrize(
    "path",
    [
        "/v1/images/not-a-uuid",
        "/v1/images/..%2F..%2F..%2Fetc%2Fpasswd",
        "/v1/images/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/v1/images/..%5C..%5Cwindows",
        f"/v1/images/{uuid.UUID(int=0x5EED)}",  # a well-formed id no point has (fixed: xdist collects twice)
        "/v1/images/" + "a" * 5000,
    ],
)
async def test_anything_but_a_known_point_id_is_404(indexed: Indexed, path: str) -> None:
    async with client_for(indexed.app()) as client:
        assert_not_found(await client.get(path))


async def test_a_tampered_payload_cannot_read_outside_media(indexed: Indexed) -> None:
    """Even a point whose stored media path points at /etc/passwd (a corrupted or hostile store) is
    answered with 404: stored paths are resolved and must stay under data_dir/media."""
    store, embedder = indexed.services.store, indexed.services.embedder
    doc_id = str(uuid.uuid4())
    point_id = str(uuid.uuid4())
    vector = np.ones(embedder.dim, dtype=np.float32) / np.sqrt(embedder.dim)
    payload = Payload(
        doc_id=doc_id, source_path="/etc/passwd", modality="image", text="", content_hash="0" * 64,
        media_paths=["../../../../../../etc/passwd"], source_sha256="0" * 64, ingest_time=time.time(),
        model_id=embedder.model_id, dim=embedder.dim,
    )  # fmt: skip
    store.upsert([Point(point_id, vector, payload)])
    try:
        async with client_for(indexed.app()) as client:
            response = await client.get(f"/v1/images/{point_id}")
    finally:
        store.delete_document(doc_id)
    assert_not_found(response)
    assert "root:" not in response.text


async def test_images_need_a_key_or_a_signed_url(indexed: Indexed) -> None:
    app = indexed.app(read_keys=[READ_KEY], write_keys=[WRITE_KEY])
    async with client_for(app) as client:
        hit = await first_hit(client, "page", headers={"Authorization": f"Bearer {READ_KEY}"})
        signed = await client.get(hit["image_url"])  # no header: the signature is the permission
        thumb = await client.get(hit["thumbnail_url"])
        bare = await client.get(hit["image_url"].split("?")[0])
        other = hit["image_url"].replace(hit["point_id"], str(uuid.uuid4()))
        swapped = await client.get(other)
        with_key = await client.get(
            hit["image_url"].split("?")[0], headers={"Authorization": f"Bearer {READ_KEY}"}
        )
    assert "sig=" in hit["image_url"] and "exp=" in hit["image_url"]
    assert signed.status_code == 200 and thumb.status_code == 200
    assert bare.status_code == 401 and bare.json()["error"]["code"] == "unauthorized"
    assert swapped.status_code == 401
    assert with_key.status_code == 200
