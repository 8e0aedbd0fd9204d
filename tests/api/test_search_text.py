"""POST /v1/search on a real uvicorn: each hit's text (``include_text``), snippet ranges, highlights and
content hash, the ``mode`` field, and queries with many terms bounded."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pymupdf
import pytest
from api_support import Indexed, LiveServer, live_server

from mmsearch.search.highlight import MAX_HIGHLIGHTS
from mmsearch.search.terms import MAX_TERMS

pytestmark = pytest.mark.slow
HEADERS = {"Authorization": "Bearer any"}  # a program; the server has no keys


@pytest.fixture(scope="module")
def server(indexed: Indexed) -> Iterator[LiveServer]:
    with live_server(indexed.app()) as live:
        yield live


def search(server: LiveServer, **body: Any) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/search", json=body, headers=HEADERS, timeout=60)


def page_one(body: dict[str, Any]) -> dict[str, Any]:
    (hit,) = [h for h in body["hits"] if h["name"] == "quarterly-report.pdf" and h["page"] == 1]
    return hit


def test_include_text_returns_the_pages_whole_text(server: LiveServer, indexed: Indexed) -> None:
    with pymupdf.open(indexed.files["report"]) as pdf:
        expected = pdf[0].get_text()[: indexed.settings.ingest.text_chars].strip()
    response = search(server, text="QURORONI1 dividends", top_k=20, rerank=False, include_text=True)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["mode"] == "hybrid"  # search.mode's default
    hit = page_one(body)
    assert hit["text"] == expected and "quroroni1" in hit["text"] and hit["text_truncated"] is False
    assert len(hit["content_hash"]) >= 16
    marked = {hit["snippet"][a:b].lower() for a, b in hit["snippet_ranges"]}
    assert marked == {"quroroni1", "dividend"}  # the term as typed, and "dividends" folded to "dividend"
    assert all(h["content_hash"] for h in body["hits"])
    assert all(isinstance(h["highlights"], list) for h in body["hits"])
    without = page_one(search(server, text="quroroni1", top_k=20, rerank=False).json())
    assert without["text"] is None and without["content_hash"] == hit["content_hash"]


def test_a_unique_token_finds_its_page_first_in_keyword_and_hybrid_mode(server: LiveServer) -> None:
    """Issue 20's bar through the API, with random weights: quroroni1 is printed on page 1 only."""
    for mode in ("keyword", "hybrid"):
        body = search(server, text="quroroni1", top_k=5, rerank=False, mode=mode).json()
        assert body["mode"] == mode
        assert (body["hits"][0]["name"], body["hits"][0]["page"]) == ("quarterly-report.pdf", 1)
    keyword = search(server, text="quroroni1", top_k=5, rerank=False, mode="keyword").json()
    assert len(keyword["hits"]) == 1 and "embed" not in keyword["timings_ms"]
    refused = search(server, text="?!", mode="keyword")
    assert refused.status_code == 422 and "keyword search needs words" in refused.text


def test_the_form_body_takes_include_text_and_mode(server: LiveServer) -> None:
    form = {"text": "quroroni1", "top_k": "20", "rerank": "false", "include_text": "true", "mode": "vector"}
    empty = {"image": ("none.png", b"", "image/png")}  # makes it multipart; an empty part is no image
    response = httpx.post(f"{server.url}/v1/search", data=form, files=empty, headers=HEADERS, timeout=60)
    assert response.status_code == 200, response.text
    assert "quroroni1" in page_one(response.json())["text"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": "x", "mode": "fuzzy"}, "body.mode"),
        ({"text": "x", "mode": ["vector"]}, "body.mode"),
        ({"text": "x", "include_text": "sometimes"}, "body.include_text"),
    ],
)
def test_bad_mode_and_include_text_are_named(server: LiveServer, body: dict[str, Any], field: str) -> None:
    response = search(server, **body)
    assert response.status_code == 422, response.text
    assert field in response.text


def test_a_query_with_many_terms_is_answered_within_bounds(server: LiveServer) -> None:
    words = " ".join(f"w{i}" for i in range(700)) + " " + '"a b" ' * 40
    text = ("quroroni1 dividend " + words)[:4000]
    response = search(server, text=text, top_k=20, rerank=False)
    assert response.status_code == 200, response.text
    for hit in response.json()["hits"]:
        assert len(hit["highlights"]) <= MAX_HIGHLIGHTS
        assert len({hit["snippet"][a:b].lower() for a, b in hit["snippet_ranges"]}) <= MAX_TERMS
        assert all(0 <= a < b <= len(hit["snippet"]) for a, b in hit["snippet_ranges"])
