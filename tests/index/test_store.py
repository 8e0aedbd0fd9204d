"""The embedded store — Qdrant Edge (the default) and qdrant-client local mode (``store.backend:
qdrant-local``) — : idempotent upserts, replacing (new points, then ``delete_stale``) and deleting documents, stats, filters, and MRL
prefetch + full rescoring."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from mmsearch.errors import QueryError, StoreError
from mmsearch.index.edge_store import EdgeStore
from mmsearch.index.qdrant_store import QdrantStore
from mmsearch.index.settings import IndexSettings, StoreSettings
from mmsearch.index.store import Filters, Modality, Payload, Point, Scope, Store
from mmsearch.index.store_registry import open_store

DIM = 64
MODEL = "tiny/embedding"


def unit_vectors(rng: np.random.Generator, n: int, dim: int = DIM, decay: float = 0.0) -> np.ndarray:
    """``n`` random unit vectors; ``decay`` > 0 concentrates variance in the leading components (MRL-like)."""
    scale = np.exp(-decay * np.arange(dim) / dim)
    vectors = rng.normal(size=(n, dim)) * scale
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def point(
    vector: np.ndarray,
    source: str = "/data/docs/a.pdf",
    modality: Modality = "page",
    page: int = 1,
    ingest_time: float = 1000.0,
    text: str = "",
) -> Point:
    doc_id = str(uuid.uuid5(uuid.NAMESPACE_URL, source))
    payload = Payload(
        doc_id=doc_id,
        source_path=source,
        modality=modality,
        text=text,
        media_paths=[f"media/{doc_id[:2]}/{doc_id}/p{page:05d}.jpg"],
        content_hash=f"hash-{source}-{page}",
        source_sha256="0" * 64,
        ingest_time=ingest_time,
        model_id=MODEL,
        dim=len(vector),
        page=page if modality == "page" else None,
        page_count=9 if modality == "page" else None,
        t_start=float(page) if modality == "video" else None,
        t_end=float(page) + 5.0 if modality == "video" else None,
        fps=1.0 if modality == "video" else None,
    )
    point_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{source}#{page}"))
    return Point(id=point_id, vector=vector, payload=payload)


def document(rng: np.random.Generator, source: str, pages: range, **kwargs: object) -> list[Point]:
    vectors = unit_vectors(rng, len(pages))
    return [point(v, source, page=p, **kwargs) for v, p in zip(vectors, pages, strict=True)]  # type: ignore[arg-type]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


ENGINES = {"edge": StoreSettings(), "qdrant-local": StoreSettings(backend="qdrant-local")}


def open_engine(engine: str, index: IndexSettings, path: Path) -> Store:
    """``edge``, or local mode rescoring a prefetch here (``local-here``) or in its Query API."""
    if engine == "edge":
        return open_store(StoreSettings(), index, path)
    store = open_store(ENGINES["qdrant-local"], index, path)
    assert isinstance(store, QdrantStore)
    store.rescore_in_client = engine == "local-here"
    return store


@pytest.fixture(params=sorted(ENGINES))
def store(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Store]:
    with open_store(ENGINES[request.param], IndexSettings(), tmp_path / "qdrant") as opened:
        opened.ensure_collection(MODEL, DIM)
        yield opened


def test_the_default_embedded_engine_is_qdrant_edge(tmp_path: Path) -> None:
    with open_store(StoreSettings(), IndexSettings(), tmp_path / "qdrant") as store:
        assert isinstance(store, EdgeStore)
        store.ensure_collection(MODEL, DIM)
    assert (tmp_path / "qdrant" / "edge" / "mmsearch" / "edge_config.json").is_file()


def test_upserting_the_same_points_twice_keeps_one_copy_and_the_new_payload(
    store: Store, rng: np.random.Generator
) -> None:
    points = document(rng, "/data/docs/a.pdf", range(1, 6))
    store.upsert(points)
    store.upsert(
        points[:2] + [point(points[2].vector, "/data/docs/a.pdf", page=3, text="edited")] + points[3:]
    )
    assert store.count() == 5
    assert store.retrieve([points[2].id])[points[2].id].text == "edited"


def test_a_new_version_then_delete_stale_drops_exactly_the_old_points(
    store: Store, rng: np.random.Generator
) -> None:
    """The commit protocol of ``index.pipeline``: the new version's points are stored, the manifest
    commits it, then ``delete_stale`` keeps exactly those ids of that document."""
    old = document(rng, "/data/docs/a.pdf", range(1, 6))
    other = document(rng, "/data/docs/b.pdf", range(1, 4))
    store.upsert(old + other)
    new = old[:2] + document(rng, "/data/docs/a.pdf", range(10, 12))  # pages 3-5 gone, 10-11 new
    store.upsert(new)
    assert store.count() == 5 + 3 + 2  # both versions stored until the commit
    removed = store.delete_stale(old[0].payload.doc_id, keep={p.id for p in new})
    assert removed == 3
    stored = store.retrieve([p.id for p in old + other + new])
    assert set(stored) == {p.id for p in new + other}


def test_delete_stale_touches_only_the_named_document(store: Store, rng: np.random.Generator) -> None:
    """Ids kept for one document never protect or remove another's points: a keep set naming another
    document's points still drops every point of this one, and the other document stays whole."""
    a = document(rng, "/data/docs/a.pdf", range(1, 3))
    b = document(rng, "/data/docs/b.pdf", range(1, 2))
    store.upsert(a + b)
    assert store.delete_stale(a[0].payload.doc_id, keep={p.id for p in b}) == 2
    assert set(store.retrieve([p.id for p in a + b])) == {p.id for p in b}


