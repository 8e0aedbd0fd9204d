"""Filters on both embedded engines (Qdrant Edge and qdrant-client local mode): any-of lists on every
field, metadata equality and ranges, negation, the caller's scope (which no client filter can widen), the
bounds on a filter's size, and listings and counts that obey filters."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mmsearch.errors import QueryError
from mmsearch.index.checked import filter_condition
from mmsearch.index.conditions import AnyOf, Bounds, Either, IsEmpty, Not, compile_filter
from mmsearch.index.edge_store import EDGE_FILTERS
from mmsearch.index.qdrant_store import QDRANT_FILTERS
from mmsearch.index.settings import IndexSettings
from mmsearch.index.store import MAX_FILTER_CONDITIONS, MAX_FILTER_VALUES, Filters, Point, Scope, Store
from mmsearch.index.store_registry import open_store
from tests.index.test_store import DIM, ENGINES, MODEL, point, unit_vectors

# (collection, name, modality, groups, metadata, ingest_time)
DOCS: list[tuple[str, str, str, tuple[str, ...], dict[str, Any], float]] = [
    ("finance", "q1/report.pdf", "page", ("finance",), {"year": 2024, "dept": "fin", "tags": ["q1", "draft"]}, 100.0),
    ("finance", "q2/report.pdf", "page", (), {"year": 2023, "dept": "fin", "ratio": 0.5}, 200.0),
    ("finance", "board.pdf", "page", ("execs",), {"year": 2022, "published": "2022-06-30"}, 300.0),
    ("legal", "contract.pdf", "page", ("legal",), {"year": 2024, "published": "2024-01-15T09:00:00Z"}, 400.0),
    ("legal", "nda.png", "image", (), {"dept": "legal"}, 500.0),
    ("default", "talk.mp4", "video", (), {}, 600.0),
]  # fmt: skip
ALL = {name for _, name, *_ in DOCS}


def doc_points(rng: np.random.Generator) -> list[Point]:
    out = []
    for collection, name, modality, groups, metadata, when in DOCS:
        source = f"/srv/uploads/{collection}/{name}"
        for page, vector in enumerate(unit_vectors(rng, 2), start=1):
            base = point(vector, source, modality=modality, page=page, ingest_time=when)  # type: ignore[arg-type]
            payload = replace(
                base.payload,
                doc_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{collection}/{name}")),
                collection=collection, name=name, groups=groups, metadata=metadata,
            )  # fmt: skip
            out.append(Point(base.id, vector, payload))
    return out


@pytest.fixture(params=sorted(ENGINES))
def store(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Store]:
    with open_store(ENGINES[request.param], IndexSettings(), tmp_path / "qdrant") as opened:
        opened.ensure_collection(MODEL, DIM)
        opened.upsert(doc_points(np.random.default_rng(7)))
        yield opened


def found(store: Store, filters: Filters | None) -> set[str]:
    query = np.ones(DIM) / np.sqrt(DIM)
    return {hit.payload.name for hit in store.search(query, limit=100, filters=filters)}


def listed(store: Store, filters: Filters | None) -> set[str]:
    return {d.name for d in store.documents(filters)}


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (Filters(collection="legal"), {"contract.pdf", "nda.png"}),
        (Filters(collection=["legal", "default"]), {"contract.pdf", "nda.png", "talk.mp4"}),
        (Filters(modality=["image", "video"]), {"nda.png", "talk.mp4"}),
        (Filters(name=["board.pdf", "nda.png", "absent.pdf"]), {"board.pdf", "nda.png"}),
        (Filters(groups=["execs", "legal"]), {"board.pdf", "contract.pdf"}),
        (Filters(path_prefix=["/srv/uploads/finance/q1", "/srv/uploads/default"]), {"q1/report.pdf", "talk.mp4"}),
        (Filters(metadata={"year": 2024}), {"q1/report.pdf", "contract.pdf"}),
        (Filters(metadata={"year": [2022, 2023]}), {"q2/report.pdf", "board.pdf"}),
        (Filters(metadata={"dept": ["fin", "legal"]}), {"q1/report.pdf", "q2/report.pdf", "nda.png"}),
        (Filters(metadata={"tags": "draft"}), {"q1/report.pdf"}),  # one element of a list field
        (Filters(metadata={"ratio": 0.5}), {"q2/report.pdf"}),  # a float, by a closed range on itself
        (Filters(metadata={"year": "2024"}), set()),  # the string "2024" is not the number 2024
        (Filters(metadata={"year": ["2024", 2023]}), {"q2/report.pdf"}),  # kinds mixed: any of them
        (Filters(metadata_ranges={"year": Bounds(gte=2023)}), {"q1/report.pdf", "q2/report.pdf", "contract.pdf"}),
        (Filters(metadata_ranges={"year": Bounds(gt=2022, lt=2024)}), {"q2/report.pdf"}),
        (
            Filters(metadata_ranges={"published": Bounds(gte=datetime(2023, 1, 1, tzinfo=UTC))}),
            {"contract.pdf"},
        ),
        (
            Filters(metadata_ranges={"published": Bounds(lt=datetime(2024, 1, 15, 10))}),  # naive = UTC
            {"board.pdf", "contract.pdf"},
        ),
        (Filters(ingested_after=200.0, ingested_before=500.0), {"q2/report.pdf", "board.pdf", "contract.pdf"}),
        (Filters(not_=Filters(collection="finance")), {"contract.pdf", "nda.png", "talk.mp4"}),
        (Filters(not_=Filters(collection="finance", modality="video")), {"contract.pdf", "nda.png"}),
        (Filters(not_=Filters(metadata={"year": 2024})), ALL - {"q1/report.pdf", "contract.pdf"}),
        (
            Filters(collection="finance", metadata_ranges={"year": Bounds(lte=2023)}, not_=Filters(groups="execs")),
            {"q2/report.pdf"},
        ),
        (Filters(), ALL),
        (None, ALL),
    ],
)  # fmt: skip
def test_filters_restrict_search_listing_and_count(
    store: Store, filters: Filters | None, expected: set[str]
) -> None:
    assert found(store, filters) == expected
    assert listed(store, filters) == expected
    assert store.count(filters) == 2 * len(expected)


def test_single_values_and_lists_mean_the_same(store: Store) -> None:
    assert Filters(modality="page") == Filters(modality=["page"])
    assert found(store, Filters(doc_id=[str(uuid.uuid5(uuid.NAMESPACE_URL, "legal/nda.png"))])) == {"nda.png"}


def test_listing_rows_carry_collection_name_groups_and_metadata(store: Store) -> None:
    rows = {d.name: d for d in store.documents()}
    board = rows["board.pdf"]
    assert (board.collection, board.groups, board.units) == ("finance", ("execs",), 2)
    assert board.metadata == {"year": 2022, "published": "2022-06-30"}
    assert board.source_path == "/srv/uploads/finance/board.pdf"  # kept for the CLI


# -- scope -------------------------------------------------------------------------------------------

FINANCE = Scope(collections=frozenset({"finance"}), groups=frozenset({"finance"}))
FINANCE_VISIBLE = {"q1/report.pdf", "q2/report.pdf"}  # board.pdf is the execs' group only

WIDENING = [
    Filters(),
    Filters(collection="legal"),
    Filters(collection=["finance", "legal", "default"]),
    Filters(groups=["execs", "legal"]),
    Filters(doc_id=str(uuid.uuid5(uuid.NAMESPACE_URL, "legal/contract.pdf"))),
    Filters(name=["contract.pdf", "board.pdf"]),
    Filters(path_prefix="/"),
    Filters(not_=Filters(collection="finance")),
    Filters(not_=Filters(groups="finance")),
    Filters(not_=Filters(collection="nothing", groups="nothing", modality="video")),
    Filters(metadata={"year": [2022, 2023, 2024]}),
]


@pytest.mark.parametrize("client", WIDENING)
def test_no_client_filter_widens_the_scope(store: Store, client: Filters) -> None:
    scoped = replace(client, scope=FINANCE)
    alone = found(store, client)
    assert found(store, scoped) == alone & FINANCE_VISIBLE
    assert listed(store, scoped) == alone & FINANCE_VISIBLE
    assert store.count(scoped) == 2 * len(alone & FINANCE_VISIBLE)


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        (Scope(), ALL),
        (Scope(collections=frozenset({"legal"})), {"contract.pdf", "nda.png"}),
        (Scope(collections=frozenset({"legal"}), groups=frozenset()), {"nda.png"}),  # no groups: ungrouped only
        (Scope(groups=frozenset({"execs"})), {"q2/report.pdf", "board.pdf", "nda.png", "talk.mp4"}),
        (Scope(collections=frozenset()), set()),  # no collection at all: nothing
    ],
)  # fmt: skip
def test_the_scope_admits_what_scope_admits_says(store: Store, scope: Scope, expected: set[str]) -> None:
    filters = Filters(scope=scope)
    assert found(store, filters) == listed(store, filters) == expected
    hits = store.search(np.ones(DIM), limit=100)
    assert {h.payload.name for h in hits if scope.admits(h.payload)} == expected  # the same rule in Python


def test_a_store_written_before_collections_reads_as_default_and_ungrouped(tmp_path: Path) -> None:
    """Points without collection/groups (the old payload) are invisible to a scope naming collections
    until upgraded, and ungrouped for a scope naming only groups."""
    rng = np.random.default_rng(3)
    with open_store(ENGINES["edge"], IndexSettings(), tmp_path / "qdrant") as store:
        store.ensure_collection(MODEL, DIM)
        store.upsert([point(v, f"/old/{i}.pdf") for i, v in enumerate(unit_vectors(rng, 2))])
        shard = store._open_shard()  # type: ignore[attr-defined]
        import qdrant_edge as qe

        shard.update(
            qe.UpdateOperation.delete_payload_by_filter(qe.Filter(), ["collection", "groups", "name"])
        )
        assert store.count(Filters(scope=Scope(groups=frozenset({"x"})))) == 2
        assert store.count(Filters(scope=Scope(collections=frozenset({"default"})))) == 0
        assert {d.name for d in store.documents()} == {"0.pdf", "1.pdf"}


# -- the algebra and its bounds ----------------------------------------------------------------------


def test_the_scope_is_anded_outside_the_client_conditions() -> None:
    condition = filter_condition(Filters(collection="legal", not_=Filters(groups="x"), scope=FINANCE))
    scope = (AnyOf("collection", ("finance",)), Either((IsEmpty("groups"), AnyOf("groups", ("finance",)))))
    client = (AnyOf("collection", ("legal",)), Not(AnyOf("groups", ("x",))))
    assert condition is not None and condition.parts == (scope_all(scope), scope_all(client))  # type: ignore[union-attr]


def scope_all(parts: tuple[Any, ...]) -> Any:
    from mmsearch.index.conditions import All

    return All(parts)


def test_edge_refuses_booleans_it_cannot_match_and_qdrant_takes_them() -> None:
    condition = filter_condition(Filters(metadata={"final": True}))
    assert condition is not None
    with pytest.raises(QueryError, match="cannot match true/false.*qdrant-edge 0.9"):
        compile_filter(condition, EDGE_FILTERS)
    assert compile_filter(condition, QDRANT_FILTERS).must[0].match.value is True  # type: ignore[index,union-attr]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"modality": ["page", "audio"]}, "modality 'audio' is not one of"),
        ({"collection": []}, "collection is an empty list"),
        ({"name": ["a"] * (MAX_FILTER_VALUES + 1)}, f"at most {MAX_FILTER_VALUES}"),
        ({"doc_id": ["x" * 2000]}, "at most 1024 characters"),
        ({"groups": [""]}, "non-empty string"),
        ({"metadata": {"bad key": "x"}}, "metadata key 'bad key' cannot be filtered on"),
        ({"metadata": {"a.b": "x"}}, "metadata key 'a.b'"),
        ({"metadata": {"k": {"nested": 1}}}, "a value is a string"),
        ({"metadata": {"k": float("nan")}}, "a value is a string"),
        ({"metadata": {"k": []}}, "give 1 to"),
        ({"metadata": {f"k{i}": 1 for i in range(MAX_FILTER_CONDITIONS + 1)}}, "conditions; at most"),
        ({"name": [f"{i:03d}" + "n" * 997 for i in range(40)]}, "bytes of text; at most"),
        ({"not_": Filters(not_=Filters(modality="page"))}, "one level deep"),
        ({"not_": Filters(scope=Scope())}, "one level deep"),
        ({"ingested_after": 5.0, "ingested_before": 5.0}, "time range is empty"),
    ],
)
def test_bad_filters_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(QueryError, match=message):
        Filters(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "at least one of"),
        ({"gte": 5, "lt": 5}, "range is empty"),
        ({"gt": 6, "lte": 5}, "range is empty"),
        ({"gte": 1, "lte": datetime(2024, 1, 1)}, "mixes numbers and dates"),
        ({"gte": float("inf")}, "not a finite number"),
        ({"gte": True}, "not true/false"),
    ],
)
def test_bad_ranges_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(QueryError, match=message):
        Bounds(**kwargs)


def test_a_closed_range_on_one_value_is_fine() -> None:
    assert Bounds(gte=5, lte=5).limits() == {"gte": 5.0, "gt": None, "lte": 5.0, "lt": None}
