from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from mmsearch.errors import StoreError
from mmsearch.ingest import manifest as manifest_module
from mmsearch.ingest.manifest import Manifest, committed_versions
from mmsearch.ingest.names import Labels
from mmsearch.ingest.units import Source, doc_id_for, legacy_doc_id


def _source(path: Path, sha: str = "a" * 64) -> Source:
    st = path.stat()
    return Source(str(path.resolve()), sha, st.st_size, st.st_mtime, "pdf")


@pytest.fixture
def doc(tmp_path: Path) -> Path:
    path = tmp_path / "doc.pdf"
    path.write_bytes(b"%PDF-1.7 content")
    return path


def test_done_only_after_mark_done_and_only_for_the_same_bytes_name_and_fingerprint(
    tmp_path: Path, doc: Path
) -> None:
    with Manifest(tmp_path / "data" / "manifest.sqlite") as manifest:
        source = _source(doc)
        assert not manifest.is_done(source.doc_id, "doc.pdf", source.sha256, "fp1")
        assert manifest.get(source.doc_id) is None
        manifest.mark_done(source, "fp1", ["u1", "u2"])
        assert manifest.is_done(source.doc_id, "doc.pdf", source.sha256, "fp1")
        assert not manifest.is_done(source.doc_id, "doc.pdf", "b" * 64, "fp1")
        assert not manifest.is_done(
            source.doc_id, "doc.pdf", source.sha256, "fp2"
        )  # settings or model changed
        assert not manifest.is_done(source.doc_id, "other.pdf", source.sha256, "fp1")  # renamed: write again
        entry = manifest.get(source.doc_id)
        assert entry is not None
        assert (entry.status, entry.unit_ids, entry.units, entry.error) == ("done", ("u1", "u2"), 2, None)
        assert (entry.doc_id, entry.collection, entry.name) == (source.doc_id, "default", "doc.pdf")
        assert entry.doc_id == doc_id_for("default", "doc.pdf")


def test_cheap_check_uses_size_and_mtime(tmp_path: Path, doc: Path) -> None:
    doc_id = doc_id_for("default", "doc.pdf")
    with Manifest(tmp_path / "m.sqlite") as manifest:
        assert not manifest.is_unchanged(doc_id, "doc.pdf", doc, "fp")
        manifest.mark_done(_source(doc), "fp", ["u1"])
        assert manifest.is_unchanged(doc_id, "doc.pdf", doc, "fp")
        assert not manifest.is_unchanged(doc_id, "doc.pdf", doc, "other-fp")
        assert not manifest.is_unchanged(doc_id, "q3/doc.pdf", doc, "fp")  # another name
        os.utime(doc, ns=(time.time_ns(), time.time_ns() + 5_000_000_000))
        assert not manifest.is_unchanged(doc_id, "doc.pdf", doc, "fp")  # touched: hash again
        assert manifest.refresh_stat(_source(doc))  # same bytes: record the new stat
        assert manifest.is_unchanged(doc_id, "doc.pdf", doc, "fp")
        doc.write_bytes(b"%PDF-1.7 other content, longer")
        assert not manifest.is_unchanged(doc_id, "doc.pdf", doc, "fp")
        assert not manifest.refresh_stat(_source(doc, sha="c" * 64))  # other bytes: no refresh
        doc.unlink()
        assert not manifest.is_unchanged(doc_id, "doc.pdf", doc, "fp")


def test_failure_is_recorded_and_undoes_done(tmp_path: Path, doc: Path) -> None:
    with Manifest(tmp_path / "m.sqlite") as manifest:
        source = _source(doc)
        manifest.mark_failed(source.doc_id, "default", "doc.pdf", doc, "corrupt_file: doc.pdf: truncated")
        entry = manifest.get(source.doc_id)
        assert entry is not None and (entry.status, entry.error, entry.sha256) == (
            "failed",
            "corrupt_file: doc.pdf: truncated",
            None,
        )
        manifest.mark_done(source, "fp", ["u1"])
        manifest.mark_failed(source.doc_id, "default", "doc.pdf", str(doc), "embedder_error: boom")
        entry = manifest.get(source.doc_id)
        assert entry is not None and entry.status == "failed" and entry.sha256 == source.sha256
        assert not manifest.is_done(source.doc_id, "doc.pdf", source.sha256, "fp")
        assert not manifest.is_unchanged(source.doc_id, "doc.pdf", doc, "fp")


