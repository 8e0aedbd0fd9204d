"""A store written before collections existed is upgraded in place when opened for writing: every point
gets ``collection: default``, a name (its file's base name, never the server path), empty groups and
metadata — without re-embedding — and the collection gets the payload indexes it lacks (the collection as
a tenant index). Idempotent, and a run cut short is finished by the next.

So is a store written before the lexical stage (issue 20): each point gets its ``search_text`` (built as a
new point's is) and the collection its text index, after which it is searched in keyword and hybrid
mode with its vectors untouched; a change of ``index.lexical`` rebuilds the text index in place."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import qdrant_edge as qe

from mmsearch.errors import QueryError, StoreError
from mmsearch.index import checked
from mmsearch.index.checked import CheckedStore
from mmsearch.index.edge_store import EdgeStore, write_json_atomically
from mmsearch.index.qdrant_store import QdrantStore
from mmsearch.index.schema import LEXICAL, NAME_PREFIXES, PATH_PREFIXES, SEARCH_TEXT, stored_payload
from mmsearch.index.settings import IndexSettings, LexicalSettings, StoreSettings
from mmsearch.index.store import Filters, Lexical, Point, Scope
from mmsearch.index.store_registry import open_store
from tests.index.test_store import DIM, ENGINES, MODEL, document, point

NEW_KEYS = ("collection", "name", "groups", "metadata", SEARCH_TEXT, NAME_PREFIXES)
DEFAULT_ONLY = Filters(scope=Scope(collections=frozenset({"default"})))


def old_points(n_docs: int = 5) -> list[Point]:
    rng = np.random.default_rng(11)
    return [
        p for i in range(n_docs) for p in document(rng, f"/home/ann/corpus/sub{i}/file{i}.pdf", range(1, 4))
    ]


def old_payload(point: Point) -> dict[str, Any]:
    """The payload as the version before collections stored it."""
    return {k: v for k, v in stored_payload(point.payload).items() if k not in NEW_KEYS}


def write_old_edge(
    path: Path, points: list[Point], payload: Callable[[Point], dict[str, Any]] = old_payload
) -> None:
    with open_store(StoreSettings(), IndexSettings(), path) as store:
        assert isinstance(store, EdgeStore)
        store.ensure_collection(MODEL, DIM)
        shard = store._open_shard()
        for name in ("collection", "name", "groups", SEARCH_TEXT, NAME_PREFIXES):  # the old schema: none
            shard.update(qe.UpdateOperation.delete_field_index(name))
        meta = json.loads(store.meta_file.read_text())
        write_json_atomically(store.meta_file, {k: v for k, v in meta.items() if k != LEXICAL})
        store.upsert_raw([qe.Point(p.id, {"full": p.vector.tolist()}, payload(p)) for p in points])


def write_old_local(
    path: Path, points: list[Point], payload: Callable[[Point], dict[str, Any]] = old_payload
) -> None:
    from qdrant_client import models

    with open_store(ENGINES["qdrant-local"], IndexSettings(), path) as store:
        assert isinstance(store, QdrantStore)
        store.ensure_collection(MODEL, DIM)
        store.client.delete_payload_index(store.collection, SEARCH_TEXT)
        meta = {k: v for k, v in store._mmsearch_meta().items() if k != LEXICAL}
        store.client.update_collection(store.collection, metadata={"mmsearch": meta})
        structs = [
            models.PointStruct(id=p.id, vector={"full": p.vector.tolist()}, payload=payload(p))
            for p in points
        ]
        store.client.upsert(store.collection, structs, wait=True)


WRITERS = {"edge": write_old_edge, "qdrant-local": write_old_local}


@contextmanager
def reopened(engine: str, path: Path) -> Iterator[CheckedStore]:
    with open_store(ENGINES[engine], IndexSettings(), path) as store:
        assert isinstance(store, CheckedStore)
        yield store


@pytest.mark.parametrize("engine", sorted(WRITERS))
def test_an_old_store_is_upgraded_in_place_once_it_is_opened_for_writing(tmp_path: Path, engine: str) -> None:
    points = old_points()
    WRITERS[engine](tmp_path / "qdrant", points)
    with reopened(engine, tmp_path / "qdrant") as store:
        assert store.count(DEFAULT_ONLY) == 0  # before: no point says its collection
        assert {d.name for d in store.documents()} == {f"file{i}.pdf" for i in range(5)}  # read as such
        before = {p.id: p for p in points}
        store.ensure_collection(MODEL, DIM)  # a writer or the server opens it
        assert store.count(DEFAULT_ONLY) == len(points)
        payloads = store.retrieve(list(before))
        for point_id, payload in payloads.items():
            assert (payload.collection, payload.groups, dict(payload.metadata)) == ("default", (), {})
            assert payload.name == f"file{payload.source_path[-5]}.pdf"  # the base name, not /home/ann/…
            assert payload.source_path == before[point_id].payload.source_path
            assert payload.text == before[point_id].payload.text
        hit = store.search(points[4].vector, limit=1)[0]
        assert (hit.id, hit.score) == (points[4].id, pytest.approx(1.0, abs=1e-5))  # vectors untouched
        assert store.documents(Filters(name="file3.pdf"))[0].units == 3
        assert store.search(points[0].vector, 5, Filters(path_prefix="/home/ann/corpus/sub0"))  # kept
        assert store.upgrade() == 0  # nothing left: idempotent
    with reopened(engine, tmp_path / "qdrant") as store:
        assert store.upgrade() == 0
        assert store.count() == len(points)


def test_edge_gets_the_payload_indexes_it_lacks_with_the_collection_as_tenant(tmp_path: Path) -> None:
    write_old_edge(tmp_path / "qdrant", old_points(1))
    with reopened("edge", tmp_path / "qdrant") as store:
        assert isinstance(store, EdgeStore)
        assert not {"collection", "name", "groups"} & set(store.payload_index_types())
        store.ensure_collection(MODEL, DIM)
        kinds = store.payload_index_types()
        shard_schema = store._open_shard().info().payload_schema
    assert kinds == {
        "collection": "keyword", "doc_id": "keyword", "modality": "keyword", PATH_PREFIXES: "keyword",
        "name": "keyword", "groups": "keyword", "ingest_time": "float", NAME_PREFIXES: "keyword", SEARCH_TEXT: "text",
    }  # fmt: skip
    params = shard_schema["collection"].params
    assert isinstance(params, qe.KeywordIndexParams) and params.is_tenant


def test_an_upgrade_cut_short_is_finished_by_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    points = old_points()  # 15 points
    write_old_edge(tmp_path / "qdrant", points)
    monkeypatch.setattr(checked, "SCROLL_PAGE", 4)
    writes = 0
    real = EdgeStore._set_payload

    def crash_on_the_third_write(self: EdgeStore, ids: list[str], values: dict[str, Any]) -> None:
        nonlocal writes
        writes += 1
        if writes == 3:
            raise RuntimeError("killed")
        real(self, ids, values)

    monkeypatch.setattr(EdgeStore, "_set_payload", crash_on_the_third_write)
    with reopened("edge", tmp_path / "qdrant") as store, pytest.raises(StoreError, match="killed"):
        store.ensure_collection(MODEL, DIM)
    monkeypatch.setattr(EdgeStore, "_set_payload", real)
    with reopened("edge", tmp_path / "qdrant") as store:
        done = store.count(DEFAULT_ONLY)
        assert 0 < done < len(points)  # the first writes stayed
        assert store.upgrade() == len(points) - done
        assert store.count(DEFAULT_ONLY) == len(points)


def test_a_point_named_but_without_a_name_gets_its_base_name_and_keeps_its_collection(tmp_path: Path) -> None:
    """Points written between the contract and named ingest: collection set, name empty."""
    point = old_points(1)[0]
    with open_store(StoreSettings(), IndexSettings(), tmp_path / "qdrant") as store:
        assert isinstance(store, EdgeStore)
        store.ensure_collection(MODEL, DIM)
        payload = {
            **old_payload(point),
            "collection": "finance",
            "name": "",
            "groups": ["g"],
            "metadata": {"a": 1},
        }
        store.upsert_raw([qe.Point(point.id, {"full": point.vector.tolist()}, payload)])
        assert store.upgrade() == 1
        got = store.retrieve([point.id])[point.id]
    assert (got.collection, got.name, got.groups, dict(got.metadata)) == (
        "finance",
        "file0.pdf",
        ("g",),
        {"a": 1},
    )


def test_a_server_collection_gets_its_indexes_and_its_points_upgraded(tmp_path: Path) -> None:
    """Over Qdrant's REST protocol (the loopback fake of tests/qdrant_server.py): the missing payload
    indexes, the collection's with ``is_tenant``, then the points' new payload keys by id."""
    from qdrant_client import models

    from tests.qdrant_server import fake_qdrant

    points = old_points(2)
    with fake_qdrant() as (url, fake):
        with open_store(StoreSettings(url=url), IndexSettings(), tmp_path / "unused") as store:
            assert isinstance(store, QdrantStore)
            store.ensure_collection(MODEL, DIM)
            stored = fake.collections["mmsearch"]
            for name in ("collection", "name", "groups", SEARCH_TEXT, NAME_PREFIXES):  # as an older version
                del stored["indexes"][name]
            stored["create"].metadata["mmsearch"].pop(LEXICAL)
            structs = [
                models.PointStruct(id=p.id, vector={"full": p.vector.tolist()}, payload=old_payload(p))
                for p in points
            ]
            store.client.upsert(store.collection, structs, wait=True)
        with open_store(StoreSettings(url=url), IndexSettings(), tmp_path / "unused") as store:
            store.ensure_collection(MODEL, DIM)
            assert store.count(DEFAULT_ONLY) == len(points)
            names = {d.name for d in store.documents(Filters(collection="default"))}
        tenant = stored["indexes"]["collection"]
        assert isinstance(tenant, models.KeywordIndexParams) and tenant.is_tenant
        assert set(stored["indexes"]) == {
            "collection",
            "doc_id",
            "modality",
            PATH_PREFIXES,
            "name",
            "groups",
            "ingest_time",
            SEARCH_TEXT,
            NAME_PREFIXES,
        }
        assert ("POST", "/collections/mmsearch/points/batch") in fake.requests  # one request a page
    assert names == {"file0.pdf", "file1.pdf"}


def main_payload(p: Point) -> dict[str, Any]:
    """As main stored a point before the lexical stage: ``search_text`` empty (every other point: absent,
    as before the field existed)."""
    stored = stored_payload(p.payload)
    return (
        {**stored, SEARCH_TEXT: ""}
        if int(p.id[-1], 16) % 2
        else {k: v for k, v in stored.items() if k != SEARCH_TEXT}
    )


@pytest.mark.parametrize("engine", sorted(WRITERS))
def test_a_store_made_before_the_lexical_stage_is_searched_in_hybrid_mode_after_its_upgrade(
    tmp_path: Path, engine: str
) -> None:
    rng = np.random.default_rng(5)
    texts = ["net revenue by region", "the part number zr7731 appears here", "minutes of the board"]
    points = [
        point(v, f"/docs/r{i}.pdf", text=t)
        for i, (v, t) in enumerate(zip(rng.normal(size=(3, DIM)), texts, strict=True))
    ]
    WRITERS[engine](tmp_path / "qdrant", points, main_payload)
    with reopened(engine, tmp_path / "qdrant") as store:
        assert not store.has_text_index()
        with pytest.raises(StoreError, match="no text index yet"):
            store.search(None, 3, lexical=Lexical("zr7731"))
        store.ensure_collection(MODEL, DIM)  # a writer or the server opens it
        assert store.has_text_index()
        assert [p.id for p in store.search(None, 3, lexical=Lexical("zr7731"))] == [points[1].id]
        assert store.search(points[0].vector, 3, lexical=Lexical("zr7731"))[0].id == points[1].id
        for p in points:  # vectors untouched: each point is still its own vector's nearest, at cosine 1
            hit = store.search(p.vector, 1)[0]
            assert (hit.id, hit.score) == (p.id, pytest.approx(1.0, abs=1e-5))
        found = store.retrieve([points[1].id])[points[1].id]
        assert found.search_text == f"{texts[1]}\nr1.pdf r1 pdf" and found.text == texts[1]
        assert store.upgrade() == 0


def test_a_changed_lexical_setting_rebuilds_the_text_index_in_place(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    points = [point(rng.normal(size=DIM), "/docs/a.pdf", text="the runners were running")]
    with open_store(StoreSettings(), IndexSettings(), tmp_path / "qdrant") as store:
        store.ensure_collection(MODEL, DIM)
        store.upsert(points)
        assert store.search(None, 1, lexical=Lexical("run"))  # stemmed: run ~ running
        assert not store.search(None, 1, lexical=Lexical("the"))  # a stopword
    plain = IndexSettings(lexical=LexicalSettings(stemmer=False, stopwords="none"))
    with open_store(StoreSettings(), plain, tmp_path / "qdrant") as store:
        assert store.search(None, 1, lexical=Lexical("run"))  # read only: still the index as it was made
        store.ensure_collection(MODEL, DIM)
        assert isinstance(store, EdgeStore)
        assert json.loads(store.meta_file.read_text())[LEXICAL]["stemmer"] is None
        assert not store.search(None, 1, lexical=Lexical("run"))  # rebuilt: no stemmer
        assert store.search(None, 1, lexical=Lexical("the"))  # no stopwords either
        assert store.search(points[0].vector, 1)[0].score == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("engine", sorted(WRITERS))
def test_the_folder_filter_finds_old_points_after_their_upgrade_and_new_ones_at_once(
    tmp_path: Path, engine: str
) -> None:
    named = [
        replace(p, payload=replace(p.payload, name=f"sub{p.payload.source_path[-5]}/x.pdf"))
        for p in old_points(3)
    ]

    def before_folders(p: Point) -> dict[str, Any]:  # as stored before the folder filter
        return {k: v for k, v in stored_payload(p.payload).items() if k != NAME_PREFIXES}

    WRITERS[engine](tmp_path / "qdrant", named, before_folders)
    with reopened(engine, tmp_path / "qdrant") as store:
        assert store.count(Filters(folder="sub1")) == 0
        store.ensure_collection(MODEL, DIM)
        assert store.count(Filters(folder="sub1")) == 3
        [new] = document(np.random.default_rng(3), "/elsewhere/n.pdf", range(1, 2))
        store.upsert([replace(new, payload=replace(new.payload, name="sub1x/deep/n.pdf"))])
        assert store.count(Filters(folder="/sub1/")) == 3  # whole components: not sub1x
        assert store.count(Filters(folder="sub1x/deep")) == store.count(Filters(folder="sub1x")) == 1
        assert store.count(Filters(folder=["sub0", "sub2"])) == 6
        with pytest.raises(QueryError, match="not a folder"):
            Filters(folder="sub1/../sub2")