def test_delete_stale_with_nothing_stale_removes_nothing(store: Store, rng: np.random.Generator) -> None:
    points = document(rng, "/data/docs/a.pdf", range(1, 4))
    store.upsert(points)
    assert store.delete_stale(points[0].payload.doc_id, keep={p.id for p in points}) == 0
    assert store.count() == 3


def test_delete_document_removes_only_that_document(store: Store, rng: np.random.Generator) -> None:
    a = document(rng, "/data/docs/a.pdf", range(1, 5))
    b = document(rng, "/data/docs/b.pdf", range(1, 3))
    store.upsert(a + b)
    assert store.delete_document(a[0].payload.doc_id) == 4
    assert store.count() == 2
    assert store.delete_document(a[0].payload.doc_id) == 0
    assert [d.source_path for d in store.documents()] == ["/data/docs/b.pdf"]


def test_stats_and_documents_count_points_by_modality_and_document(
    store: Store, rng: np.random.Generator
) -> None:
    store.upsert(document(rng, "/data/docs/a.pdf", range(1, 4), ingest_time=100.0))
    store.upsert(document(rng, "/data/docs/a.pdf", range(4, 5), ingest_time=200.0))
    store.upsert(document(rng, "/data/pics/cat.jpg", range(1, 2), modality="image"))
    store.upsert(document(rng, "/data/talk.mp4", range(0, 30, 10), modality="video"))
    stats = store.stats()
    assert (stats.exists, stats.points, stats.documents) == (True, 8, 3)
    assert stats.by_modality == {"page": 4, "image": 1, "video": 3}
    assert (stats.model_id, stats.dim, stats.prefetch_dim, stats.mode) == (MODEL, DIM, None, "embedded")
    docs = {d.source_path: d for d in store.documents()}
    assert {k: (d.modality, d.units) for k, d in docs.items()} == {
        "/data/docs/a.pdf": ("page", 4),
        "/data/pics/cat.jpg": ("image", 1),
        "/data/talk.mp4": ("video", 3),
    }
    assert docs["/data/docs/a.pdf"].ingest_time == 200.0


def test_an_absent_collection_reads_as_empty(tmp_path: Path, rng: np.random.Generator) -> None:
    with open_store(StoreSettings(), IndexSettings(), tmp_path / "qdrant") as store:
        assert store.count() == 0
        assert store.search(unit_vectors(rng, 1)[0], limit=5) == []
        assert store.retrieve([str(uuid.uuid4())]) == {}
        assert store.delete_document("nope") == 0
        stats = store.stats()
        assert (stats.exists, stats.points, stats.dim, stats.model_id) == (False, 0, None, None)
        with pytest.raises(StoreError, match="does not exist.*ensure_collection"):
            store.upsert(document(rng, "/data/a.pdf", range(1, 2)))


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_points_survive_closing_and_reopening_the_folder(
    tmp_path: Path, rng: np.random.Generator, engine: str
) -> None:
    points = document(rng, "/data/docs/a.pdf", range(1, 4))
    with open_store(ENGINES[engine], IndexSettings(), tmp_path / "qdrant") as store:
        store.ensure_collection(MODEL, DIM)
        store.upsert(points)
    with open_store(ENGINES[engine], IndexSettings(), tmp_path / "qdrant") as store:
        assert store.count() == 3
        hit = store.search(points[1].vector, limit=1)[0]
    assert hit.id == points[1].id
    assert hit.payload == points[1].payload


