"""Crash consistency with the tiny model and embedded Qdrant: the hash names the bytes rendered, a new
version is invisible until committed, and ``reconcile`` removes what a crash left behind."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from mmsearch import components
from mmsearch.config import Settings
from mmsearch.errors import LimitExceeded
from mmsearch.index import pipeline
from mmsearch.index.embedder import Embedder
from mmsearch.index.listing import committed_documents
from mmsearch.index.reconcile import reconcile
from mmsearch.index.store import Filters, Scope, ScoredPoint, Store
from mmsearch.ingest.reader import read_file
from mmsearch.ingest.settings import IngestSettings
from mmsearch.ingest.units import Source, Unit, doc_id_for
from mmsearch.samples import make_pdf, make_video
from mmsearch.search.searcher import Query
from tests.support import tiny_settings


@pytest.fixture(scope="module")
def embedder(tiny_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Embedder:
    return components.build_embedder(tiny_settings(tmp_path_factory.mktemp("emb") / "data", tiny_models))


@pytest.fixture
def settings(tmp_path: Path, tiny_models: Path) -> Settings:
    return tiny_settings(tmp_path / "data", tiny_models, ingest={"pdf_dpi": 36.0})


def every_point(store: Store) -> list[ScoredPoint]:
    dim = store.stats().dim or 1
    return store.search(np.full(dim, dim**-0.5, dtype=np.float32), limit=10_000)


def searched(settings: Settings, embedder: Embedder, store: Store) -> list[tuple[str, int | None]]:
    """(sha256, page_count) of every hit a real search over everything returns."""
    searcher = components.build_searcher(settings, embedder, store, None)
    result = searcher.search(Query(text="report"), top_k=1000, candidates=1000, rerank=False)
    by_id = {p.id: p.payload for p in every_point(store)}
    return [(by_id[h.point_id].source_sha256, h.page_count) for h in result.hits]


def test_a_file_rewritten_between_hash_and_render_is_indexed_as_the_bytes_hashed(
    settings: Settings, embedder: Embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pdf = tmp_path / "report.pdf"
    make_pdf(pdf, 2, topic="finance")
    version_a = hashlib.sha256(pdf.read_bytes()).hexdigest()
    real = pipeline.read_units

    def rewrite_then_read(source: Source, ingest: IngestSettings, data: Path | None = None) -> Iterator[Unit]:
        make_pdf(pdf, 5, topic="birds")  # version B lands after the hash, before any page is rendered
        return real(source, ingest, data)

    monkeypatch.setattr(pipeline, "read_units", rewrite_then_read)
    with components.build_store(settings) as store, components.build_manifest(settings) as manifest:
        report = components.build_indexer(settings, embedder, store, manifest, None).run([pdf])
        points = every_point(store)
    assert [f.status for f in report.files] == ["indexed"] and report.files[0].units == 2
    assert {p.payload.source_sha256 for p in points} == {version_a}
    assert sorted(p.payload.page or 0 for p in points) == [1, 2]
    assert {p.payload.page_count for p in points} == {2}
    assert hashlib.sha256(pdf.read_bytes()).hexdigest() != version_a  # B is on disk, A is indexed
    assert not list((settings.data_dir / pipeline.SCRATCH).glob("*/*"))  # the private copy is gone


def test_a_new_version_is_invisible_until_committed_and_reconcile_removes_it(
    settings: Settings, embedder: Embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash after the new points are stored but before the manifest commit (``kill -9`` there):
    searches keep showing exactly the old version; reconcile then removes the new points and images."""
    pdf = tmp_path / "report.pdf"
    make_pdf(pdf, 3, topic="finance")
    with components.build_store(settings) as store, components.build_manifest(settings) as manifest:
        indexer = components.build_indexer(settings, embedder, store, manifest, None)
        assert indexer.run([pdf]).files[0].status == "indexed"
        old = {(p.payload.source_sha256, p.payload.page_count) for p in every_point(store)}
        make_pdf(pdf, 5, topic="birds")

        class Crash(BaseException):
            pass

        def crash(*args: object) -> None:
            raise Crash

        monkeypatch.setattr(manifest, "mark_done", crash)
        with pytest.raises(Crash):
            indexer.run([pdf])
        monkeypatch.undo()
        assert len(every_point(store)) == 8  # both versions are stored...
        assert set(searched(settings, embedder, store)) == old  # ...but only the committed one is found
        assert len(searched(settings, embedder, store)) == 3
        [(old_sha, _)] = old  # listings follow searches: the committed version, 3 pages
        assert [(d.units, d.source_sha256) for d in committed_documents(store, manifest)] == [(3, old_sha)]
        [row] = committed_documents(store, manifest, Filters(collection="default"))  # a scope passes through
        assert (row.units, row.collection, row.name) == (3, "default", "report.pdf")
        assert committed_documents(store, manifest, Filters(scope=Scope(frozenset({"legal"})))) == []
        media = settings.data_dir / "media"
        assert len(list(media.rglob("*.jpg"))) == 8

        done = reconcile(store, manifest, settings.data_dir)
        assert done.points_removed == 5 and not done.lost
        assert {(p.payload.source_sha256, p.payload.page_count) for p in every_point(store)} == old
        assert len(list(media.rglob("*.jpg"))) == 3
        assert reconcile(store, manifest, settings.data_dir).changed is False  # idempotent

        assert indexer.run([pdf]).files[0].units == 5  # the re-run replaces it for real
        assert {p.payload.page_count for p in every_point(store)} == {5}
        assert len(list(media.rglob("*.jpg"))) == 5


def test_reconcile_drops_documents_with_no_committed_version_and_lost_ones(
    settings: Settings, embedder: Embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = tmp_path / "first.pdf", tmp_path / "second.pdf"
    make_pdf(first, 2)
    make_pdf(second, 2)
    with components.build_store(settings) as store, components.build_manifest(settings) as manifest:
        indexer = components.build_indexer(settings, embedder, store, manifest, None)
        indexer.run([first, second])
        manifest.forget(doc_id_for("default", "first.pdf"))  # a first ingest cut short before its commit
        store.delete_document(doc_id_for("default", "second.pdf"))  # a store that lost points
        (settings.data_dir / "media" / "ab" / "not-a-doc").mkdir(parents=True)
        done = reconcile(store, manifest, settings.data_dir)
        assert done.documents_removed == 1 and [e.path for e in done.lost] == [str(second.resolve())]
        assert every_point(store) == [] and manifest.documents() == []
        assert [p.name for p in (settings.data_dir / "media").rglob("*.jpg")] == []
        assert (settings.data_dir / "media" / "ab" / "not-a-doc").is_dir()  # not ours: left alone


def test_page_and_duration_caps_name_their_settings(tmp_path: Path) -> None:
    pdf, video = tmp_path / "long.pdf", tmp_path / "long.mp4"
    make_pdf(pdf, 4)
    make_video(video, 4, fps=5, size=(64, 48))
    with pytest.raises(LimitExceeded, match=r"4 pages is over ingest.max_pages_per_file \(3\)"):
        read_file(pdf, IngestSettings(max_pages_per_file=3))
    with pytest.raises(LimitExceeded, match=r"over ingest.max_video_seconds \(2 s\)"):
        read_file(video, IngestSettings(max_video_seconds=2))
    assert len(list(read_file(pdf, IngestSettings(max_pages_per_file=4))[1])) == 4
