"""The lexical stage inside Qdrant, the same on every backend — Qdrant Edge, qdrant-client's local mode and
a Qdrant server (the loopback fake of tests/qdrant_server.py, whose Query API is local mode's): BM25 over
``search_text`` alone (keyword) or fused with the dense vector in one request (hybrid, RRF or DBSF,
weights), quoted phrases matched as phrases, and the scope and filters binding the lexical half too."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from mmsearch.errors import QueryError
from mmsearch.index.settings import IndexSettings, StoreSettings
from mmsearch.index.store import (
    Candidate,
    Filters,
    Fusion,
    Lexical,
    Payload,
    Point,
    Scope,
    ScoredPoint,
    Store,
)
from mmsearch.index.store_registry import open_store
from tests.index.test_store import DIM, MODEL, unit_vectors

# (collection, modality, name, text): each page's words; the image has none but its name
UNITS = [
    ("finance", "page", "q3.pdf", "quarterly revenue grew in the north region"),
    ("finance", "page", "inv.pdf", "invoice zq4471 for consulting services"),
    ("finance", "page", "gm.pdf", "gross margin fell by a point"),
    ("finance", "page", "notes.pdf", "margin notes, gross and net"),
    ("legal", "page", "nda.pdf", "a clause naming kx9902 only here"),
    ("finance", "image", "site-visit.jpg", ""),
]


def unit_points() -> list[Point]:
    vectors = unit_vectors(np.random.default_rng(7), len(UNITS))
    out = []
    for i, ((collection, modality, name, text), vector) in enumerate(zip(UNITS, vectors, strict=True)):
        payload = Payload(
            doc_id=f"doc-{i}", source_path=f"/srv/{name}", modality=modality, text=text, media_paths=[],  # type: ignore[arg-type]
            content_hash=f"h{i}", source_sha256="0" * 64, ingest_time=1.0, model_id=MODEL, dim=DIM,
            collection=collection, name=name,
        )  # fmt: skip
        out.append(Point(str(uuid.UUID(int=i + 1)), vector, payload))
    return out


POINTS = unit_points()
BACKENDS = ("edge", "qdrant-local", "server")


@pytest.fixture(scope="module", params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    from tests.qdrant_server import fake_qdrant

    path = tmp_path_factory.mktemp("lexical") / "qdrant"
    index = IndexSettings(prefetch_dim=32)  # the dense half is the two-stage MRL search
    if request.param == "server":
        with fake_qdrant() as (url, _), open_store(StoreSettings(url=url), index, path) as opened:
            opened.ensure_collection(MODEL, DIM)
            opened.upsert(POINTS)
            yield opened
        return
    settings = StoreSettings() if request.param == "edge" else StoreSettings(backend="qdrant-local")
    with open_store(settings, index, path) as opened:
        opened.ensure_collection(MODEL, DIM)
        opened.upsert(POINTS)
        yield opened


def ids(found: Sequence[Candidate | ScoredPoint]) -> list[int]:
    return [int(p.id.replace("-", ""), 16) - 1 for p in found]


def test_a_unique_token_finds_its_page_first_in_keyword_and_hybrid_mode(store: Store) -> None:
    assert ids(store.search(None, 10, lexical=Lexical("zq4471"))) == [1]
    far = POINTS[0].vector  # the query vector is another page's: the token's page is not the nearest
    assert ids(store.search(far, 10, lexical=Lexical("zq4471")))[0] == 1
    assert ids(store.nearest(far, 10, lexical=Lexical("zq4471")))[0] == 1
    assert ids(store.search(None, 10, lexical=Lexical("visit")))[0] == 5  # an image, by its name's words


def test_hybrid_fuses_by_rrf_or_dbsf_with_weights(store: Store) -> None:
    far = POINTS[0].vector
    rrf = store.search(far, 10, lexical=Lexical("zq4471"))
    assert len(rrf) == len(POINTS)  # the dense list brings every point; the lexical one only page 1
    assert rrf[0].score == pytest.approx(1 / 2 + 1 / (ids(store.search(far, 10)).index(1) + 2), abs=1e-6)
    dense_only = store.search(far, 10, lexical=Lexical("zq4471"), fusion=Fusion("rrf", (1.0, 0.0)))
    assert ids(dense_only) == ids(store.search(far, 10))  # the lexical list weighs nothing
    assert ids(store.search(far, 10, lexical=Lexical("zq4471"), fusion=Fusion("dbsf")))[:1] in ([1], [0])
    with pytest.raises(QueryError, match="rrf only"):
        store.search(far, 10, lexical=Lexical("zq4471"), fusion=Fusion("dbsf", (1.0, 1.0)))
    with pytest.raises(QueryError, match="vector, query words"):
        store.search(None, 10)


def test_a_quoted_phrase_must_match_as_a_phrase(store: Store) -> None:
    both = Lexical("gross margin")
    assert set(ids(store.search(None, 10, lexical=both))) == {2, 3}
    phrase = Lexical("gross margin", ("gross margin",))
    assert ids(store.search(None, 10, lexical=phrase)) == [2]  # page 3 has both words, not in that order
    hybrid = store.search(POINTS[3].vector, 10, lexical=phrase)
    assert len(hybrid) == len(POINTS)  # the phrase binds the lexical half only
    assert ids(hybrid)[0] == 2  # first in the lexical list and in the dense one too: first


def test_the_scope_and_filters_bind_the_lexical_half(store: Store) -> None:
    finance = Filters(scope=Scope(collections=frozenset({"finance"})))
    assert store.search(None, 10, finance, lexical=Lexical("kx9902")) == []  # only in a legal document
    hybrid = store.search(POINTS[4].vector, 10, finance, lexical=Lexical("kx9902"))
    assert 4 not in ids(hybrid) and len(hybrid) == 5
    assert ids(store.search(None, 10, Filters(collection="legal"), lexical=Lexical("kx9902"))) == [4]
    assert store.search(None, 10, Filters(modality="image"), lexical=Lexical("zq4471")) == []
    assert ids(store.nearest(None, 10, Filters(modality="image"), lexical=Lexical("visit zq4471"))) == [5]
    assert store.search(None, 10, Filters(not_=Filters(name="inv.pdf")), lexical=Lexical("zq4471")) == []


def test_the_collection_records_its_text_index(store: Store, tmp_path: Path) -> None:
    assert store.has_text_index()
    with open_store(StoreSettings(), IndexSettings(), tmp_path / "empty") as empty:
        assert not empty.has_text_index()  # no collection yet
        assert empty.search(None, 3, lexical=Lexical("zq4471")) == []


def test_the_fusion_here_is_the_engines_and_ties_do_not_move_hits(tmp_path: Path) -> None:
    """Without ties the hybrid hits and scores are those of Qdrant Edge's own fusion (one request,
    ``Fusion.Rrf``/``Dbsf``); with ties (twelve pages of equal words, which the engine returns in another
    order each call) every search gives the same hits, the tied ones by id."""
    import qdrant_edge as qe

    from mmsearch.index.edge_store import EdgeStore, search_request

    with open_store(StoreSettings(), IndexSettings(), tmp_path / "qdrant") as store:
        assert isinstance(store, EdgeStore)
        store.ensure_collection(MODEL, DIM)
        store.upsert(POINTS)
        far, layout = POINTS[0].vector, store.layout()
        assert layout is not None
        for fusion, engine in ((Fusion("rrf"), qe.Fusion.Rrf(k=2)), (Fusion("dbsf"), qe.Fusion.Dbsf())):
            text = qe.Prefetch(limit=10, query=qe.TextQuery("search_text", "zq4471 north"))
            dense = search_request(store.index, layout, far, 10, None)
            request = qe.QueryRequest(
                limit=10,
                query=engine,  # type: ignore[arg-type]  # the stub names only ``Fusion``, not its kinds
                prefetches=[text, qe.Prefetch(limit=10, query=dense.query)],
            )
            theirs = [(str(p.id), round(p.score, 5)) for p in store.query(request)]
            ours = [
                (p.id, round(p.score, 5))
                for p in store.search(far, 10, lexical=Lexical("zq4471 north"), fusion=fusion)
            ]
            assert ours == theirs
        rng = np.random.default_rng(3)
        same = [
            replace_text(p, "minutes of the weekly meeting", 100 + i) for i, p in enumerate(unit_points() * 2)
        ]
        store.upsert(
            [Point(p.id, v, p.payload) for p, v in zip(same, unit_vectors(rng, len(same)), strict=True)]
        )
        for vector in (None, far):
            runs = {
                tuple(p.id for p in store.search(vector, 4, lexical=Lexical("weekly meeting")))
                for _ in range(8)
            }
            assert len(runs) == 1
        assert next(iter(runs)) != ()
        keyword = [p.id for p in store.search(None, 4, lexical=Lexical("weekly meeting"))]
        assert keyword == sorted(p.id for p in same)[:4]  # equal scores: by id


def replace_text(p: Point, text: str, n: int) -> Point:
    from dataclasses import replace

    return Point(
        str(uuid.UUID(int=n)), p.vector, replace(p.payload, text=text, doc_id=f"doc-{n}", search_text="")
    )


def test_a_tied_group_is_fetched_once_deeper_at_most() -> None:
    """Thousands of points of one text (copies of a page) tie in BM25: the list is fetched once more, four
    times as deep, and no further — fetching the whole group on every search cost more than the search."""
    from mmsearch.index.fusion import top

    tied = [(str(uuid.UUID(int=n)), 1.0, None) for n in range(10_000)]
    depths: list[int] = []

    def fetch(depth: int) -> list[tuple[str, float, None]]:
        depths.append(depth)
        return tied[::-1][:depth]  # the engine's order among ties: any

    best = top(tied[::-1][:51], 50, 51, fetch)
    assert depths == [204] and len(best) == 50
    assert [b[0] for b in best] == sorted(b[0] for b in tied[::-1][:204])[:50]  # by id, within what was seen
    small = [(str(uuid.UUID(int=n)), 1.0, None) for n in range(30)]
    assert [b[0] for b in top(small[::-1][:11], 10, 11, lambda d: small[::-1][:d])] == [
        s[0] for s in small[:10]
    ]
