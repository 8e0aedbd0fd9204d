"""``Searcher`` with the tiny embedder and embedded Qdrant: only committed versions are shown, and when
hidden points crowd the nearest candidates the store search widens (``WIDEN`` times, ``MAX_WIDENINGS``
at most) until enough visible ones are found or the store has no more — in every search mode. The modes:
a page's unique token puts it first in keyword and hybrid mode; a keyword search without words is
refused; an image-only hybrid search runs (and says it ran) as vector."""

from __future__ import annotations

import uuid
import zlib
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
from PIL import Image

from mmsearch import components
from mmsearch.errors import EmptyCollection, QueryError
from mmsearch.index.embedder import Embedder
from mmsearch.index.inputs import Content
from mmsearch.index.settings import IndexSettings, StoreSettings
from mmsearch.index.store import Candidate, Filters, Payload, Point, Scope, ScoredPoint, SearchMode, Store
from mmsearch.index.store_registry import open_store
from mmsearch.search.searcher import MAX_WIDENINGS, WIDEN, Committed, Query, Searcher
from tests.support import tiny_settings

QUERY = "a heron standing in shallow water"
INSTRUCTION = "Find a document image that matches the given query."


class CountingStore:
    """The real store, with the limits ``Searcher`` asked it for recorded (the widening steps)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.asked: list[int] = []
        self.counted: list[Filters | None] = []
        self.retrieved: list[list[str]] = []
        self.before_retrieve: Callable[[], object] | None = None  # runs between nearest and retrieve

    def search(
        self, vector: np.ndarray | None, limit: int, filters: Filters | None = None, **lexical: Any
    ) -> list[ScoredPoint]:
        self.asked.append(limit)
        return self.store.search(vector, limit, filters, **lexical)

    def nearest(
        self, vector: np.ndarray | None, limit: int, filters: Filters | None = None, **lexical: Any
    ) -> list[Candidate]:
        self.asked.append(limit)
        found = self.store.nearest(vector, limit, filters, **lexical)
        if self.before_retrieve is not None:
            self.before_retrieve()
        return found

    def retrieve(self, ids: Sequence[str]) -> dict[str, Payload]:
        self.retrieved.append(list(ids))
        return self.store.retrieve(ids)

    def count(self, filters: Filters | None = None) -> int:
        self.counted.append(filters)
        return self.store.count(filters)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


@pytest.fixture(scope="module")
def embedder(tiny_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Embedder:
    return components.build_embedder(tiny_settings(tmp_path_factory.mktemp("emb") / "data", tiny_models))


@pytest.fixture(scope="module")
def query_vector(embedder: Embedder) -> np.ndarray:
    vector: np.ndarray = embedder.embed([Content(text=QUERY)], INSTRUCTION)[0]
    return vector


@pytest.fixture
def store(tmp_path: Path, embedder: Embedder) -> Iterator[CountingStore]:
    with open_store(StoreSettings(), IndexSettings(), tmp_path / "qdrant") as opened:
        opened.ensure_collection(embedder.model_id, embedder.dim)
        yield CountingStore(opened)


def near(query: np.ndarray, distance: float, seed: str) -> np.ndarray:
    """A unit vector at cosine ``1 / sqrt(1 + distance²)`` to ``query`` (``query`` plus ``distance`` times
    a random unit vector orthogonal to it): smaller is nearer, whatever the direction."""
    noise = np.random.default_rng(zlib.crc32(seed.encode())).normal(size=query.shape)
    noise -= (noise @ query) * query
    vector = query + distance * noise / np.linalg.norm(noise)
    return vector / np.linalg.norm(vector)


def points(
    embedder: Embedder,
    query: np.ndarray,
    source: str,
    version: str,
    distances: Sequence[float],
    words: str | None = None,
) -> list[Point]:
    """One point per distance, of the document at ``source`` as its bytes ``version`` made it (its text:
    ``words``, else its path, version and number)."""
    doc_id = doc_of(source)
    out = []
    for i, distance in enumerate(distances):
        payload = Payload(
            doc_id=doc_id, source_path=source, modality="image", text=words or f"{source} {version} {i}",
            media_paths=[], content_hash=f"{version}-{i}", source_sha256=version, ingest_time=1000.0,
            model_id=embedder.model_id, dim=embedder.dim,
        )  # fmt: skip
        point_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{source}#{version}#{i}"))
        out.append(Point(point_id, near(query, distance, f"{source}#{version}#{i}"), payload))
    return out


def doc_of(source: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, source))


def manifest(versions: dict[str, str]) -> tuple[list[Collection[str]], Committed]:
    """A committed-versions lookup over ``versions`` (path → sha256; asked by document id, as the real one
    is) that records what it was asked, as paths."""
    asked: list[Collection[str]] = []
    by_id = {doc_of(path): (path, sha) for path, sha in versions.items()}
    paths_of = {doc_of(f"/docs/{c}.png"): f"/docs/{c}.png" for c in "abc"} | {doc_of(p): p for p in versions}

    def committed(doc_ids: Collection[str]) -> Mapping[str, str]:
        asked.append({paths_of.get(d, d) for d in doc_ids})
        return {d: by_id[d][1] for d in doc_ids if d in by_id}

    return asked, committed


def searcher(
    embedder: Embedder,
    store: CountingStore,
    tmp_path: Path,
    committed: Committed | None,
    mode: SearchMode = "vector",
) -> Searcher:
    return Searcher(
        embedder=embedder, store=cast(Store, store), reranker=None, data_dir=tmp_path,
        query_instruction=INSTRUCTION, candidates=5, top_k=5, committed=committed, mode=mode,
    )  # fmt: skip


def test_only_the_committed_version_of_each_file_is_shown(
    embedder: Embedder, query_vector: np.ndarray, store: CountingStore, tmp_path: Path
) -> None:
    old = points(embedder, query_vector, "/docs/a.png", "v1", [0.9, 1.0])
    new = points(embedder, query_vector, "/docs/a.png", "v2", [0.5, 0.6])  # still being written
    other = points(embedder, query_vector, "/docs/b.png", "v1", [0.8])
    orphan = points(embedder, query_vector, "/docs/c.png", "v1", [0.1])  # never committed
    store.upsert(old + new + other + orphan)
    asked, committed = manifest({"/docs/a.png": "v1", "/docs/b.png": "v1"})

    result = searcher(embedder, store, tmp_path, committed).search(Query(text=QUERY))
    assert {h.point_id for h in result.hits} == {p.id for p in old + other}
    assert result.candidates == 3 and not result.reranked
    assert set(asked[0]) == {"/docs/a.png", "/docs/b.png", "/docs/c.png"}  # the 5 candidates' paths

    _, committed = manifest({"/docs/a.png": "v2", "/docs/b.png": "v1"})  # the commit of v2
    result = searcher(embedder, store, tmp_path, committed).search(Query(text=QUERY))
    assert {h.point_id for h in result.hits} == {p.id for p in new + other}
    assert [h.score for h in result.hits] == sorted((h.score for h in result.hits), reverse=True)


def test_without_a_manifest_every_point_is_a_candidate(
    embedder: Embedder, query_vector: np.ndarray, store: CountingStore, tmp_path: Path
) -> None:
    both = points(embedder, query_vector, "/docs/a.png", "v1", [0.3]) + points(
        embedder, query_vector, "/docs/a.png", "v2", [0.4]
    )
    store.upsert(both)
    result = searcher(embedder, store, tmp_path, None).search(Query(text=QUERY))
    assert {h.point_id for h in result.hits} == {p.id for p in both}
    assert store.asked == [6]  # no widening without a visibility filter (5 hits and 1: is there more?)


@pytest.mark.parametrize("mode", ["vector", "keyword", "hybrid"])
def test_hidden_points_nearer_than_the_visible_ones_widen_the_search(
    embedder: Embedder, query_vector: np.ndarray, store: CountingStore, tmp_path: Path, mode: SearchMode
) -> None:
    """In every mode: the hidden points are the nearer and hold the query's word more often (the better
    BM25 match), the visible ones less often (a hybrid search ranks them below too)."""
    hidden = points(embedder, query_vector, "/docs/new.png", "v2", [0.05] * 30, "heron heron heron")
    visible = points(embedder, query_vector, "/docs/old.png", "v1", [1.0, 1.1, 1.2, 1.3, 1.4, 1.5], "heron")
    store.upsert(hidden + visible)
    _, committed = manifest({"/docs/old.png": "v1"})

    result = searcher(embedder, store, tmp_path, committed, mode).search(Query(text=QUERY), top_k=5)
    assert result.mode == mode
    assert store.asked == [6, 6 * WIDEN, 6 * WIDEN**2]  # 6 and 24 were all hidden; 96 holds 6 visible
    assert len(result.hits) == 5
    assert {h.point_id for h in result.hits} <= {p.id for p in visible}
    if mode == "vector":
        assert result.hits[0].point_id == visible[0].id  # the nearest visible one first


def test_a_pages_unique_token_puts_it_first_in_keyword_and_hybrid_mode(
    embedder: Embedder, query_vector: np.ndarray, store: CountingStore, tmp_path: Path
) -> None:
    """The page holding the token is the farthest by vector: vector mode ranks it last, keyword and
    hybrid first (hybrid: RRF of the two lists, when the query names the token alone; with another word
    the near pages hold too they rank first in both lists and win the fusion). A keyword search embeds
    nothing."""
    near = points(embedder, query_vector, "/docs/near.png", "v1", [0.1, 0.2, 0.3], "a heron in water")
    token = points(embedder, query_vector, "/docs/far.png", "v1", [3.0], "invoice qz5521 due")
    store.upsert(near + token)
    found = {}
    for mode in ("vector", "keyword", "hybrid"):
        result = searcher(embedder, store, tmp_path, None, mode).search(Query(text="heron qz5521"))
        found[mode] = [h.point_id for h in result.hits]
        assert result.mode == mode and ("embed" in result.timings_ms) == (mode != "keyword")
    assert found["vector"][-1] == token[0].id
    assert found["keyword"][0] == token[0].id  # qz5521 is rarer than heron: the better BM25 score
    assert set(found["keyword"][1:]) == {p.id for p in near}
    hybrid = searcher(embedder, store, tmp_path, None, "hybrid").search(Query(text="qz5521"))
    assert hybrid.hits[0].point_id == token[0].id  # first of one list, fourth of the other: RRF first
    phrase = searcher(embedder, store, tmp_path, None, "keyword").search(
        Query(text='"heron in water" qz5521')
    )
    assert {h.point_id for h in phrase.hits} == {p.id for p in near}  # the phrase binds, qz5521 alone not
    assert not searcher(embedder, store, tmp_path, None, "keyword").search(Query(text='"water heron"')).hits


def test_a_keyword_search_needs_words_and_an_image_only_hybrid_search_is_vector(
    embedder: Embedder, query_vector: np.ndarray, store: CountingStore, tmp_path: Path
) -> None:
    store.upsert(points(embedder, query_vector, "/docs/a.png", "v1", [0.5], "heron"))
    image = Image.new("RGB", (64, 64), (20, 120, 200))
    search = searcher(embedder, store, tmp_path, None, "hybrid")
    with pytest.raises(QueryError, match="keyword search needs words"):
        search.search(Query(image=image), mode="keyword")
    with pytest.raises(QueryError, match="keyword search needs words"):
        search.search(Query(text="?! …"), mode="keyword")
    with pytest.raises(QueryError, match="not one of hybrid, vector, keyword"):
        search.search(Query(text="heron"), mode="fuzzy")  # type: ignore[arg-type]
    result = search.search(Query(image=image))
    assert result.mode == "vector" and len(result.hits) == 1
    assert search.search(Query(text="heron", image=image)).mode == "hybrid"
    assert search.search(Query(text="heron"), include_text=True).hits[0].text == "heron"
    assert search.search(Query(text="heron")).hits[0].text is None


def test_widening_stops_when_the_store_has_no_more_points(
    embedder: Embedder, query_vector: np.ndarray, store: CountingStore, tmp_path: Path
) -> None:
    hidden = points(embedder, query_vector, "/docs/new.png", "v2", [0.05] * 6)
    visible = points(embedder, query_vector, "/docs/old.png", "v1", [1.0, 1.1])
    store.upsert(hidden + visible)
    _, committed = manifest({"/docs/old.png": "v1"})

    result = searcher(embedder, store, tmp_path, committed).search(Query(text=QUERY), top_k=5)
    assert store.asked == [6, 24]  # 24 returned all 8 points: asking more cannot find any other
    assert [h.point_id for h in result.hits] == [visible[0].id, visible[1].id]


def test_widening_gives_up_after_max_widenings(
    embedder: Embedder, query_vector: np.ndarray, store: CountingStore, tmp_path: Path
) -> None:
    """With one hit asked (two points: the second tells whether a next page exists), the last store search
    takes ``2 * WIDEN**MAX_WIDENINGS`` points: a visible point behind that many hidden ones is not found (a
    bounded search, not a scan of the collection), one behind one hidden point fewer is."""
    last = 2 * WIDEN**MAX_WIDENINGS
    hidden = points(embedder, query_vector, "/docs/new.png", "v2", [0.05] * last)
    visible = points(embedder, query_vector, "/docs/old.png", "v1", [1.5])
    store.upsert(hidden + visible)
    _, committed = manifest({"/docs/old.png": "v1"})
    search = searcher(embedder, store, tmp_path, committed)

    assert search.search(Query(text=QUERY), top_k=1, candidates=1).hits == ()
    assert store.asked == [2 * WIDEN**i for i in range(MAX_WIDENINGS + 1)]

    store.delete_stale(hidden[0].payload.doc_id, keep={p.id for p in hidden[1:]})
    assert [h.point_id for h in search.search(Query(text=QUERY), top_k=1, candidates=1).hits] == [
        visible[0].id
    ]


def test_an_empty_collection_and_an_empty_query_are_refused(
    embedder: Embedder, store: CountingStore, tmp_path: Path
) -> None:
    search = searcher(embedder, store, tmp_path, None)
    with pytest.raises(EmptyCollection, match="ingest some files first"):
        search.search(Query(text="anything"))
    with pytest.raises(QueryError, match="empty query"):
        search.search(Query(text="   "))


def test_a_search_that_finds_points_counts_nothing(
    embedder: Embedder, query_vector: np.ndarray, store: CountingStore, tmp_path: Path
) -> None:
    store.upsert(points(embedder, query_vector, "/docs/a.png", "v1", [0.5, 0.6]))
    search = searcher(embedder, store, tmp_path, None)
    for _ in range(3):
        assert len(search.search(Query(text=QUERY)).hits) == 2
    assert store.counted == []  # emptiness is asked only when a search finds nothing


def test_a_scope_with_nothing_in_it_is_no_hits_not_an_empty_collection(
    embedder: Embedder, query_vector: np.ndarray, store: CountingStore, tmp_path: Path
) -> None:
    """The store is asked whether it is empty as a whole, never within the caller's scope: a principal
    whose collections hold nothing gets no hits, as before, and learns nothing of other collections."""
    store.upsert(points(embedder, query_vector, "/docs/a.png", "v1", [0.5]))  # collection "default"
    search = searcher(embedder, store, tmp_path, None)
    elsewhere = Filters(scope=Scope(collections=frozenset({"legal"})))
    result = search.search(Query(text=QUERY, filters=elsewhere))
    assert result.hits == () and result.candidates == 0
    assert store.counted == [None]  # the whole store's count, not the scope's
    hidden = searcher(embedder, store, tmp_path, manifest({})[1])  # points, none committed: no hits either
    assert hidden.search(Query(text=QUERY)).hits == ()


def test_without_the_reranker_only_the_hits_payloads_are_read(
    embedder: Embedder, query_vector: np.ndarray, store: CountingStore, tmp_path: Path
) -> None:
    """Candidates are found with their versions only (``Store.nearest``); the whole payload is read for
    the ``top_k`` hits, and the hits are those the full read gives, payloads and scores alike."""
    pts = points(embedder, query_vector, "/docs/a.png", "v1", [0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    store.upsert(pts)
    _, committed = manifest({"/docs/a.png": "v1"})
    search = searcher(embedder, store, tmp_path, committed)
    result = search.search(Query(text=QUERY), top_k=2, candidates=5)
    full = store.store.search(query_vector, 5)  # what every candidate's whole payload read gives
    assert [h.point_id for h in result.hits] == [p.id for p in full[:2]]
    assert [h.vector_score for h in result.hits] == [p.score for p in full[:2]]
    assert [h.snippet for h in result.hits] == [p.payload.text for p in full[:2]]
    assert store.retrieved == [[p.id for p in full[:2]]] and result.candidates == 5


def test_a_hit_deleted_between_the_search_and_its_payload_read_is_dropped(
    embedder: Embedder, query_vector: np.ndarray, store: CountingStore, tmp_path: Path
) -> None:
    near, far = (
        points(embedder, query_vector, f"/docs/{c}.png", "v1", [d]) for c, d in (("a", 0.1), ("b", 0.5))
    )
    store.upsert(near + far)
    store.before_retrieve = lambda: store.store.delete_document(doc_of("/docs/a.png"))
    result = searcher(embedder, store, tmp_path, None).search(Query(text=QUERY))
    assert [h.point_id for h in result.hits] == [far[0].id]


def test_pages_without_the_reranker_are_slices_of_one_ranked_list(
    embedder: Embedder, query_vector: np.ndarray, store: CountingStore, tmp_path: Path
) -> None:
    """Consecutive offsets give consecutive slices of one ranking: no overlap, no gap, ranks running on,
    ``next_offset`` until the last page."""
    store.upsert(points(embedder, query_vector, "/docs/a.png", "v1", [0.1 * (i + 1) for i in range(7)]))
    search = searcher(embedder, store, tmp_path, None)
    whole = search.search(Query(text=QUERY), top_k=7)
    pages = [search.search(Query(text=QUERY), top_k=3)]
    while (offset := pages[-1].next_offset) is not None:
        pages.append(search.search(Query(text=QUERY), top_k=3, offset=offset))
    assert [len(p.hits) for p in pages] == [3, 3, 1]
    assert [h.point_id for p in pages for h in p.hits] == [h.point_id for h in whole.hits]
    assert [h.rank for p in pages for h in p.hits] == list(range(1, 8))
    assert whole.next_offset is None and pages[0].next_offset == 3
    assert search.search(Query(text=QUERY), top_k=3, offset=9).hits == ()


def test_collapse_by_document_reads_on_past_one_documents_many_points(
    embedder: Embedder, query_vector: np.ndarray, store: CountingStore, tmp_path: Path
) -> None:
    """One document's 20 nearest points stand for it once; the search widens until it has the page and one
    more (or the store runs out), each document at its best point."""
    many = points(embedder, query_vector, "/docs/a.png", "v1", [0.05 + 0.001 * i for i in range(20)])
    others = [
        points(embedder, query_vector, f"/docs/{c}.png", "v1", [d, d + 0.5])
        for c, d in (("b", 1.0), ("c", 1.1))
    ]
    store.upsert(many + others[0] + others[1])
    search = searcher(embedder, store, tmp_path, None)
    result = search.search(Query(text=QUERY), top_k=3, collapse="document")
    assert [h.point_id for h in result.hits] == [many[0].id, others[0][0].id, others[1][0].id]
    assert store.asked == [5, 20, 80] and result.next_offset is None  # 24 points: all of them read
    assert [h.rank for h in result.hits] == [1, 2, 3]


def test_collapse_by_content_keeps_one_of_the_same_bytes_under_two_names(
    embedder: Embedder, query_vector: np.ndarray, store: CountingStore, tmp_path: Path
) -> None:
    first = points(embedder, query_vector, "/docs/a.png", "v1", [0.1, 0.3])
    copy = points(embedder, query_vector, "/docs/copy-of-a.png", "v1", [0.2, 0.4])  # same content hashes
    store.upsert(first + copy)
    search = searcher(embedder, store, tmp_path, None)
    assert len(search.search(Query(text=QUERY)).hits) == 4
    result = search.search(Query(text=QUERY), collapse="content")
    assert [h.point_id for h in result.hits] == [first[0].id, first[1].id]
    assert [h.content_hash for h in result.hits] == ["v1-0", "v1-1"]


def test_min_score_is_a_floor_on_the_score_and_stops_the_widening(
    embedder: Embedder, query_vector: np.ndarray, store: CountingStore, tmp_path: Path
) -> None:
    many = points(embedder, query_vector, "/docs/a.png", "v1", [0.05 + 0.001 * i for i in range(30)])
    far = points(embedder, query_vector, "/docs/b.png", "v1", [3.0])
    below = points(embedder, query_vector, "/docs/c.png", "v1", [4.0 + 0.01 * i for i in range(60)])
    store.upsert(many + far + below)
    search = searcher(embedder, store, tmp_path, None)
    floor = 0.5  # cosine 1/sqrt(1 + 0.05²) ≈ 0.999 for a's points, 1/sqrt(10) ≈ 0.32 for b's
    result = search.search(Query(text=QUERY), top_k=3, collapse="document", min_score=floor)
    assert [h.point_id for h in result.hits] == [many[0].id]
    assert all(h.score >= floor for h in result.hits)
    assert store.asked == [5, 20, 80]  # 80 (of 91) reached below the floor: nothing further can pass it
    assert search.search(Query(text=QUERY), min_score=1.5).hits == ()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"top_k": 10, "offset": 991}, "at most 1000"),
        ({"offset": -1}, "offset ≥ 0"),
        ({"collapse": "page"}, "collapse 'page' is not one of document, content"),
    ],
)
def test_bad_page_options_are_refused(
    embedder: Embedder, store: CountingStore, tmp_path: Path, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(QueryError, match=message):
        searcher(embedder, store, tmp_path, None).search(Query(text=QUERY), **options)


def test_a_batch_embeds_its_queries_in_one_call_with_the_vectors_of_single_searches(
    embedder: Embedder, query_vector: np.ndarray, store: CountingStore, tmp_path: Path
) -> None:
    store.upsert(points(embedder, query_vector, "/docs/a.png", "v1", [0.1, 0.2, 0.3]))
    calls: list[int] = []

    class Counting:
        model_id, dim = embedder.model_id, embedder.dim

        def embed(self, items: Sequence[Content], instruction: str) -> np.ndarray:
            calls.append(len(items))
            return embedder.embed(items, instruction)

    search = Searcher(
        embedder=cast(Embedder, Counting()), store=cast(Store, store), reranker=None, data_dir=tmp_path,
        query_instruction=INSTRUCTION, candidates=5, top_k=5,
    )  # fmt: skip
    queries = [Query(text=QUERY), Query(text="a red square"), Query(text=QUERY, filters=Filters(doc_id="x"))]
    vectors = search.embed_queries(queries)
    assert calls == [3] and vectors.shape == (3, embedder.dim)
    batched = [search.search(q, vector=v) for q, v in zip(queries, vectors, strict=True)]
    assert calls == [3]  # the searches embedded nothing more
    for query, result in zip(queries, batched, strict=True):
        alone = search.search(query)
        assert [h.point_id for h in result.hits] == [h.point_id for h in alone.hits]
        assert [h.score for h in result.hits] == pytest.approx([h.score for h in alone.hits], abs=1e-4)
    assert batched[2].hits == ()  # each query keeps its own filters
    with pytest.raises(QueryError, match="empty query"):
        search.embed_queries([Query(text=QUERY), Query(text=" ")])


def test_hits_carry_snippet_ranges_and_content_hash_and_their_text_only_when_asked(
    embedder: Embedder, query_vector: np.ndarray, store: CountingStore, tmp_path: Path
) -> None:
    store.upsert(points(embedder, query_vector, "/docs/a.png", "v1", [0.1, 0.2]))
    search = searcher(embedder, store, tmp_path, None)
    plain = search.search(Query(text="V1 of the docs"), top_k=2)
    assert [h.content_hash for h in plain.hits] == ["v1-0", "v1-1"]
    assert all(h.text is None and not h.text_truncated for h in plain.hits)
    assert [[h.snippet[a:b] for a, b in h.snippet_ranges] for h in plain.hits] == [["docs", "v1"]] * 2
    full = search.search(Query(text="V1"), top_k=2, include_text=True)
    assert [h.text for h in full.hits] == ["/docs/a.png v1 0", "/docs/a.png v1 1"]
    assert full.hits[0].to_dict()["snippet_ranges"] == [[12, 14]] and full.mode == "vector"
    for mode in ("hybrid", "keyword"):
        assert search.search(Query(text="v1"), mode=mode).mode == mode
    assert search.search(Query(text="v1"), mode="vector").hits