def test_locations_are_resolved_paths(tmp_path: Path, doc: Path) -> None:
    (tmp_path / "alias.pdf").symlink_to(doc)
    with Manifest(tmp_path / "m.sqlite") as manifest:
        source = _source(doc)
        manifest.mark_done(source, "fp", [])
        assert [e.doc_id for e in manifest.at_path(tmp_path / "alias.pdf")] == [source.doc_id]
        assert manifest.forget(source.doc_id) is True
        assert manifest.get(source.doc_id) is None
        assert manifest.forget(source.doc_id) is False


def test_one_name_per_collection_two_collections_two_documents(tmp_path: Path, doc: Path) -> None:
    with Manifest(tmp_path / "m.sqlite") as manifest:
        finance = replace(_source(doc), collection="finance", name="contract.pdf", doc_id="")
        legal = replace(_source(doc), collection="legal", name="contract.pdf", doc_id="")
        assert finance.doc_id != legal.doc_id
        manifest.mark_done(finance, "fp", ["f"], Labels.checked("finance", ["finance"], {"year": 2024}))
        manifest.mark_done(legal, "fp", ["l"])
        assert manifest.identify("finance", "contract.pdf") == finance.doc_id
        assert manifest.identify("legal", "contract.pdf") == legal.doc_id
        found = manifest.find("finance", "contract.pdf")
        assert found is not None and (found.groups, dict(found.metadata)) == (("finance",), {"year": 2024})
        assert manifest.find("hr", "contract.pdf") is None
        assert [(e.collection, e.name) for e in manifest.documents()] == [
            ("finance", "contract.pdf"),
            ("legal", "contract.pdf"),
        ]
        assert committed_versions(manifest.path, [finance.doc_id, legal.doc_id, "nope"]) == {
            finance.doc_id: finance.sha256,
            legal.doc_id: legal.sha256,
        }


def test_documents_are_listed_sorted_and_filtered(tmp_path: Path) -> None:
    paths = []
    for name in ["c.pdf", "a.pdf", "b.pdf"]:
        (tmp_path / name).write_bytes(b"x")
        paths.append(tmp_path / name)
    with Manifest(tmp_path / "m.sqlite") as manifest:
        manifest.mark_done(_source(paths[0]), "fp", ["1"])
        manifest.mark_done(_source(paths[1]), "fp", ["2"])
        manifest.mark_failed(doc_id_for("default", "b.pdf"), "default", "b.pdf", paths[2], "bad")
        assert [e.name for e in manifest.documents()] == ["a.pdf", "b.pdf", "c.pdf"]
        assert [e.name for e in manifest.documents("failed")] == ["b.pdf"]


