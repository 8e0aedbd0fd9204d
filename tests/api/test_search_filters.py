"""The search filter grammar over HTTP (httpx.ASGITransport): any-of lists, ``not``, collections and
metadata in the JSON body and the multipart form, and every bad filter refused naming the field."""

from __future__ import annotations

import json
from typing import Any

import pytest
from api_support import Indexed, client_for

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


async def names(indexed: Indexed, filters: dict[str, Any]) -> set[str]:
    async with client_for(indexed.app()) as client:
        response = await client.post(
            "/v1/search", json={"text": "x", "top_k": 50, "rerank": False, "filters": filters}
        )
    assert response.status_code == 200, response.text
    return {h["file_name"] for h in response.json()["hits"]}


async def test_lists_negation_and_collections_restrict_hits(indexed: Indexed) -> None:
    everything = await names(indexed, {})
    pictures = await names(indexed, {"modality": ["image", "video"]})
    assert pictures and pictures < everything
    assert await names(indexed, {"not": {"modality": ["image", "video"]}}) == everything - pictures
    assert await names(indexed, {"collection": ["default", "legal"]}) == everything  # all ingested as default
    assert await names(indexed, {"collection": "legal"}) == set()
    assert await names(indexed, {"modality": "page", "not": {"modality": "page"}}) == set()
    assert await names(indexed, {"metadata": {"year": [2023, 2024]}}) == set()  # nothing carries metadata yet
    assert await names(indexed, {"metadata_ranges": {"year": {"gte": 2000}}}) == set()


def form(**fields: str) -> dict[str, tuple[None, str]]:
    """Plain multipart/form-data fields (no file part)."""
    return {name: (None, value) for name, value in fields.items()}


async def test_a_form_takes_one_value_filters_flat_and_the_rest_as_json(indexed: Indexed) -> None:
    excluded = json.dumps({"not": {"collection": "default"}})
    async with client_for(indexed.app()) as client:
        flat = await client.post("/v1/search", files=form(text="x", rerank="false", collection="legal"))
        part = await client.post("/v1/search", files=form(text="x", rerank="false", filters=excluded))
        pages = await client.post("/v1/search", files=form(text="x", rerank="false", modality="page"))
        metadata_flat = await client.post("/v1/search", files=form(text="x", metadata="{}"))
    assert flat.status_code == part.status_code == pages.status_code == 200, flat.text + part.text
    assert flat.json()["hits"] == part.json()["hits"] == []
    assert pages.json()["hits"] and {h["modality"] for h in pages.json()["hits"]} == {"page"}
    assert metadata_flat.status_code == 422 and "form.metadata" in metadata_flat.text


@pytest.mark.parametrize(
    ("filters", "field", "needle"),
    [
        ({"modality": ["page", "audio"]}, "body.filters.modality", "'audio'"),
        ({"collection": [f"c{i}" for i in range(101)]}, "body.filters.collection", "1 to 100"),
        ({"metadata": {"bad key": 1}}, "body.filters.metadata.bad key.[key]", "pattern"),
        ({"metadata_ranges": {"year": {"gte": 2024, "lt": 2020}}}, "body.filters", "range is empty"),
        ({"not": {"not": {}}}, "body.filters.not.not", "unknown field"),
        ({"scope": {"collections": ["legal"]}}, "body.filters.scope", "unknown field"),
        ({"department": "finance"}, "body.filters.department", "unknown field"),
    ],
)
async def test_bad_filters_are_422_naming_the_field(
    indexed: Indexed, filters: dict[str, Any], field: str, needle: str
) -> None:
    async with client_for(indexed.app()) as client:
        response = await client.post("/v1/search", json={"text": "x", "filters": filters})
    assert response.status_code == 422, response.text
    details = response.json()["error"]["details"]
    assert any(d["field"] == field and needle in d["message"] for d in details), details


async def test_a_boolean_the_embedded_engine_cannot_match_is_a_400_saying_so(indexed: Indexed) -> None:
    async with client_for(indexed.app()) as client:
        response = await client.post(
            "/v1/search", json={"text": "x", "filters": {"metadata": {"final": True}}}
        )
    assert response.status_code == 400, response.text
    assert "cannot match true/false" in response.json()["error"]["message"]
