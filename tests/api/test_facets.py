"""``GET /v1/facets`` over HTTP (httpx.ASGITransport) on the shared index: units by kind and by collection,
within a collection when asked, and a bad collection name refused. Its scope: ``test_principals.py``."""

from __future__ import annotations

import pytest
from api_support import READ_KEY, Indexed, client_for

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


async def test_units_by_kind_and_collection(indexed: Indexed) -> None:
    async with client_for(indexed.app()) as client:
        everything = (await client.get("/v1/facets")).json()
        elsewhere = (await client.get("/v1/facets", params={"collection": "legal"})).json()
        bad = await client.get("/v1/facets", params={"collection": "../Legal"})
    # The shared corpus: 5 pages, 1 image, 2 video segments, all in `default`.
    assert everything == {
        "total": 8,
        "kinds": [
            {"value": "page", "count": 5},
            {"value": "video", "count": 2},
            {"value": "image", "count": 1},
        ],
        "collections": [{"value": "default", "count": 8}],
        "metadata": {},  # no metadata key marked as a facet
    }
    assert elsewhere["total"] == 0 and elsewhere["kinds"] == []
    assert elsewhere["collections"] == everything["collections"]  # the caller's, whatever it narrows to
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "query.collection"


async def test_facets_need_a_key_when_the_server_does(indexed: Indexed) -> None:
    async with client_for(indexed.app(read_keys=[READ_KEY])) as client:
        refused = await client.get("/v1/facets")
    async with client_for(indexed.app(read_keys=[READ_KEY]), key=READ_KEY) as client:
        counted = await client.get("/v1/facets")
    assert refused.status_code == 401
    assert counted.status_code == 200 and counted.json()["total"] == 8