def _v1_manifest(db: Path, rows: list[tuple[str, str | None, str]]) -> None:
    """A manifest as mmsearch wrote it before names (schema 1), with the same SQL it used."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, sha256 TEXT, size INTEGER, mtime REAL, "
        "fingerprint TEXT, status TEXT NOT NULL CHECK (status IN ('done', 'failed')), unit_ids TEXT NOT NULL "
        "DEFAULT '[]', error TEXT, updated REAL NOT NULL)"
    )
    conn.execute("PRAGMA user_version=1")
    for path, sha, status in rows:
        conn.execute(
            "INSERT INTO files (path, sha256, size, mtime, fingerprint, status, unit_ids, error, updated) "
            "VALUES (?, ?, 10, 1.5, 'fp', ?, ?, NULL, 2.5)",
            (path, sha, status, json.dumps([f"u-{Path(path).name}"])),
        )
    conn.close()


def test_a_schema_1_manifest_is_migrated_in_place_keeping_every_row(tmp_path: Path, doc: Path) -> None:
    db = tmp_path / "manifest.sqlite"
    done, failed = str(doc.resolve()), str(tmp_path / "q3" / "broken.pdf")
    _v1_manifest(db, [(done, "a" * 64, "done"), (failed, None, "failed")])
    assert committed_versions(db, [legacy_doc_id(done)]) == {legacy_doc_id(done): "a" * 64}  # read as v1
    with Manifest(db) as manifest:
        entries = {e.doc_id: e for e in manifest.documents()}
        assert set(entries) == {legacy_doc_id(done), legacy_doc_id(failed)}  # old ids kept
        kept = entries[legacy_doc_id(done)]
        assert (kept.collection, kept.name, kept.path, kept.sha256, kept.status, kept.unit_ids) == (
            "default", "doc.pdf", done, "a" * 64, "done", ("u-doc.pdf",),
        )  # fmt: skip
        assert entries[legacy_doc_id(failed)].name == "broken.pdf"
        assert manifest.is_done(legacy_doc_id(done), "doc.pdf", "a" * 64, "fp")
        assert manifest._db.execute("PRAGMA user_version").fetchone()[0] == 3
        assert kept.text_fingerprint is None  # its text fingerprint is the pipeline's to recognise
        tables = {r[0] for r in manifest._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert "files" not in tables
        # the same file under the same name keeps its old id; re-ingested from a folder under a longer
        # name, the pre-name document is adopted (renamed at its next commit), not doubled
        assert manifest.identify("default", "doc.pdf", doc) == legacy_doc_id(done)
        assert manifest.identify("default", "sub/doc.pdf", doc) == legacy_doc_id(done)
        assert manifest.identify("default", "sub/doc.pdf") == doc_id_for("default", "sub/doc.pdf")
        assert manifest.identify("finance", "sub/doc.pdf", doc) == doc_id_for("finance", "sub/doc.pdf")
    assert committed_versions(db, [legacy_doc_id(done)]) == {legacy_doc_id(done): "a" * 64}
    with Manifest(db) as again:  # opening a migrated manifest again changes nothing
        assert len(again.documents()) == 2


def _as_schema_2(db: Path) -> None:
    """Turn a manifest back into what mmsearch wrote before text fingerprints (schema 2)."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("ALTER TABLE documents DROP COLUMN text_fingerprint")
    conn.execute("PRAGMA user_version=2")
    conn.close()


def test_a_schema_2_manifest_gains_text_fingerprints_and_mark_text_sets_both(
    tmp_path: Path, doc: Path
) -> None:
    db = tmp_path / "manifest.sqlite"
    source = _source(doc)
    with Manifest(db) as manifest:
        manifest.mark_done(source, "old-fp", ["u1", "u2"], Labels(metadata={"year": 2024}))
    _as_schema_2(db)
    with Manifest(db) as manifest:
        assert manifest._db.execute("PRAGMA user_version").fetchone()[0] == 3
        entry = manifest.get(source.doc_id)
        assert entry is not None
        assert (entry.fingerprint, entry.text_fingerprint, entry.unit_ids) == ("old-fp", None, ("u1", "u2"))
        assert dict(entry.metadata) == {"year": 2024} and entry.status == "done"
        assert manifest.is_unchanged(source.doc_id, "doc.pdf", doc, "old-fp")  # the row is whole
        # Only a done row of these bytes gets its text marked: another version, or a failed row, never.
        assert not manifest.mark_text(source.doc_id, "b" * 64, "vec", "text")
        assert not manifest.mark_text(doc_id_for("default", "other.pdf"), source.sha256, "vec", "text")
        assert manifest.mark_text(source.doc_id, source.sha256, "vec", "text")
        marked = manifest.get(source.doc_id)
        assert marked is not None and (marked.fingerprint, marked.text_fingerprint) == ("vec", "text")
        assert (marked.sha256, marked.unit_ids, marked.size, marked.mtime) == (
            entry.sha256, entry.unit_ids, entry.size, entry.mtime,
        )  # fmt: skip
        manifest.mark_failed(source.doc_id, "default", "doc.pdf", doc, "broken")
        assert not manifest.mark_text(source.doc_id, source.sha256, "vec", "text2")
        manifest.mark_done(source, "vec2", ["u3"], text_fingerprint="text3")
        done = manifest.get(source.doc_id)
        assert done is not None and (done.fingerprint, done.text_fingerprint) == ("vec2", "text3")
    with Manifest(db) as again:  # opening a migrated manifest again changes nothing
        assert again._db.execute("PRAGMA user_version").fetchone()[0] == 3
        assert [e.text_fingerprint for e in again.documents()] == ["text3"]