def test_search_orders_by_cosine_and_returns_payloads(store: Store, rng: np.random.Generator) -> None:
    points = document(rng, "/data/docs/a.pdf", range(1, 41))
    store.upsert(points)
    query = points[7].vector + 0.05 * unit_vectors(rng, 1)[0]
    hits = store.search(query * 3.0, limit=10)  # any length: the store normalises
    vectors = np.stack([p.vector for p in points])
    exact = vectors @ (query / np.linalg.norm(query))
    assert [h.id for h in hits] == [points[i].id for i in np.argsort(-exact)[:10]]
    assert [h.score for h in hits] == pytest.approx(sorted(exact, reverse=True)[:10], abs=1e-5)
    assert hits[0].payload == points[7].payload


def test_search_rejects_a_limit_below_one(store: Store, rng: np.random.Generator) -> None:
    with pytest.raises(QueryError, match="limit"):
        store.search(unit_vectors(rng, 1)[0], limit=0)


def test_retrieve_rejects_an_id_that_is_not_a_uuid(store: Store) -> None:
    with pytest.raises(QueryError, match="'../etc/passwd' is not a point id"):
        store.retrieve(["../etc/passwd"])


@pytest.mark.parametrize("bad", [np.zeros(DIM), np.full(DIM, np.nan)])
def test_a_zero_or_nan_vector_is_refused(store: Store, bad: np.ndarray) -> None:
    with pytest.raises(StoreError, match="not a usable embedding"):
        store.upsert([point(bad)])
    with pytest.raises(StoreError, match="not a usable embedding"):
        store.search(bad, limit=3)


def test_a_closed_store_says_so(tmp_path: Path) -> None:
    store = open_store(StoreSettings(), IndexSettings(), tmp_path / "qdrant")
    store.close()
    store.close()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        store.count()


# -- filters ---------------------------------------------------------------------------------------

SOURCES = [
    ("/data/docs/a.pdf", "page", 100.0),
    ("/data/docs/sub/b.pdf", "page", 200.0),
    ("/data/docs2/c.pdf", "page", 300.0),
    ("/data/pics/cat.jpg", "image", 400.0),
    ("/data/talk.mp4", "video", 500.0),
]


@pytest.fixture
def filled(store: Store, rng: np.random.Generator) -> Store:
    for source, modality, when in SOURCES:
        store.upsert(document(rng, source, range(1, 3), modality=modality, ingest_time=when))
    return store


def sources_found(store: Store, filters: Filters) -> set[str]:
    query = np.ones(DIM) / np.sqrt(DIM)
    return {hit.payload.source_path for hit in store.search(query, limit=100, filters=filters)}


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (Filters(path_prefix="/data/docs"), {"/data/docs/a.pdf", "/data/docs/sub/b.pdf"}),
        (Filters(path_prefix="/data/docs/"), {"/data/docs/a.pdf", "/data/docs/sub/b.pdf"}),
        (Filters(path_prefix="/data/docs/sub/b.pdf"), {"/data/docs/sub/b.pdf"}),
        (Filters(path_prefix="/data/do"), set()),  # whole components only
        (Filters(path_prefix="/"), {s for s, _, _ in SOURCES}),
        (Filters(modality="image"), {"/data/pics/cat.jpg"}),
        (Filters(modality="video"), {"/data/talk.mp4"}),
        (Filters(ingested_after=200.0, ingested_before=400.0), {"/data/docs/sub/b.pdf", "/data/docs2/c.pdf"}),
        (Filters(ingested_after=450.0), {"/data/talk.mp4"}),
        (
            Filters(path_prefix="/data", modality="page", ingested_before=250.0),
            {"/data/docs/a.pdf", "/data/docs/sub/b.pdf"},
        ),
        (Filters(), {s for s, _, _ in SOURCES}),
    ],
)
def test_filters_restrict_the_search(filled: Store, filters: Filters, expected: set[str]) -> None:
    assert sources_found(filled, filters) == expected


