"""Ingest → embed → store with the tiny model and embedded Qdrant: idempotent, replacing, resumable."""

from __future__ import annotations

import errno
import hashlib
import json
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from mmsearch import components
from mmsearch.config import Settings
from mmsearch.errors import DimensionMismatch, UnprocessableInput
from mmsearch.index.embedder import Embedder
from mmsearch.index.inputs import Content
from mmsearch.index.pipeline import IngestReport, fingerprint, legacy_fingerprints, plan, text_fingerprint
from mmsearch.index.store import Payload
from mmsearch.ingest.names import Labels
from mmsearch.ingest.reader import read_file
from mmsearch.ingest.settings import IngestSettings
from mmsearch.ingest.units import doc_id_for, legacy_doc_id
from mmsearch.samples import make_bad_files, make_image, make_pdf, make_scanned_pdf, make_video, scanned_word
from mmsearch.search.searcher import Searcher
from tests.ocr_support import needs_tesseract
from tests.support import REPO, budget, tiny_env, tiny_settings


@pytest.fixture(scope="module")
def embedder(tiny_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Embedder:
    settings = tiny_settings(tmp_path_factory.mktemp("emb") / "data", tiny_models)
    return components.build_embedder(settings)


@pytest.fixture
def settings(tmp_path: Path, tiny_models: Path) -> Settings:
    return tiny_settings(tmp_path / "data", tiny_models)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    make_pdf(folder / "report.pdf", 3, topic="finance")
    make_image(folder / "photo.png", "png", (300, 200))
    make_video(folder / "clip.mp4", 5, fps=4)
    return folder


def ingest(
    settings: Settings, embedder: Embedder, *paths: Path, reindex: bool = False, labels: Labels | None = None
) -> IngestReport:
    with components.build_store(settings) as store, components.build_manifest(settings) as manifest:
        indexer = components.build_indexer(settings, embedder, store, manifest, None)
        indexer.labels = labels or Labels()
        return indexer.run(list(paths), reindex=reindex)


def point_ids(settings: Settings) -> dict[str, set[str]]:
    """source path → ids of its points (every point: the corpus is far below the limit)."""
    with components.build_store(settings) as store:
        dim = store.stats().dim or 1
        hits = store.search(np.full(dim, dim**-0.5, dtype=np.float32), limit=1000)
    out: dict[str, set[str]] = {}
    for hit in hits:
        out.setdefault(hit.payload.source_path, set()).add(hit.id)
    return out


def test_ingest_stores_every_unit_with_its_payload_and_media(
    settings: Settings, embedder: Embedder, corpus: Path
) -> None:
    report = ingest(settings, embedder, corpus)
    assert [f.status for f in report.files] == ["indexed"] * 3, report.files
    assert {f.kind: f.units for f in report.files} == {"pdf": 3, "image": 1, "video": 1}
    with components.build_store(settings) as store:
        stats = store.stats()
        assert stats.points == 5 and stats.documents == 3
        assert stats.by_modality == {"page": 3, "image": 1, "video": 1}
        assert stats.model_id == embedder.model_id and stats.dim == embedder.dim
        hits = store.search(np.ones(embedder.dim, dtype=np.float32) / np.sqrt(embedder.dim), limit=10)
    pages = sorted(h.payload.page for h in hits if h.payload.modality == "page")  # type: ignore[type-var]
    assert pages == [1, 2, 3]
    video = next(h.payload for h in hits if h.payload.modality == "video")
    assert (video.t_start, video.t_end) == (0.0, pytest.approx(5.0, abs=0.3))
    # 20 frames over 5 s: qwen-vl-utils keeps 5 at 1 fps, rounded down to an even 4 → 0.8 per second
    assert video.fps == pytest.approx(0.8) and len(video.media_paths) == 4
    for hit in hits:
        for rel in hit.payload.media_paths:
            assert (settings.data_dir / rel).is_file(), rel


def test_text_words_and_search_text_are_stored_and_ocr_text_is_never_embedded(
    settings: Settings, embedder: Embedder, tmp_path: Path
) -> None:
    needs_tesseract()
    folder = tmp_path / "docs"
    make_pdf(folder / "report.pdf", 1, with_tables=False, with_charts=False)
    make_scanned_pdf(folder / "scan.pdf", page_size=(300.0, 200.0))
    ingest(settings, embedder, folder, labels=Labels(metadata={"client": "Acme Widgets"}))
    ids = point_ids(settings)
    with components.build_store(settings) as store:
        stored = store.retrieve(sorted(i for found in ids.values() for i in found))
        by_name = {p.name: p for p in stored.values()}
        layer, scan = by_name["report.pdf"], by_name["scan.pdf"]
        assert (layer.text_source, scan.text_source) == ("layer", "ocr")
        assert scanned_word(1) in scan.text.split() and scanned_word(1) in scan.search_text
        for payload in (layer, scan):
            assert payload.words and len(payload.words) % 6 == 0
            assert payload.search_text.startswith(payload.text)
            assert payload.name in payload.search_text and "Acme Widgets" in payload.search_text
        # The stored vector is the page image's alone: the OCR text (nor the text layer) was not embedded.
        [unit] = list(read_file(folder / "scan.pdf", settings.ingest)[1])
        [alone] = embedder.embed([Content(images=(unit.image,))], settings.embedding.document_instruction)
        best = store.search(alone, limit=1)[0]
        # The reranker is given a text layer when asked to (reranker.use_text_layer), never OCR text.
        searcher = Searcher(embedder=embedder, store=store, reranker=None, data_dir=settings.data_dir,
                            query_instruction="", use_text_layer=True)  # fmt: skip
        assert searcher.document_content(layer).text == layer.text
        assert searcher.document_content(scan).text is None and searcher.document_content(scan).images
    assert best.payload.name == "scan.pdf" and best.score == pytest.approx(1.0, abs=1e-4)


def test_ingesting_twice_changes_nothing(settings: Settings, embedder: Embedder, corpus: Path) -> None:
    ingest(settings, embedder, corpus)
    before = point_ids(settings)
    again = ingest(settings, embedder, corpus)
    assert [f.status for f in again.files] == ["unchanged"] * 3
    assert point_ids(settings) == before
    forced = ingest(settings, embedder, corpus, reindex=True)
    assert [f.status for f in forced.files] == ["indexed"] * 3
    assert point_ids(settings) == before  # deterministic ids: re-indexing overwrites, never duplicates


def test_editing_a_pdf_replaces_exactly_its_points(
    settings: Settings, embedder: Embedder, corpus: Path
) -> None:
    ingest(settings, embedder, corpus)
    before = point_ids(settings)
    pdf = str((corpus / "report.pdf").resolve())
    old_media = sorted((settings.data_dir / "media").rglob(f"*{doc_id_for('default', 'report.pdf')}*/*.jpg"))
    assert len(old_media) == 3
    make_pdf(corpus / "report.pdf", 2, topic="birds")  # new content, fewer pages
    report = ingest(settings, embedder, corpus)
    assert {Path(f.path).name: f.status for f in report.files} == {
        "report.pdf": "indexed", "photo.png": "unchanged", "clip.mp4": "unchanged",
    }  # fmt: skip
    after = point_ids(settings)
    assert len(after[pdf]) == 2 and not (after[pdf] & before[pdf])
    assert {k: v for k, v in after.items() if k != pdf} == {k: v for k, v in before.items() if k != pdf}
    new_media = sorted((settings.data_dir / "media").rglob(f"*{doc_id_for('default', 'report.pdf')}*/*.jpg"))
    assert len(new_media) == 2 and not set(new_media) & set(old_media)


def test_bad_files_are_reported_and_the_rest_indexed(
    settings: Settings, embedder: Embedder, corpus: Path, tmp_path: Path
) -> None:
    expected = make_bad_files(corpus / "bad")
    report = ingest(settings, embedder, corpus)
    failed = {Path(f.path).name: f.code for f in report.failed}
    assert failed == expected
    assert all(f.message and Path(f.path).name in f.message for f in report.failed)
    assert sum(1 for f in report.files if f.status == "indexed") == 3
    with components.build_manifest(settings) as manifest:
        entry = manifest.find("default", "bad/encrypted.pdf")  # named relative to the folder given
        assert entry is not None and entry.status == "failed"


def test_dry_run_reads_units_and_writes_nothing(settings: Settings, corpus: Path) -> None:
    report = plan([corpus], settings.ingest)
    by_kind = {f.kind: f for f in report.files}
    assert [u.page for u in by_kind["pdf"].unit_list] == [1, 2, 3]
    assert by_kind["video"].unit_list[0].frames and by_kind["video"].unit_list[0].t_start == 0.0
    assert not settings.data_dir.exists()


def test_collection_refuses_another_dimension(
    tmp_path: Path, tiny_models: Path, embedder: Embedder, corpus: Path
) -> None:
    small = tiny_settings(tmp_path / "data", tiny_models, embedding={"dim": 64})
    ingest(small, components.build_embedder(small), corpus / "photo.png")
    full = tiny_settings(tmp_path / "data", tiny_models)
    with pytest.raises(DimensionMismatch) as info:
        ingest(full, embedder, corpus / "photo.png")
    message = str(info.value)
    assert "64" in message and "128" in message and "re-" in message.lower()


def test_fingerprint_follows_settings_that_change_vectors(settings: Settings) -> None:
    base = fingerprint(settings.ingest, "m", 128, "Represent the user's input.")
    assert base == fingerprint(settings.ingest, "m", 128, "Represent the user's input.")
    assert base != fingerprint(settings.ingest, "m", 64, "Represent the user's input.")
    assert base != fingerprint(settings.ingest, "other", 128, "Represent the user's input.")
    changed = settings.ingest.model_copy(update={"pdf_dpi": 72.0})
    assert base != fingerprint(changed, "m", 128, "Represent the user's input.")


def test_text_only_settings_are_in_the_text_fingerprint_not_the_vectors_one(settings: Settings) -> None:
    base = settings.ingest
    made = ("m", 128, "Represent the user's input.")
    for change in ({"ocr": "off"}, {"ocr_languages": "eng+deu"}, {"ocr_dpi": 300.0}, {"text_chars": 10}):
        other = base.model_copy(update=change)
        assert fingerprint(other, *made) == fingerprint(base, *made), change
        assert text_fingerprint(other) != text_fingerprint(base), change
    dpi = base.model_copy(update={"pdf_dpi": 72.0})
    assert fingerprint(dpi, *made) != fingerprint(base, *made) and text_fingerprint(dpi) == text_fingerprint(
        base
    )


def test_the_old_fingerprints_are_recognised() -> None:
    """Pinned: what mmsearch computed before issue 20 (commit 1312387^1's ``fingerprint``) for these
    arguments and the default ingest settings, and what the old fingerprint is under other settings."""
    assert "7ec99a56b8d43205" in legacy_fingerprints(IngestSettings(), "m", 128, "inst")
    changed = IngestSettings(pdf_dpi=100.0, render_workers=0)  # render_workers: a limit, never hashed
    assert "4daa26acd977398e" in legacy_fingerprints(changed, "m", 128, "inst")
    assert old_fingerprint(changed, "m", 128, "inst") == "4daa26acd977398e"


class Counting:
    """Wraps an embedder, counting the units it embeds."""

    def __init__(self, inner: Embedder) -> None:
        self.inner, self.units = inner, 0
        self.dim, self.model_id = inner.dim, inner.model_id

    def embed(self, items: Sequence[Content], instruction: str) -> np.ndarray:
        self.units += len(items)
        return self.inner.embed(items, instruction)


def counted(settings: Settings, embedder: Embedder, *paths: Path) -> tuple[IngestReport, int]:
    """An ingest, and the units it embedded."""
    counting = Counting(embedder)
    return ingest(settings, counting, *paths), counting.units


def stored(settings: Settings) -> dict[str, Payload]:
    ids = sorted(i for found in point_ids(settings).values() for i in found)
    with components.build_store(settings) as store:
        return store.retrieve(ids)


def old_fingerprint(ingest: IngestSettings, model_id: str, dim: int, instruction: str) -> str:
    """The manifest fingerprint of mmsearch before issue 20, as it computed it (that version had no OCR
    settings; the others but four limits were hashed)."""
    limits = {"max_pages_per_file", "max_video_seconds", "render_workers", "render_timeout_s"}
    shape = ingest.model_dump(mode="json", exclude=limits | {"ocr", "ocr_languages", "ocr_dpi"})
    blob = json.dumps(
        {"ingest": shape, "model": model_id, "dim": dim, "instruction": instruction}, sort_keys=True
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    """A page with a text layer, a scanned page (text only in its pixels) and a short video."""
    folder = tmp_path / "mixed"
    make_pdf(folder / "report.pdf", 1, with_tables=False, with_charts=False)
    make_scanned_pdf(folder / "scan.pdf", page_size=(300.0, 200.0))
    make_video(folder / "clip.mp4", 2, fps=2)
    return folder


def test_an_ocr_change_rereads_the_text_in_place_and_embeds_nothing(
    tmp_path: Path, tiny_models: Path, embedder: Embedder, mixed: Path
) -> None:
    needs_tesseract()
    off = tiny_settings(tmp_path / "data", tiny_models, ingest={"ocr": "off"})
    _, embedded = counted(off, embedder, mixed)
    assert embedded == 3
    before = stored(off)
    [scan_id] = [i for i, p in before.items() if p.name == "scan.pdf"]
    assert before[scan_id].text_source is None and not before[scan_id].words
    auto = tiny_settings(tmp_path / "data", tiny_models, ingest={"ocr": "auto"})
    report, embedded = counted(auto, embedder, mixed)
    assert embedded == 0  # OCR text is never the model's: nothing is embedded again
    assert {f.name: (f.status, f.reread, f.units) for f in report.files} == {
        "report.pdf": ("indexed", True, 1), "scan.pdf": ("indexed", True, 1), "clip.mp4": ("indexed", True, 1),
    }  # fmt: skip
    assert report.units == 0 and len(report.reread) == 3
    after = stored(auto)
    assert after.keys() == before.keys()  # the same points, rewritten in place
    scan = after[scan_id]
    assert scan.text_source == "ocr" and scanned_word(1) in scan.text.split() and scan.words
    assert scanned_word(1) in scan.search_text and "scan.pdf" in scan.search_text
    assert (scan.ingest_time, scan.media_paths) == (before[scan_id].ingest_time, before[scan_id].media_paths)
    for point_id, payload in before.items():  # the page with a text layer and the video: as they were
        if point_id != scan_id:
            assert after[point_id] == payload
    with components.build_store(auto) as store:  # the scan's vector is its page image's, still
        [unit] = list(read_file(mixed / "scan.pdf", auto.ingest)[1])
        [alone] = embedder.embed([Content(images=(unit.image,))], auto.embedding.document_instruction)
        best = store.search(alone, limit=1)[0]
    assert best.id == scan_id and best.score == pytest.approx(1.0, abs=1e-4)
    assert best.payload.text_source == "ocr"
    again, embedded = counted(auto, embedder, mixed)
    assert [f.status for f in again.files] == ["unchanged"] * 3 and embedded == 0
    # A setting that changes what the model sees re-embeds, as before.
    sharper = tiny_settings(tmp_path / "data", tiny_models, ingest={"ocr": "auto", "pdf_dpi": 100.0})
    report, embedded = counted(sharper, embedder, mixed)
    assert embedded == 3 and [(f.status, f.reread) for f in report.files] == [("indexed", False)] * 3
    assert stored(sharper).keys() == before.keys()  # ids from the bytes and each unit's place


def test_an_index_from_before_the_split_is_upgraded_without_re_embedding(
    tmp_path: Path, tiny_models: Path, embedder: Embedder, mixed: Path
) -> None:
    """A manifest of schema 2 (one fingerprint over every ingest setting, as mmsearch computed it before
    issue 20) and points stored without word boxes or search text: the next ingest of the unchanged
    corpus re-reads the text only; a row whose old fingerprint names other settings is re-embedded."""
    needs_tesseract()
    settings = tiny_settings(tmp_path / "data", tiny_models)
    ingest(settings, embedder, mixed)
    before = stored(settings)
    with components.build_store(settings) as store:  # the payloads of that version: no words, no OCR
        store.set_text({i: replace_text(p) for i, p in before.items()})
    made = (embedder.model_id, embedder.dim, settings.embedding.document_instruction)
    old = old_fingerprint(settings.ingest, *made)
    other = old_fingerprint(settings.ingest.model_copy(update={"video_fps": 2.0}), *made)
    db = settings.data_dir / "manifest.sqlite"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("ALTER TABLE documents DROP COLUMN text_fingerprint")
    conn.execute("UPDATE documents SET fingerprint = ?", (old,))
    conn.execute("UPDATE documents SET fingerprint = ? WHERE name = 'clip.mp4'", (other,))
    conn.execute("PRAGMA user_version=2")
    conn.close()
    report, embedded = counted(settings, embedder, mixed)
    assert {f.name: (f.status, f.reread) for f in report.files} == {
        "report.pdf": ("indexed", True), "scan.pdf": ("indexed", True), "clip.mp4": ("indexed", False),
    }  # fmt: skip
    assert embedded == 1  # the video only: its row's fingerprint is of other settings
    after = stored(settings)
    assert after.keys() == before.keys()
    for point_id, payload in before.items():  # text, words and search text back, nothing else moved
        assert after[point_id].text == payload.text and after[point_id].words == payload.words
        assert after[point_id].search_text == payload.search_text
        if payload.modality == "page":
            assert after[point_id] == payload
    with components.build_manifest(settings) as manifest:
        assert manifest._db.execute("PRAGMA user_version").fetchone()[0] == 3
        rows = manifest.documents()
        assert {(e.fingerprint, e.text_fingerprint) for e in rows} == {
            (fingerprint(settings.ingest, *made), text_fingerprint(settings.ingest))
        }
    again, embedded = counted(settings, embedder, mixed)
    assert [f.status for f in again.files] == ["unchanged"] * 3 and embedded == 0


def replace_text(payload: Payload) -> Payload:
    """A payload as stored before issue 20: its text layer, no words, source or search text."""
    text = payload.text if payload.text_source == "layer" else ""
    return Payload(**{**payload.to_dict(), "text": text, "words": (), "text_source": None, "search_text": ""})


class FailingOnCall:
    """Wraps an embedder; the ``fail_on``-th call raises as a page with unprocessable media would."""

    def __init__(self, inner: Embedder, fail_on: int, error: Exception | None = None) -> None:
        self.inner, self.fail_on, self.calls, self.error = inner, fail_on, 0, error
        self.dim, self.model_id = inner.dim, inner.model_id

    def embed(self, items: Sequence[Content], instruction: str) -> np.ndarray:
        self.calls += 1
        if self.calls == self.fail_on:
            raise self.error or UnprocessableInput("item 0 (1 image): its media cannot be processed")
        return self.inner.embed(items, instruction)


def test_a_file_failing_part_way_leaves_its_last_good_version(
    settings: Settings, embedder: Embedder, corpus: Path
) -> None:
    pdf = corpus / "report.pdf"
    ingest(settings, embedder, pdf)
    good = point_ids(settings)
    good_media = sorted((settings.data_dir / "media").rglob("*.jpg"))
    make_pdf(pdf, 4, topic="chemistry")  # a new version whose second chunk will fail
    with components.build_store(settings) as store, components.build_manifest(settings) as manifest:
        indexer = components.build_indexer(settings, FailingOnCall(embedder, 2), store, manifest, None)
        indexer.chunk_units = 1
        report = indexer.run([pdf])
    assert [(f.status, f.code) for f in report.files] == [("failed", "unprocessable_input")]
    assert "report.pdf" in (report.files[0].message or "")
    assert point_ids(settings) == good  # the first chunk of the new version was rolled back
    assert sorted((settings.data_dir / "media").rglob("*.jpg")) == good_media  # and its page image
    fixed = ingest(settings, embedder, pdf)  # and the next run indexes the new version whole
    assert fixed.files[0].status == "indexed" and fixed.files[0].units == 4


def test_any_error_part_way_rolls_the_file_back_at_once_and_is_raised(
    settings: Settings, embedder: Embedder, corpus: Path
) -> None:
    """Not the file's fault (the disk filled up: ENOSPC, simulated at the embedding seam after two chunks
    are stored): the new version's points and page images go at once, not at the next start, and the
    error reaches the caller (the API's worker reports the file ``failed``, ``disk_full``)."""
    pdf = corpus / "report.pdf"
    ingest(settings, embedder, pdf)
    good = point_ids(settings)
    good_media = sorted((settings.data_dir / "media").rglob("*.jpg"))
    make_pdf(pdf, 4, topic="geology")
    full = OSError(errno.ENOSPC, "No space left on device")
    with components.build_store(settings) as store, components.build_manifest(settings) as manifest:
        indexer = components.build_indexer(settings, FailingOnCall(embedder, 3, full), store, manifest, None)
        indexer.chunk_units = 1
        with pytest.raises(OSError, match="No space left"):
            indexer.run([pdf])
    assert point_ids(settings) == good  # the two stored chunks of the new version are gone
    assert sorted((settings.data_dir / "media").rglob("*.jpg")) == good_media  # and their page images
    fixed = ingest(settings, embedder, pdf)
    assert fixed.files[0].status == "indexed" and fixed.files[0].units == 4


def test_identical_files_under_two_names_are_two_documents(
    settings: Settings, embedder: Embedder, corpus: Path
) -> None:
    twin = corpus / "copy" / "report.pdf"
    twin.parent.mkdir()
    twin.write_bytes((corpus / "report.pdf").read_bytes())
    (corpus / "photo.png").unlink()
    (corpus / "clip.mp4").unlink()
    report = ingest(settings, embedder, corpus)
    assert sorted((f.name, f.status) for f in report.files) == [
        ("copy/report.pdf", "indexed"),
        ("report.pdf", "indexed"),
    ]
    ids = point_ids(settings)
    original, copy = ids[str((corpus / "report.pdf").resolve())], ids[str(twin.resolve())]
    assert len(original) == len(copy) == 3 and not original & copy
    with components.build_store(settings) as store:
        store.delete_document(doc_id_for("default", "copy/report.pdf"))
    assert point_ids(settings) == {str((corpus / "report.pdf").resolve()): original}


def test_two_files_of_one_name_in_one_run_the_second_fails(
    settings: Settings, embedder: Embedder, corpus: Path
) -> None:
    twin = corpus / "copy" / "ﬁle.png"  # folds to file.png
    twin.parent.mkdir()
    (corpus / "photo.png").rename(corpus / "file.png")
    twin.write_bytes((corpus / "file.png").read_bytes())
    report = ingest(settings, embedder, corpus / "file.png", twin)
    assert [(f.status, f.code) for f in report.files] == [("indexed", None), ("failed", "duplicate_name")]
    assert "named 'file.png'" in str(report.files[1].message)


def test_labels_reach_the_payloads_and_a_change_of_groups_rewrites_them(
    settings: Settings, embedder: Embedder, corpus: Path
) -> None:
    labels = Labels.checked("finance", ["finance", "execs"], {"year": 2024})
    first = ingest(settings, embedder, corpus / "photo.png", labels=labels)
    assert [(f.collection, f.name, f.status) for f in first.files] == [("finance", "photo.png", "indexed")]
    assert first.files[0].doc_id == doc_id_for("finance", "photo.png")
    ids = list(point_ids(settings)[str((corpus / "photo.png").resolve())])
    with components.build_store(settings) as store:
        (payload,) = store.retrieve(ids).values()
    assert (payload.collection, payload.name, payload.groups, dict(payload.metadata)) == (
        "finance", "photo.png", ("finance", "execs"), {"year": 2024},
    )  # fmt: skip
    assert ingest(settings, embedder, corpus / "photo.png", labels=labels).files[0].status == "unchanged"
    narrower = Labels.checked("finance", ["execs"], {"year": 2024})
    again = ingest(settings, embedder, corpus / "photo.png", labels=narrower).files[0]
    assert (again.status, again.replaced) == ("indexed", True)  # same bytes, other access: written again
    ids = list(point_ids(settings)[str((corpus / "photo.png").resolve())])
    with components.build_store(settings) as store:
        (payload,) = store.retrieve(ids).values()
    assert payload.groups == ("execs",)
    other = ingest(settings, embedder, corpus / "photo.png", labels=Labels.checked("legal")).files[0]
    assert (
        other.doc_id == doc_id_for("legal", "photo.png") != again.doc_id
    )  # another collection: another document


def test_a_folder_ingested_again_after_the_upgrade_keeps_its_old_documents(
    settings: Settings, embedder: Embedder, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A document indexed before names has its path's id and, after the upgrade, its file name as name;
    ingesting its folder again names it relative to the folder and keeps its id: one document, not two."""
    nested = corpus / "sub" / "report.pdf"
    nested.parent.mkdir()
    (corpus / "report.pdf").rename(nested)
    old_id = legacy_doc_id(str(nested.resolve()))
    with components.build_store(settings) as store, components.build_manifest(settings) as manifest:
        indexer = components.build_indexer(settings, embedder, store, manifest, None)
        with monkeypatch.context() as patch:  # the state a pre-name index is upgraded to
            patch.setattr(manifest, "identify", lambda *_: old_id)
            assert indexer.index_file(nested, "report.pdf").doc_id == old_id
        again = indexer.run([corpus])
        by_name = {f.name: f for f in again.files}
        assert (by_name["sub/report.pdf"].status, by_name["sub/report.pdf"].doc_id) == ("indexed", old_id)
        entry = manifest.get(old_id)
        assert entry is not None and entry.name == "sub/report.pdf"
        assert [d.doc_id for d in store.documents()].count(old_id) == 1
        assert {p.name for p in store.retrieve(list(entry.unit_ids)).values()} == {"sub/report.pdf"}
        assert store.stats().documents == 3
        assert indexer.run([corpus]).files[0].status == "unchanged"


REBUILD = textwrap.dedent(
    """
    import shutil, sys
    from pathlib import Path
    import numpy as np
    from mmsearch import components
    from mmsearch.config import load_settings
    # A rebuild from scratch, all at the top level (no ``if __name__ == "__main__":`` guard).
    settings = load_settings(None, {})
    shutil.rmtree(settings.data_dir, ignore_errors=True)
    store = components.build_store(settings)
    embedder = components.build_embedder(settings)
    with components.build_manifest(settings) as manifest:
        report = components.build_indexer(settings, embedder, store, manifest, None).run([Path(sys.argv[1])])
    hits = store.search(np.full(embedder.dim, embedder.dim**-0.5, dtype=np.float32), limit=100)
    print(len(report.failed), len(hits), store.count(), flush=True)
    store.close()
    """
)


def test_a_script_that_ingests_at_its_top_level_keeps_every_point(tiny_models: Path, tmp_path: Path) -> None:
    """The PDF render workers are spawned processes: they must not run the parent's unguarded main
    script again (this one clears the data folder first: in each worker it deleted the store the parent
    was writing, whose close then failed and whose points were gone on reopening)."""
    corpus = tmp_path / "corpus"
    make_pdf(corpus / "a.pdf", 2, topic="owls")
    make_pdf(corpus / "b.pdf", 2, topic="cats")
    (tmp_path / "rebuild.py").write_text(REBUILD)
    data = tmp_path / "data"
    done = subprocess.run(
        [sys.executable, "rebuild.py", str(corpus)], check=False, cwd=tmp_path, capture_output=True, text=True,
        env=tiny_env(data, tiny_models, PYTHONPATH=str(REPO)), timeout=budget(120),
    )  # fmt: skip
    assert (done.returncode, done.stdout.split()) == (0, ["0", "4", "4"]), done.stderr[-3000:]
    with components.build_store(tiny_settings(data, tiny_models)) as store:
        assert store.count() == 4
        assert sorted(d.name for d in store.documents()) == ["a.pdf", "b.pdf"]
