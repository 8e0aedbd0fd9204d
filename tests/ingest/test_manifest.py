from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mmsearch.errors import StoreError
from mmsearch.ingest.manifest import Manifest
from mmsearch.ingest.units import Source


def _source(path: Path, sha: str = "a" * 64) -> Source:
    st = path.stat()
    return Source(str(path.resolve()), sha, st.st_size, st.st_mtime, "pdf")


@pytest.fixture
def doc(tmp_path: Path) -> Path:
    path = tmp_path / "doc.pdf"
    path.write_bytes(b"%PDF-1.7 content")
    return path


def test_done_only_after_mark_done_and_only_for_the_same_bytes_and_fingerprint(
    tmp_path: Path, doc: Path
) -> None:
    with Manifest(tmp_path / "data" / "manifest.sqlite") as manifest:
        source = _source(doc)
        assert not manifest.is_done(source.path, source.sha256, "fp1")
        assert manifest.get(doc) is None
        manifest.mark_done(source, "fp1", ["u1", "u2"])
        assert manifest.is_done(source.path, source.sha256, "fp1")
        assert not manifest.is_done(source.path, "b" * 64, "fp1")
        assert not manifest.is_done(source.path, source.sha256, "fp2")  # settings or model changed
        entry = manifest.get(doc)
        assert entry is not None
        assert (entry.status, entry.unit_ids, entry.units, entry.error) == ("done", ("u1", "u2"), 2, None)
        assert entry.doc_id == source.doc_id


def test_cheap_check_uses_size_and_mtime(tmp_path: Path, doc: Path) -> None:
    with Manifest(tmp_path / "m.sqlite") as manifest:
        assert not manifest.is_unchanged(doc, "fp")
        manifest.mark_done(_source(doc), "fp", ["u1"])
        assert manifest.is_unchanged(doc, "fp")
        assert not manifest.is_unchanged(doc, "other-fp")
        os.utime(doc, ns=(time.time_ns(), time.time_ns() + 5_000_000_000))
        assert not manifest.is_unchanged(doc, "fp")  # touched: hash again
        assert manifest.refresh_stat(_source(doc))  # same bytes: record the new stat
        assert manifest.is_unchanged(doc, "fp")
        doc.write_bytes(b"%PDF-1.7 other content, longer")
        assert not manifest.is_unchanged(doc, "fp")
        assert not manifest.refresh_stat(_source(doc, sha="c" * 64))  # other bytes: no refresh
        doc.unlink()
        assert not manifest.is_unchanged(doc, "fp")


def test_failure_is_recorded_and_undoes_done(tmp_path: Path, doc: Path) -> None:
    with Manifest(tmp_path / "m.sqlite") as manifest:
        source = _source(doc)
        manifest.mark_failed(doc, "corrupt_file: doc.pdf: truncated")
        entry = manifest.get(doc)
        assert entry is not None and (entry.status, entry.error, entry.sha256) == (
            "failed",
            "corrupt_file: doc.pdf: truncated",
            None,
        )
        manifest.mark_done(source, "fp", ["u1"])
        manifest.mark_failed(str(doc), "embedder_error: boom")
        entry = manifest.get(doc)
        assert entry is not None and entry.status == "failed" and entry.sha256 == source.sha256
        assert not manifest.is_done(source.path, source.sha256, "fp")
        assert not manifest.is_unchanged(doc, "fp")


def test_keys_are_resolved_paths(tmp_path: Path, doc: Path) -> None:
    (tmp_path / "alias.pdf").symlink_to(doc)
    with Manifest(tmp_path / "m.sqlite") as manifest:
        manifest.mark_done(_source(doc), "fp", [])
        assert manifest.get(tmp_path / "alias.pdf") is not None
        assert manifest.forget(str(tmp_path / "alias.pdf")) is True
        assert manifest.get(doc) is None
        assert manifest.forget(doc) is False


def test_documents_are_listed_sorted_and_filtered(tmp_path: Path) -> None:
    paths = []
    for name in ["c.pdf", "a.pdf", "b.pdf"]:
        (tmp_path / name).write_bytes(b"x")
        paths.append(tmp_path / name)
    with Manifest(tmp_path / "m.sqlite") as manifest:
        manifest.mark_done(_source(paths[0]), "fp", ["1"])
        manifest.mark_done(_source(paths[1]), "fp", ["2"])
        manifest.mark_failed(paths[2], "bad")
        assert [Path(e.path).name for e in manifest.documents()] == ["a.pdf", "b.pdf", "c.pdf"]
        assert [Path(e.path).name for e in manifest.documents("failed")] == ["b.pdf"]


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
        assert manifest.is_done(doc, "a" * 64, "fp")
        assert manifest._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_damaged_or_newer_manifest_is_a_clear_store_error(tmp_path: Path) -> None:
    (tmp_path / "junk.sqlite").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match=r"junk\.sqlite is damaged .* delete it to rebuild"):
        Manifest(tmp_path / "junk.sqlite")
    with Manifest(tmp_path / "new.sqlite") as manifest:
        manifest._db.execute("PRAGMA user_version=99")
    with pytest.raises(StoreError, match="written by a newer mmsearch"):
        Manifest(tmp_path / "new.sqlite")