def test_filter_by_document_id(filled: Store) -> None:
    doc = next(d for d in filled.documents() if d.source_path == "/data/docs2/c.pdf")
    assert sources_found(filled, Filters(doc_id=doc.doc_id)) == {"/data/docs2/c.pdf"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"modality": "audio"}, "modality 'audio' is not one of page, image, video"),
        ({"path_prefix": "  "}, "path prefix is empty"),
        ({"ingested_after": 5.0, "ingested_before": 5.0}, "time range is empty"),
    ],
)
def test_bad_filters_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(QueryError, match=message):
        Filters(**kwargs)  # type: ignore[arg-type]


# -- MRL prefetch ----------------------------------------------------------------------------------


PREFETCH_ENGINES = ["edge", "local-here", "local-query-api"]


@pytest.mark.parametrize("engine", PREFETCH_ENGINES)
def test_prefetch_then_full_rescore_finds_the_exact_top_hits(
    tmp_path: Path, rng: np.random.Generator, engine: str
) -> None:
    vectors = unit_vectors(rng, 400, dim=128, decay=4.0)
    points = [point(v, f"/data/{i // 10}.pdf", page=i % 10 + 1) for i, v in enumerate(vectors)]
    queries = vectors[:20] + 0.3 * unit_vectors(rng, 20, dim=128, decay=4.0)
    index = IndexSettings(prefetch_dim=32, prefetch_limit=100)
    with open_engine(engine, index, tmp_path / "qdrant") as store:
        store.ensure_collection(MODEL, 128)
        store.upsert(points)
        for query in queries:
            exact = vectors @ (query / np.linalg.norm(query))
            best = np.argsort(-exact)[:10]
            hits = store.search(query, limit=10)
            assert [h.id for h in hits[:3]] == [points[i].id for i in best[:3]]
            assert len({h.id for h in hits} & {points[i].id for i in best}) >= 9
            # scores come from the full vector, not the 32-d prefetch vector
            assert hits[0].score == pytest.approx(exact[best[0]], abs=1e-5)


@pytest.mark.parametrize("engine", PREFETCH_ENGINES)
def test_prefetch_respects_filters(tmp_path: Path, rng: np.random.Generator, engine: str) -> None:
    index = IndexSettings(prefetch_dim=32, prefetch_limit=5)
    with open_engine(engine, index, tmp_path / "qdrant") as store:
        store.ensure_collection(MODEL, DIM)
        store.upsert(document(rng, "/data/a.pdf", range(1, 30)) + document(rng, "/data/b.pdf", range(1, 4)))
        hits = store.search(unit_vectors(rng, 1)[0], limit=10, filters=Filters(path_prefix="/data/b.pdf"))
    assert len(hits) == 3  # the filter reached the prefetch: its 10 slots were not spent on a.pdf
    assert {h.payload.source_path for h in hits} == {"/data/b.pdf"}


@pytest.mark.parametrize("engine", PREFETCH_ENGINES)
def test_prefetch_really_narrows_the_candidates(
    tmp_path: Path, rng: np.random.Generator, engine: str
) -> None:
    """Without MRL structure and with no room to spare, the 32-d prefetch misses some exact hits: proof
    that the two-stage path runs (an exact search would never miss)."""
    vectors = unit_vectors(rng, 400, dim=128)
    points = [point(v, f"/data/{i // 10}.pdf", page=i % 10 + 1) for i, v in enumerate(vectors)]
    index = IndexSettings(prefetch_dim=32, prefetch_limit=10)
    with open_engine(engine, index, tmp_path / "qdrant") as store:
        store.ensure_collection(MODEL, 128)
        store.upsert(points)
        missed = 0
        for query in unit_vectors(rng, 10, dim=128):
            best = {points[i].id for i in np.argsort(-(vectors @ query))[:10]}
            missed += len(best - {h.id for h in store.search(query, limit=10)})
    assert missed > 0


