from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmsearch.errors import CorruptFile, IngestError
from mmsearch.ingest.media import delete_media, load_media, media_folder, prune_media, save_media
from mmsearch.ingest.reader import read_file
from mmsearch.ingest.settings import IngestSettings
from mmsearch.ingest.units import SegmentUnit, Unit
from mmsearch.samples import make_pdf, make_video


def _units(path: Path, settings: IngestSettings) -> list[Unit]:
    return list(read_file(path, settings)[1])


def test_pages_are_saved_once_as_high_quality_jpeg(tmp_path: Path, settings: IngestSettings) -> None:
    make_pdf(tmp_path / "doc.pdf", 2, with_charts=False)
    data = tmp_path / "data"
    units = _units(tmp_path / "doc.pdf", settings)
    paths = [save_media(u, data, quality=92) for u in units]
    assert [len(p) for p in paths] == [1, 1]
    stored = paths[0][0]
    assert stored == data / units[0].media_paths[0]
    assert stored.read_bytes()[:3] == b"\xff\xd8\xff"
    loaded = load_media(units[0].media_paths[0], data)
    assert loaded.size == units[0].image.size and loaded.mode == "RGB"
    diff = np.abs(np.asarray(loaded, dtype=float) - np.asarray(units[0].image, dtype=float)).mean()
    assert diff < 3.0
    before = stored.stat().st_mtime_ns
    save_media(units[0], data, quality=50)  # present: not rewritten
    assert stored.stat().st_mtime_ns == before
    assert not list(stored.parent.glob(".tmp-*"))


def test_segment_frames_are_saved_one_file_each(tmp_path: Path, settings: IngestSettings) -> None:
    make_video(tmp_path / "v.mp4", 4, fps=5, size=(64, 48))
    (segment,) = _units(tmp_path / "v.mp4", settings)
    assert isinstance(segment, SegmentUnit)
    paths = save_media(segment, tmp_path / "data", quality=90)
    assert len(paths) == len(segment.frames) == 4
    # 64x48 frames enlarged to qwen-vl-utils' 128-cell minimum for a video frame
    assert [load_media(rel, tmp_path / "data").size for rel in segment.media_paths] == [(448, 320)] * 4


def test_media_folder_matches_the_units_layout(tmp_path: Path, settings: IngestSettings) -> None:
    make_pdf(tmp_path / "doc.pdf", 1)
    (unit,) = _units(tmp_path / "doc.pdf", settings)
    assert media_folder(unit.doc_id, tmp_path) == tmp_path / unit.media_dir


@pytest.mark.parametrize(
    "relpath", ["../secret.jpg", "media/../manifest.sqlite", "/etc/passwd", "media", "qdrant/x.jpg"]
)
def test_load_refuses_paths_outside_the_media_folder(tmp_path: Path, relpath: str) -> None:
    (tmp_path / "media").mkdir()
    with pytest.raises(IngestError, match="is outside .*media; refusing to open it"):
        load_media(relpath, tmp_path)


def test_load_reports_missing_and_damaged_media(tmp_path: Path) -> None:
    (tmp_path / "media" / "ab").mkdir(parents=True)
    (tmp_path / "media" / "ab" / "bad.jpg").write_bytes(b"\xff\xd8\xff not really")
    with pytest.raises(IngestError, match=r"stored media media/ab/none\.jpg is missing"):
        load_media("media/ab/none.jpg", tmp_path)
    with pytest.raises(CorruptFile, match=r"stored media media/ab/bad\.jpg cannot be decoded"):
        load_media("media/ab/bad.jpg", tmp_path)


def test_delete_and_prune(tmp_path: Path, settings: IngestSettings) -> None:
    make_pdf(tmp_path / "doc.pdf", 3, with_charts=False)
    data = tmp_path / "data"
    units = _units(tmp_path / "doc.pdf", settings)
    for unit in units:
        save_media(unit, data, quality=85)
    keep = {units[0].media_paths[0]}
    assert prune_media(units[0].doc_id, data, keep) == 2
    assert [p.name for p in media_folder(units[0].doc_id, data).iterdir()] == [
        Path(units[0].media_paths[0]).name
    ]
    assert delete_media(units[0].doc_id, data) is True
    assert not media_folder(units[0].doc_id, data).exists()
    assert not (data / "media" / units[0].doc_id[:2]).exists()
    assert delete_media(units[0].doc_id, data) is False


@pytest.mark.parametrize("bad", ["../../etc", "", "not-a-uuid"])
def test_delete_and_prune_take_only_document_ids(tmp_path: Path, bad: str) -> None:
    with pytest.raises(IngestError, match="is not a document id"):
        delete_media(bad, tmp_path)
    with pytest.raises(IngestError, match="is not a document id"):
        prune_media(bad, tmp_path, set())