def test_persists_in_wal_mode_and_survives_a_killed_process(tmp_path: Path, doc: Path) -> None:
    db = tmp_path / "m.sqlite"
    script = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from mmsearch.ingest.manifest import Manifest\n"
        "from mmsearch.ingest.units import Source\n"
        "m = Manifest(Path(sys.argv[1]))\n"
        "m.mark_done(Source(sys.argv[2], 'a' * 64, 1, 1.0, 'pdf'), 'fp', ['u'])\n"
        "os._exit(9)  # no close, no commit hooks: like kill -9\n"
    )
    result = subprocess.run([sys.executable, "-c", script, str(db), str(doc.resolve())], check=False)
    assert result.returncode == 9
    with Manifest(db) as manifest:
        assert manifest.is_done(doc_id_for("default", "doc.pdf"), "doc.pdf", "a" * 64, "fp")
        assert manifest._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_damaged_or_newer_manifest_is_a_clear_store_error(tmp_path: Path) -> None:
    (tmp_path / "junk.sqlite").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match=r"junk\.sqlite is damaged .* delete it to rebuild"):
        Manifest(tmp_path / "junk.sqlite")
    with Manifest(tmp_path / "new.sqlite") as manifest:
        manifest._db.execute("PRAGMA user_version=99")
    with pytest.raises(StoreError, match="written by a newer mmsearch"):
        Manifest(tmp_path / "new.sqlite")


def test_committed_versions_reuse_one_read_only_connection_per_thread(tmp_path: Path, doc: Path) -> None:
    """A search opens no connection: each thread keeps one, read-only, that sees every later commit of the
    writer (WAL, autocommit: no read transaction held between calls) and never writes."""
    db = tmp_path / "m.sqlite"
    with Manifest(db) as manifest:
        first = _source(doc, "a" * 64)
        manifest.mark_done(first, "fp", ["1"])
        assert committed_versions(db, [first.doc_id]) == {first.doc_id: "a" * 64}
        reader = manifest_module._reader(db)
        assert reader is not None
        manifest.mark_done(_source(doc, "b" * 64), "fp", ["2"])  # a new version, committed by the writer
        assert committed_versions(db, [first.doc_id]) == {first.doc_id: "b" * 64}
        assert manifest_module._reader(db) is reader  # the same connection, reused
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            reader.db.execute("DELETE FROM documents")
        seen: list[dict[str, str]] = []
        readers: list[manifest_module._Reader | None] = []

        def other_thread() -> None:
            seen.append(committed_versions(db, [first.doc_id]))
            readers.append(manifest_module._reader(db))

        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
        assert seen == [{first.doc_id: "b" * 64}]
        assert readers[0] is not None and readers[0].db is not reader.db
        assert manifest.documents()[0].sha256 == "b" * 64  # the writer is not disturbed


def test_a_manifest_replaced_under_its_path_is_read_afresh(tmp_path: Path, doc: Path) -> None:
    db = tmp_path / "m.sqlite"
    with Manifest(db) as manifest:
        manifest.mark_done(_source(doc, "a" * 64), "fp", ["1"])
    doc_id = _source(doc).doc_id
    assert committed_versions(db, [doc_id]) == {doc_id: "a" * 64}
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    assert committed_versions(db, [doc_id]) == {}  # gone: no manifest
    with Manifest(db) as manifest:  # rebuilt: another file
        manifest.mark_done(_source(doc, "c" * 64), "fp", ["1"])
        assert committed_versions(db, [doc_id]) == {doc_id: "c" * 64}


def test_a_thread_keeps_a_few_manifest_connections_at_most(tmp_path: Path, doc: Path) -> None:
    paths = []
    for i in range(manifest_module.READERS_PER_THREAD + 2):
        paths.append(tmp_path / f"m{i}.sqlite")
        with Manifest(paths[-1]) as manifest:
            manifest.mark_done(_source(doc, f"{i:064x}"), "fp", ["1"])
    doc_id = _source(doc).doc_id
    for i, path in enumerate(paths):
        assert committed_versions(path, [doc_id]) == {doc_id: f"{i:064x}"}
    held = manifest_module._readers.held
    assert list(held) == [str(p) for p in paths[-manifest_module.READERS_PER_THREAD :]]  # oldest closed


def test_a_damaged_manifest_is_a_store_error_for_a_search(tmp_path: Path) -> None:
    db = tmp_path / "m.sqlite"
    db.write_bytes(b"this is not a database, " * 100)
    with pytest.raises(StoreError, match="damaged"):
        committed_versions(db, ["x"])
    assert str(db) not in manifest_module._readers.held  # the next search opens it afresh