def test_all_rescoring_paths_give_the_same_hits_and_scores(tmp_path: Path, rng: np.random.Generator) -> None:
    """Local mode rescores a prefetch's candidates itself or inside its Query API; Qdrant Edge runs the
    Query API in Rust, as a server does. All three must agree."""
    vectors = unit_vectors(rng, 300, dim=128, decay=2.0)
    points = [point(v, f"/data/{i // 10}.pdf", page=i % 10 + 1) for i, v in enumerate(vectors)]
    queries = unit_vectors(rng, 5, dim=128, decay=2.0)
    index = IndexSettings(prefetch_dim=32, prefetch_limit=40)
    with open_store(StoreSettings(), index, tmp_path / "edge") as edge:
        edge.ensure_collection(MODEL, 128)
        edge.upsert(points)
        in_edge = [edge.search(q, limit=20, filters=Filters(path_prefix="/data")) for q in queries]
    with open_store(ENGINES["qdrant-local"], index, tmp_path / "q") as store:
        store.ensure_collection(MODEL, 128)
        store.upsert(points)
        assert isinstance(store, QdrantStore)
        for query, rust in zip(queries, in_edge, strict=True):
            store.rescore_in_client = True
            here = store.search(query, limit=20, filters=Filters(path_prefix="/data"))
            store.rescore_in_client = False
            there = store.search(query, limit=20, filters=Filters(path_prefix="/data"))
            assert [h.id for h in here] == [h.id for h in there] == [h.id for h in rust]
            assert [h.score for h in here] == pytest.approx([h.score for h in there], abs=1e-5)
            assert [h.score for h in rust] == pytest.approx([h.score for h in there], abs=1e-5)
            assert here[0].payload == there[0].payload == rust[0].payload


def test_ingest_says_when_it_builds_the_vector_index(
    tmp_path: Path, rng: np.random.Generator, capsys: pytest.CaptureFixture[str]
) -> None:
    """The graph build shows no progress of its own and takes minutes at scale: the CLI says so first."""
    from mmsearch.cli.ingest import _optimize
    from mmsearch.config import load_settings

    (tmp_path / "config.yaml").write_text("{}\n")
    small = load_settings(tmp_path / "config.yaml", {"data_dir": str(tmp_path / "data")})
    above = load_settings(
        tmp_path / "config.yaml", {"data_dir": str(tmp_path / "data"), "index": {"exact_below": 3}}
    )
    with open_store(StoreSettings(), above.index, tmp_path / "store") as store:
        store.ensure_collection(MODEL, DIM)
        store.upsert(document(rng, "/data/a.pdf", range(1, 6)))
        _optimize(store, small)
        assert capsys.readouterr().err == ""  # 5 points: searched exactly, nothing to say
        _optimize(store, above)
        said = capsys.readouterr().err
        assert said.startswith("Building the vector index over 5 points") and "Vector index ready in" in said


@pytest.mark.parametrize("engine", [*PREFETCH_ENGINES, "edge-full", "local-here-full"])
def test_nearest_finds_what_search_finds_with_only_the_version_read(
    tmp_path: Path, rng: np.random.Generator, engine: str
) -> None:
    """``nearest`` (the candidates of a search without the reranker) gives search's ids, scores and order,
    with each point's document and version, filters and prefetch alike."""
    prefetch = None if engine.endswith("-full") else 32
    index = IndexSettings(prefetch_dim=prefetch, prefetch_limit=20)
    with open_engine(engine.removesuffix("-full"), index, tmp_path / "q") as store:
        store.ensure_collection(MODEL, DIM)
        store.upsert(document(rng, "/data/a.pdf", range(1, 30)) + document(rng, "/data/b.pdf", range(1, 9)))
        for filters in (None, Filters(path_prefix="/data/b.pdf")):
            query = unit_vectors(rng, 1)[0]
            hits = store.search(query, limit=6, filters=filters)
            found = store.nearest(query, limit=6, filters=filters)
            assert [(c.id, c.doc_id, c.source_sha256) for c in found] == [
                (h.id, h.payload.doc_id, h.payload.source_sha256) for h in hits
            ]
            assert [c.score for c in found] == pytest.approx([h.score for h in hits], abs=1e-6)
        with pytest.raises(QueryError, match="limit"):
            store.nearest(query, limit=0)


def test_set_text_rewrites_only_the_text_fields_in_place(store: Store, rng: np.random.Generator) -> None:
    """What an OCR settings change does (``index.pipeline``): text, words, text source and search text
    rewritten on the same points; vector, id and every other field kept."""
    points = document(rng, "/data/docs/a.pdf", range(1, 4))
    store.upsert(points)
    target = points[1]
    new = replace(
        target.payload, text="Invoice 42", words=(0, 7, 1, 2, 30, 12), text_source="ocr",
        search_text="Invoice 42\na.pdf", ingest_time=5.0, page=99,
    )  # fmt: skip
    store.set_text({target.id: new})
    stored = store.retrieve([p.id for p in points])
    assert stored[target.id] == replace(new, ingest_time=target.payload.ingest_time, page=target.payload.page)
    assert stored[points[0].id] == points[0].payload and stored[points[2].id] == points[2].payload
    [best] = store.search(target.vector, limit=1)
    assert best.id == target.id and best.score == pytest.approx(1.0, abs=1e-5)
    store.set_text({})  # nothing to do
    with pytest.raises(StoreError):
        store.set_text({"not-a-uuid": new})


