"""The search controls over the wire, under a real uvicorn: stable ``offset`` pages, ``min_score`` on the
scale ``score_kind`` names, ``collapse`` by document and by content (the same bytes under two names come
back once), ``include_images`` (and its deprecated alias ``inline_images``), several values for
``modality`` and ``doc_id``, the upload form at ``/v1/search/upload``, and ``POST /v1/search/batch``: its
queries embedded in one model call, each answered as alone, each within the caller's scope.

The index: a 3-page PDF, a photo and a copy of it under another name (collection ``default``), and a
contract in ``legal``; a managed key sees ``default`` only.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import READ_KEY, live_server, tiny_settings
from PIL import Image

from mmsearch import components
from mmsearch.access.keys import mint
from mmsearch.access.principal import Role
from mmsearch.api.app import create_app
from mmsearch.api.schemas import MAX_BATCH_QUERIES
from mmsearch.api.services.batcher import EmbedBatcher
from mmsearch.api.services.parts import Services, open_services
from mmsearch.ingest.names import Labels
from mmsearch.samples import make_image, make_pdf

pytestmark = pytest.mark.slow

QUERY = "quarterly finance report"


@dataclass
class Served:
    url: str
    services: Services
    default_key: str  # a reader of collection "default" only
    photo: bytes

    def search(self, key: str = READ_KEY, path: str = "/v1/search", **body: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"}
        return httpx.post(f"{self.url}{path}", json=body, headers=headers, timeout=120)

    def hits(self, **body: Any) -> list[dict[str, Any]]:
        response = self.search(**body)
        assert response.status_code == 200, response.text
        hits: list[dict[str, Any]] = response.json()["hits"]
        return hits


def ingest_as(settings: Any, services: Services, labels: Labels, paths: list[Path]) -> None:
    with components.build_manifest(settings) as manifest:
        indexer = components.build_indexer(settings, services.embedder, services.store, manifest, None)
        indexer.labels = labels
        assert not indexer.run(paths).failed


@pytest.fixture(scope="module")
def served(tiny_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("controls")
    corpus, legal = root / "corpus", root / "legal"
    make_pdf(corpus / "report.pdf", 3, topic="finance")
    make_image(corpus / "photo.png", "png", (96, 64), text="cafe")
    (corpus / "copy-of-photo.png").write_bytes((corpus / "photo.png").read_bytes())
    make_pdf(legal / "contract.pdf", 1, topic="law")
    settings = tiny_settings(root / "data", tiny_models, small_media=True, server={"read_keys": [READ_KEY]})
    services = open_services(settings)
    try:
        ingest_as(settings, services, Labels.checked("default"), [corpus])
        ingest_as(settings, services, Labels.checked("legal"), [legal])
        key, record = mint("default-reader", Role.READER, ["default"], None)
        components.build_key_store(settings).add(record)
        with live_server(create_app(settings, services)) as live:
            yield Served(live.url, services, key, (corpus / "photo.png").read_bytes())
    finally:
        services.close()


def ids(hits: list[dict[str, Any]]) -> list[str]:
    return [hit["point_id"] for hit in hits]


def test_pages_are_slices_of_one_ranking(served: Served) -> None:
    """Unreranked: through the store's order (vector or fused); reranked: through the query's candidates.
    Either way, consecutive offsets neither overlap nor leave a gap, and ranks run on across pages."""
    kinds = {"vector": "vector", "hybrid": "fusion"}
    cases: list[dict[str, Any]] = [
        {"rerank": False, "mode": "vector"},
        {"rerank": False, "mode": "hybrid"},
        {"rerank": True, "candidates": 4, "mode": "vector"},
    ]
    for options in cases:
        size = 6 if not options["rerank"] else 4
        whole = served.search(text=QUERY, top_k=size, **options).json()
        pages, offset = [], 0
        while offset is not None:
            page = served.search(text=QUERY, top_k=2, offset=offset, **options).json()
            pages.append(page)
            offset = page["next_offset"]
        flat = [hit for page in pages for hit in page["hits"]]
        assert ids(flat) == ids(whole["hits"]) and len(flat) == size, options
        assert [hit["rank"] for hit in flat] == list(range(1, size + 1))
        assert [hit["score"] for hit in flat] == pytest.approx(
            [hit["score"] for hit in whole["hits"]], abs=1e-4
        )
        assert whole["mode"] == options["mode"]
        assert whole["score_kind"] == ("rerank" if options["rerank"] else kinds[options["mode"]])
    beyond = served.search(text=QUERY, top_k=2, offset=4, candidates=4)
    assert beyond.status_code == 400 and "candidates ≥ 6" in beyond.json()["error"]["message"]
    too_deep = served.search(text=QUERY, top_k=10, offset=995, rerank=False)
    assert too_deep.status_code == 400 and "at most 1000" in too_deep.json()["error"]["message"]
    assert served.search(text=QUERY, offset=1000).status_code == 422
    assert served.search(text=QUERY, offset=-1).status_code == 422


def test_min_score_is_a_floor_on_the_scale_of_score_kind(served: Served) -> None:
    vector = served.search(text=QUERY, top_k=20, rerank=False, mode="vector").json()
    scores = [hit["score"] for hit in vector["hits"]]
    assert vector["score_kind"] == "vector" and all(-1 <= s <= 1 for s in scores)
    floor = sorted(scores)[len(scores) // 2]
    above = served.hits(text=QUERY, top_k=20, rerank=False, mode="vector", min_score=floor)
    assert [hit["score"] for hit in above] == [s for s in scores if s >= floor] and len(above) < len(scores)

    reranked = served.search(text=QUERY, top_k=5, candidates=5).json()
    scores = [hit["score"] for hit in reranked["hits"]]
    assert reranked["score_kind"] == "rerank" and all(0 <= s <= 1 for s in scores)
    assert all(hit["score"] == hit["rerank_score"] for hit in reranked["hits"])
    floor = sorted(scores)[len(scores) // 2]
    above = served.hits(text=QUERY, top_k=5, candidates=5, min_score=floor)
    assert [hit["score"] for hit in above] == pytest.approx([s for s in scores if s >= floor], abs=1e-4)
    assert served.hits(text=QUERY, top_k=5, rerank=False, min_score=1.01) == []
    bad = served.search(text=QUERY, min_score="high")
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "body.min_score"


def test_collapse_keeps_one_hit_per_document_or_per_content(served: Served) -> None:
    every = served.hits(text="a cafe photo", top_k=20, rerank=False)
    assert len({hit["doc_id"] for hit in every}) < len(every)  # the PDF's pages share a document
    by_doc = served.hits(text="a cafe photo", top_k=20, rerank=False, collapse="document")
    assert [hit["doc_id"] for hit in by_doc] == list(dict.fromkeys(hit["doc_id"] for hit in every))
    assert ids(by_doc) == [next(h["point_id"] for h in every if h["doc_id"] == d["doc_id"]) for d in by_doc]

    photos = [hit for hit in every if hit["modality"] == "image"]
    assert {hit["name"] for hit in photos} == {"photo.png", "copy-of-photo.png"}
    assert photos[0]["content_hash"] == photos[1]["content_hash"] and len(photos[0]["content_hash"]) == 64
    by_content = served.hits(text="a cafe photo", top_k=20, rerank=False, collapse="content")
    kept = [hit for hit in by_content if hit["modality"] == "image"]  # the two score the same: either
    assert len(kept) == 1 and kept[0]["content_hash"] == photos[0]["content_hash"]
    assert len(by_content) == len(every) - 1  # the pages' hashes differ: only the copy went
    reranked = served.hits(text="a cafe photo", top_k=5, candidates=5, collapse="document")
    assert len({hit["doc_id"] for hit in reranked}) == len(reranked)
    assert served.search(text=QUERY, collapse="page").status_code == 422


def test_include_images_url_base64_or_none(served: Served) -> None:
    plain = served.hits(text=QUERY, top_k=2, rerank=False)
    assert all(hit["image_url"] and hit["thumbnail_url"] and hit["image_base64"] is None for hit in plain)
    inlined = served.hits(text=QUERY, top_k=2, rerank=False, include_images="base64")
    stored = httpx.get(inlined[0]["image_url"], timeout=60).content  # signed: no key needed
    assert base64.b64decode(inlined[0]["image_base64"]) == stored
    Image.open(io.BytesIO(stored)).verify()
    bare = served.hits(text=QUERY, top_k=2, rerank=False, include_images="none")
    assert all(hit["image_url"] is None and hit["thumbnail_url"] is None for hit in bare)
    assert all(hit["image_base64"] is None and hit["file_url"] for hit in bare)
    alias = served.hits(text=QUERY, top_k=2, rerank=False, inline_images=True)  # deprecated, still works
    assert [hit["image_base64"] for hit in alias] == [hit["image_base64"] for hit in inlined]
    both = served.search(text=QUERY, inline_images=True, include_images="url")
    assert both.status_code == 422 and "include_images: base64" in both.text
    assert served.search(text=QUERY, include_images="jpeg").status_code == 422


def test_several_values_of_modality_and_doc_id(served: Served) -> None:
    # Vector mode: filters do not move a point's score there (in hybrid mode they move its fused ranks).
    every = served.hits(text=QUERY, top_k=20, rerank=False, mode="vector")
    kinds = served.hits(text=QUERY, top_k=20, rerank=False, filters={"modality": ["image", "video"]})
    assert kinds and {hit["modality"] for hit in kinds} == {"image"}
    docs = list(dict.fromkeys(hit["doc_id"] for hit in every))[:2]
    two = served.hits(text=QUERY, top_k=20, rerank=False, mode="vector", filters={"doc_id": docs})
    assert {hit["doc_id"] for hit in two} == set(docs)
    assert ids(two) == [hit["point_id"] for hit in every if hit["doc_id"] in docs]  # ties (the copies) too
    assert served.search(text=QUERY, filters={"modality": ["page", "slide"]}).status_code == 422
    assert served.search(text=QUERY, filters={"doc_id": []}).status_code == 422


def test_the_upload_form_searches_with_files(served: Served) -> None:
    headers = {"Authorization": f"Bearer {READ_KEY}"}
    form = {
        "top_k": "2",
        "rerank": "false",
        "collapse": "content",
        "include_images": "none",
        "modality": "image",
    }
    files = {"image": ("query.png", served.photo, "image/png")}
    found = httpx.post(f"{served.url}/v1/search/upload", data=form, files=files, headers=headers, timeout=120)
    assert found.status_code == 200, found.text
    hits = found.json()["hits"]
    assert len(hits) == 1 and hits[0]["modality"] == "image" and hits[0]["image_url"] is None
    old = httpx.post(f"{served.url}/v1/search", data=form, files=files, headers=headers, timeout=120)
    assert old.status_code == 200 and ids(old.json()["hits"]) == ids(hits)  # still taken, undocumented
    as_json = served.search(path="/v1/search/upload", text=QUERY)
    assert as_json.status_code == 415 and "multipart/form-data" in as_json.text
    empty = httpx.post(
        f"{served.url}/v1/search/upload", data={"top_k": "2"}, files={"video": ("", b"")}, headers=headers
    )
    assert empty.status_code == 400 and "empty query" in empty.text


def test_a_batch_embeds_once_and_answers_each_query_as_alone(served: Served) -> None:
    queries: list[dict[str, Any]] = [
        {"text": QUERY, "top_k": 3, "rerank": False},
        {"text": "a cafe photo", "top_k": 2, "rerank": False, "collapse": "document", "offset": 1},
        {"image": base64.b64encode(served.photo).decode(), "top_k": 2, "rerank": False},
        {"text": QUERY, "top_k": 2, "candidates": 3},
    ]
    batcher = next(q for q in served.services.queues if isinstance(q, EmbedBatcher))
    before = batcher.batches
    response = served.search(path="/v1/search/batch", queries=queries)
    assert response.status_code == 200, response.text
    assert batcher.batches == before + 1  # four queries, one model call
    batch = response.json()
    assert set(batch["timings_ms"]) == {"embed", "total"} and len(batch["results"]) == 4
    for query, result in zip(queries, batch["results"], strict=True):
        alone = served.search(**query).json()
        assert ids(result["hits"]) == ids(alone["hits"]), query
        assert [h["score"] for h in result["hits"]] == pytest.approx(
            [h["score"] for h in alone["hits"]], abs=1e-3
        )
        assert result["next_offset"] == alone["next_offset"] and result["reranked"] == alone["reranked"]

    too_many = served.search(path="/v1/search/batch", queries=[{"text": "x"}] * (MAX_BATCH_QUERIES + 1))
    assert too_many.status_code == 422
    empty = served.search(path="/v1/search/batch", queries=[{"text": QUERY}, {"text": "  "}])
    assert empty.status_code == 400 and "queries[1]" in empty.json()["error"]["message"]
    bad = served.search(path="/v1/search/batch", queries=[{"text": QUERY}, {"image": "%%%"}])
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "body.queries.1.image"


def test_a_batch_keeps_each_query_within_the_callers_scope(served: Served) -> None:
    everywhere = served.search(
        path="/v1/search/batch", queries=[{"text": QUERY, "top_k": 20, "rerank": False}]
    )
    assert "legal" in {hit["collection"] for hit in everywhere.json()["results"][0]["hits"]}
    queries = [
        {"text": QUERY, "top_k": 20, "rerank": False},
        {"text": QUERY, "top_k": 20, "rerank": False, "filters": {"collection": "legal"}},
    ]
    scoped = served.search(served.default_key, "/v1/search/batch", queries=queries)
    assert scoped.status_code == 200, scoped.text
    first, second = scoped.json()["results"]
    assert first["hits"] and {hit["collection"] for hit in first["hits"]} == {"default"}
    assert second["hits"] == []  # asking for legal does not widen the scope
