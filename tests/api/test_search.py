"""POST /v1/search through httpx.ASGITransport: text, image (multipart and base64), filters, options,
and every bad request answered with a 4xx that names the problem."""

from __future__ import annotations

import base64
import io
import json
import re
from typing import Any

import httpx
import pytest
from api_support import Indexed, client_for
from PIL import Image

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def png(color: tuple[int, int, int] = (200, 40, 40), size: tuple[int, int] = (96, 64)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


def assert_error(response: httpx.Response, status: int, code: str, *needles: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    for needle in needles:
        assert needle in body["error"]["message"]
    return body


async def test_text_search_returns_ranked_hits_with_urls(indexed: Indexed) -> None:
    async with client_for(indexed.app()) as client:
        response = await client.post("/v1/search", json={"text": "quarterly revenue", "top_k": 4})
    assert response.status_code == 200, response.text
    body = response.json()
    hits = body["hits"]
    assert [h["rank"] for h in hits] == [1, 2, 3, 4]
    assert body["reranked"] is True and body["reranker"]
    assert body["candidates"] >= 4
    assert {"embed", "search", "rerank", "total"} <= set(body["timings_ms"])
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True)
    for hit in hits:
        assert hit["rerank_score"] == hit["score"]
        version = re.fullmatch(r".*\?v=([0-9a-f]{16})", hit["file_url"])  # the document's version
        assert version is not None, hit["file_url"]
        v = version.group(1)
        assert hit["image_url"] == f"http://localhost/v1/images/{hit['point_id']}?v={v}"
        assert hit["thumbnail_url"] == f"http://localhost/v1/images/{hit['point_id']}?w=480&v={v}"
        assert hit["file_url"] == f"http://localhost/v1/documents/{hit['doc_id']}/file?v={v}"
        assert "media_paths" not in hit and hit["image_base64"] is None
        if hit["modality"] == "page":
            assert hit["link"] == f"{hit['file_url']}#page={hit['page']}"
        if hit["modality"] == "video":
            assert hit["link"] == f"{hit['file_url']}#t={hit['t_start']:g}"
            assert hit["frames"] >= 1 and 0 <= hit["preview_frame"] < hit["frames"]


async def test_no_rerank_keeps_vector_order(indexed: Indexed) -> None:
    async with client_for(indexed.app()) as client:
        response = await client.post("/v1/search", json={"text": "birds", "top_k": 5, "rerank": False})
    body = response.json()
    assert body["reranked"] is False and body["reranker"] is None
    assert all(h["rerank_score"] is None for h in body["hits"])
    vector = [h["vector_score"] for h in body["hits"]]
    assert vector == sorted(vector, reverse=True)


async def test_filters_restrict_hits(indexed: Indexed) -> None:
    birds = str(indexed.files["birds"])
    async with client_for(indexed.app()) as client:
        video = await client.post("/v1/search", json={"text": "block", "filters": {"modality": "video"}})
        by_path = await client.post("/v1/search", json={"text": "x", "filters": {"path_prefix": birds}})
        future = await client.post(
            "/v1/search", json={"text": "x", "filters": {"ingested_after": "2999-01-01"}}
        )
    assert video.json()["hits"] and {h["modality"] for h in video.json()["hits"]} == {"video"}
    assert all("source_path" not in h and h["collection"] == "default" for h in by_path.json()["hits"])
    assert {h["file_name"] for h in by_path.json()["hits"]} == {"field-guide-birds.pdf"}
    assert future.status_code == 200 and future.json()["hits"] == []


async def test_search_by_uploaded_image_and_by_base64(indexed: Indexed) -> None:
    photo = indexed.files["photo"].read_bytes()
    async with client_for(indexed.app()) as client:
        multipart = await client.post(
            "/v1/search",
            files={"image": ("q.jpg", photo, "image/jpeg")},
            data={"top_k": "3", "rerank": "false", "filters": json.dumps({"modality": "image"})},
        )
        encoded = base64.b64encode(photo).decode()
        as_json = await client.post(
            "/v1/search", json={"image": f"data:image/jpeg;base64,{encoded}", "top_k": 3, "rerank": False}
        )
    assert multipart.status_code == 200, multipart.text
    hits = multipart.json()["hits"]
    assert hits and hits[0]["modality"] == "image"
    assert hits[0]["file_name"] == "photo-landscape.jpg"  # the same picture is its own nearest neighbour
    assert as_json.json()["hits"][0]["file_name"] == "photo-landscape.jpg"


async def test_text_and_image_together_with_flat_form_filters(indexed: Indexed) -> None:
    async with client_for(indexed.app()) as client:
        response = await client.post(
            "/v1/search",
            files={"image": ("q.png", png(), "image/png")},
            data={"text": "a red block", "modality": "page", "top_k": "2"},
        )
    assert response.status_code == 200, response.text
    assert {h["modality"] for h in response.json()["hits"]} == {"page"}


async def test_inline_images_for_rag(indexed: Indexed) -> None:
    async with client_for(indexed.app()) as client:
        response = await client.post(
            "/v1/search", json={"text": "revenue", "top_k": 2, "inline_images": True}
        )
    for hit in response.json()["hits"]:
        image = Image.open(io.BytesIO(base64.b64decode(hit["image_base64"])))
        assert image.format == "JPEG" and image.width > 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": "x", "top_k": 0}, "body.top_k"),
        ({"text": "x", "top_k": 5000}, "body.top_k"),
        ({"text": "x", "candidates": "many"}, "body.candidates"),
        ({"text": "x", "topk": 3}, "body.topk"),
        ({"text": "x", "filters": {"modality": "audio"}}, "body.filters.modality"),
        ({"text": "x", "filters": {"colour": "red"}}, "body.filters.colour"),
        ({"text": "x", "filters": {"ingested_after": "yesterday"}}, "body.filters.ingested_after"),
        ({"image": "***not base64***"}, "body.image"),
    ],
)
async def test_bad_json_fields_are_422_naming_the_field(
    indexed: Indexed, body: dict[str, Any], field: str
) -> None:
    async with client_for(indexed.app()) as client:
        response = await client.post("/v1/search", json=body)
    error = assert_error(response, 422, "invalid_request", field)
    assert any(d["field"] == field for d in error["error"]["details"])