def labelled(points: list[Point], collection: str, groups: tuple[str, ...] = ()) -> list[Point]:
    return [replace(p, payload=replace(p.payload, collection=collection, groups=groups)) for p in points]


def test_facet_counts_points_by_kind_and_collection_within_the_filters_and_the_scope(
    store: Store, rng: np.random.Generator
) -> None:
    assert store.facet("modality") == []  # nothing yet
    store.upsert(
        document(rng, "/data/a.pdf", range(1, 4))
        + [point(unit_vectors(rng, 1)[0], "/data/b.jpg", modality="image")]
        + document(rng, "/data/c.mp4", range(1, 3), modality="video")
        + labelled(document(rng, "/data/legal/d.pdf", range(1, 3)), "legal")
        + labelled(document(rng, "/data/legal/e.pdf", range(1, 5)), "legal", ("execs",))
    )
    assert store.facet("modality") == [("page", 9), ("video", 2), ("image", 1)]
    assert store.facet("collection") == [("default", 6), ("legal", 6)]  # a tie: by value
    assert store.facet("modality", Filters(collection="default")) == [("page", 3), ("video", 2), ("image", 1)]
    assert store.facet("modality", Filters(modality="video")) == [("video", 2)]
    assert store.facet("modality", limit=1) == [("page", 9)]
    # The scope is added to the filters: a principal of legal outside the execs group counts 2 pages.
    staff = Scope(collections=frozenset({"legal"}), groups=frozenset({"staff"}))
    assert store.facet("collection", Filters(scope=staff)) == [("legal", 2)]
    assert store.facet("modality", Filters(collection="default", scope=staff)) == []
    with pytest.raises(QueryError, match="only by collection, modality"):
        store.facet("source_path")
    with pytest.raises(QueryError, match="at least 1"):
        store.facet("modality", limit=0)


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_facet_counts_the_metadata_keys_marked_as_facets(
    engine: str, tmp_path: Path, rng: np.random.Generator
) -> None:
    def tagged(points: list[Point], collection: str, metadata: dict[str, object]) -> list[Point]:
        return [
            replace(p, payload=replace(p.payload, collection=collection, metadata=metadata)) for p in points
        ]

    with open_store(ENGINES[engine], IndexSettings(facets=("department",)), tmp_path / "qdrant") as store:
        store.ensure_collection(MODEL, DIM)
        store.upsert(
            tagged(
                document(rng, "/data/a.pdf", range(1, 4)), "default", {"department": "sales", "year": 2024}
            )
            + tagged(document(rng, "/data/b.pdf", range(1, 3)), "legal", {"department": ["legal", "sales"]})
            + tagged(document(rng, "/data/c.pdf", range(1, 2)), "legal", {"department": 7})  # not a string
            + document(rng, "/data/d.pdf", range(1, 2))  # no metadata
        )
        assert store.facet("metadata.department") == [("sales", 5), ("legal", 2)]
        assert store.facet("metadata.department", Filters(collection="legal")) == [("legal", 2), ("sales", 2)]
        only_legal = Scope(collections=frozenset({"legal"}))
        assert store.facet("metadata.department", Filters(collection="default", scope=only_legal)) == []
        with pytest.raises(QueryError, match=r"only by collection, modality, metadata\.department"):
            store.facet("metadata.year")  # not marked as a facet
    if engine == "edge":  # a key marked later gets its index when the store is next opened for writing
        with open_store(
            StoreSettings(), IndexSettings(facets=("year", "department")), tmp_path / "qdrant"
        ) as store:
            assert isinstance(store, EdgeStore)
            assert "metadata.year" not in store.payload_index_types()
            store.ensure_collection(MODEL, DIM)
            kinds = store.payload_index_types()
            assert kinds["metadata.year"] == kinds["metadata.department"] == "keyword"
            assert store.facet("metadata.year") == []  # a number: not a keyword value


def test_facets_must_be_metadata_keys() -> None:
    assert IndexSettings(facets=["department", "year"]).facets == ("department", "year")
    for bad in (["a.b"], ["x", "x"], [f"k{i}" for i in range(17)]):
        with pytest.raises(ValueError):
            IndexSettings(facets=bad)
