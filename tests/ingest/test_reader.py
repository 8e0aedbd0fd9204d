from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from mmsearch.errors import CorruptFile, IngestError, UnsupportedFile
from mmsearch.ingest.reader import identify, read_file, read_units
from mmsearch.ingest.settings import IngestSettings
from mmsearch.ingest.units import ImageUnit, PageUnit, SegmentUnit
from mmsearch.ingest.walk import FileFailure, Skipped, walk
from mmsearch.samples import make_image, make_pdf

ERRORS = {CorruptFile.code: CorruptFile, UnsupportedFile.code: UnsupportedFile}


def test_source_records_path_hash_size_mtime_and_kind(tmp_path: Path, settings: IngestSettings) -> None:
    make_pdf(tmp_path / "real.pdf", 2, with_charts=False)
    (tmp_path / "alias.pdf").symlink_to(tmp_path / "real.pdf")
    source, _ = read_file(tmp_path / "alias.pdf", settings)
    data = (tmp_path / "real.pdf").read_bytes()
    stat = (tmp_path / "real.pdf").stat()
    assert source.path == str((tmp_path / "real.pdf").resolve())
    assert source.sha256 == hashlib.sha256(data).hexdigest()
    assert (source.size, source.mtime, source.kind) == (len(data), stat.st_mtime, "pdf")


def test_unit_ids_are_stable_across_reads_and_move_with_content(
    tmp_path: Path, settings: IngestSettings
) -> None:
    make_pdf(tmp_path / "a.pdf", 2, with_charts=False)
    first = [u.id for u in read_file(tmp_path / "a.pdf", settings)[1]]
    again = [u.id for u in read_file(tmp_path / "a.pdf", settings)[1]]
    make_pdf(tmp_path / "a.pdf", 2, with_charts=False, texts=["changed", "text"])
    changed = [u.id for u in read_file(tmp_path / "a.pdf", settings)[1]]
    assert first == again and len(set(first)) == 2
    assert not set(first) & set(changed)


def test_every_bad_file_gives_one_clear_error_of_its_class(
    bad_files: tuple[Path, dict[str, str]], settings: IngestSettings
) -> None:
    folder, expected = bad_files
    assert len(expected) >= 12
    for name, code in expected.items():
        with pytest.raises(IngestError) as info:
            _, units = read_file(folder / name, settings)
            list(units)
        assert type(info.value) is ERRORS[code], f"{name}: {info.value!r}"
        assert str(info.value).startswith(f"{name}: "), str(info.value)


def test_walk_and_read_a_mixed_folder_never_stops(
    bad_files: tuple[Path, dict[str, str]], corpus: Path, settings: IngestSettings
) -> None:
    outcomes: dict[str, str] = {}
    for item in walk([corpus, bad_files[0]], settings):
        if isinstance(item, FileFailure | Skipped):
            outcomes[Path(item.path).name] = item.code
            continue
        try:
            _, units = read_file(item.path, settings)
            outcomes[item.name] = f"{sum(1 for _ in units)} units"
        except IngestError as exc:
            outcomes[item.name] = exc.code
    assert {k: v for k, v in outcomes.items() if k in bad_files[1]} == bad_files[1]
    assert outcomes["quarterly-report.pdf"] == "4 units"
    assert outcomes["moving-block.mp4"] == "1 units"
    assert outcomes["photo-landscape.jpg"] == "1 units"


def test_sample_corpus_reads_into_every_unit_type(corpus: Path, settings: IngestSettings) -> None:
    kinds: dict[str, int] = {}
    for path in sorted(corpus.iterdir()):
        _, units = read_file(path, settings)
        for unit in units:
            kinds[type(unit).__name__] = kinds.get(type(unit).__name__, 0) + 1
            assert isinstance(unit, PageUnit | ImageUnit | SegmentUnit)
    assert kinds == {"PageUnit": 11, "ImageUnit": 4, "SegmentUnit": 1}


def test_missing_file_and_directory_are_ingest_errors(tmp_path: Path, settings: IngestSettings) -> None:
    with pytest.raises(IngestError, match=r"gone\.pdf: cannot be read \(No such file or directory\)"):
        read_file(tmp_path / "gone.pdf", settings)
    with pytest.raises(UnsupportedFile, match="not a regular file"):
        read_file(tmp_path, settings)


def test_a_fifo_is_refused_without_blocking(tmp_path: Path, settings: IngestSettings) -> None:
    os.mkfifo(tmp_path / "pipe.mp4")
    with pytest.raises(UnsupportedFile, match=r"pipe\.mp4: not a regular file"):
        read_file(tmp_path / "pipe.mp4", settings)


def test_size_limits(tmp_path: Path) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    make_pdf(tmp_path / "big.pdf", 2)
    with pytest.raises(UnsupportedFile, match=r"empty\.png: the file is empty \(0 bytes\)"):
        read_file(tmp_path / "empty.png", IngestSettings())
    with pytest.raises(UnsupportedFile, match=r"big\.pdf: .* MB is over ingest\.max_file_mb \(0\.001 MB\)"):
        read_file(tmp_path / "big.pdf", IngestSettings(max_file_mb=0.001))


def test_identify_hashes_without_opening_and_read_units_opens(
    bad_files: tuple[Path, dict[str, str]], tmp_path: Path, settings: IngestSettings
) -> None:
    folder, _ = bad_files
    source = identify(folder / "encrypted.pdf", settings)  # a done file would be skipped here
    assert source.kind == "pdf" and len(source.sha256) == 64
    with pytest.raises(CorruptFile, match="password-protected"):
        read_units(source, settings)


def test_a_file_replaced_between_identify_and_read_units_is_an_error(
    tmp_path: Path, settings: IngestSettings
) -> None:
    make_pdf(tmp_path / "doc.pdf", 1)
    source = identify(tmp_path / "doc.pdf", settings)
    make_image(tmp_path / "doc.pdf", "png")
    with pytest.raises(
        IngestError, match=r"doc\.pdf: changed while being read \(was pdf, now image\); retry"
    ):
        read_units(source, settings)