async def test_malformed_json_is_422(indexed: Indexed) -> None:
    async with client_for(indexed.app()) as client:
        response = await client.post(
            "/v1/search", content=b"{not json", headers={"Content-Type": "application/json"}
        )
    assert_error(response, 422, "invalid_request", "JSON")


async def test_empty_query_is_400(indexed: Indexed) -> None:
    async with client_for(indexed.app()) as client:
        for body in ({}, {"text": "   "}, {"text": None}):
            assert_error(await client.post("/v1/search", json=body), 400, "query_error", "empty query")


async def test_too_long_text_is_422(indexed: Indexed) -> None:
    async with client_for(indexed.app(max_query_chars=20)) as client:
        response = await client.post("/v1/search", json={"text": "x" * 21})
    assert_error(response, 422, "invalid_request", "server.max_query_chars")


async def test_an_image_that_is_not_an_image_is_415(indexed: Indexed) -> None:
    async with client_for(indexed.app()) as client:
        response = await client.post(
            "/v1/search", files={"image": ("q.png", b"%PDF-1.7 not an image", "image/png")}
        )
        truncated = await client.post("/v1/search", files={"image": ("q.png", png()[:60], "image/png")})
    assert_error(response, 415, "unsupported_file", "not an image")
    assert truncated.status_code in (415, 422) and truncated.json()["error"]["code"] in (
        "corrupt_file",
        "unsupported_file",
    )


async def test_bad_multipart_fields(indexed: Indexed) -> None:
    async with client_for(indexed.app()) as client:
        unknown = await client.post(
            "/v1/search", data={"text": "x", "colour": "red"}, files={"image": ("a", png())}
        )
        bad_filters = await client.post(
            "/v1/search", data={"text": "x", "filters": "[1]"}, files={"image": ("a", png())}
        )
        bad_number = await client.post(
            "/v1/search", data={"text": "x", "top_k": "ten"}, files={"image": ("a", png())}
        )
    assert_error(unknown, 422, "invalid_request", "form.colour")
    assert_error(bad_filters, 422, "invalid_request", "form.filters", "JSON object")
    assert_error(bad_number, 422, "invalid_request", "top_k")


async def test_other_content_types_are_415(indexed: Indexed) -> None:
    async with client_for(indexed.app()) as client:
        response = await client.post("/v1/search", content=b"text=x", headers={"Content-Type": "text/plain"})
    assert_error(response, 415, "unsupported_media_type", "application/json")


async def test_an_oversized_query_body_is_413(indexed: Indexed) -> None:
    """Searches have their own, smaller limit than uploads (server.max_search_mb)."""
    async with client_for(indexed.app(max_search_mb=0.01)) as client:
        response = await client.post("/v1/search", json={"image": "A" * 20_000})
        assert_error(response, 413, "payload_too_large", "server.max_search_mb")
        files = {"image": ("big.png", b"\x89PNG\r\n\x1a\n" + bytes(20_000), "image/png")}
        response = await client.post("/v1/search", files=files)
        assert_error(response, 413, "payload_too_large", "server.max_search_mb")
