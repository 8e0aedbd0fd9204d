"""Hostile files at the reader: MP4s whose atoms lie (a ``moov`` cut short, an ``stsz`` that claims
billions of samples or 2 GiB samples), a PDF of 100,000 objects, and a page MuPDF would render for hours.
Each ends in one clear per-file outcome in bounded time and memory: an error naming the file, or a
normal read."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pymupdf
import pytest

from mmsearch.errors import CorruptFile, LimitExceeded
from mmsearch.ingest.reader import read_file
from mmsearch.ingest.settings import IngestSettings
from mmsearch.ingest.units import PageUnit
from mmsearch.samples import (
    make_bad_files,
    make_many_objects_pdf,
    make_pdf,
    make_slow_page_pdf,
    make_video,
    mp4_atoms,
    patch_stsz,
    truncated_moov,
)
from tests.support import REPO, budget

HOSTILE_MP4 = ("truncated-moov.mp4", "huge-stsz-count.mp4", "huge-stsz-size.mp4")


def test_the_hostile_mp4s_are_edited_where_they_say(tmp_path: Path) -> None:
    video = make_video(tmp_path / "good.mp4", 2, fps=5).read_bytes()
    [(moov, size)] = [(offset, size) for kind, offset, size in mp4_atoms(video) if kind == b"moov"]
    cut = truncated_moov(video)
    assert len(cut) == moov + size // 2 and cut == video[: len(cut)]  # the frames are all there
    [stsz] = [offset for kind, offset, _ in mp4_atoms(video) if kind == b"stsz"]
    fields = struct.unpack(">II", video[stsz + 12 : stsz + 20])  # sample_size, sample_count
    assert fields == (0, 10)  # a table of ten sizes
    counted = patch_stsz(video, count=0xFFFF_FFF0)
    assert struct.unpack(">II", counted[stsz + 12 : stsz + 20]) == (0, 0xFFFF_FFF0)
    sized = patch_stsz(video, size=0x7FFF_FFFF)
    assert struct.unpack(">II", sized[stsz + 12 : stsz + 20]) == (0x7FFF_FFFF, 10)
    assert len(counted) == len(sized) == len(video)  # only the fields changed


# Reads each file given and prints what happened and the process's peak memory (its own, so the
# test's process, with torch and the models, does not hide it).
_READ_EACH = """
import json, resource, sys
from pathlib import Path
from mmsearch.errors import IngestError
from mmsearch.ingest.reader import read_file
from mmsearch.ingest.settings import IngestSettings
from mmsearch.ingest.units import PageUnit
out = {}
for name in sys.argv[1:]:
    try:
        _, units = read_file(Path(name), IngestSettings(render_workers=0))
        out[Path(name).name] = f"units: {len(list(units))}"
    except IngestError as exc:
        out[Path(name).name] = f"{exc.code}: {exc}"
out["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
print(json.dumps(out))
"""


def read_each(files: list[str]) -> dict[str, Any]:
    """``_READ_EACH`` in a fresh Python: each file's outcome, and the process's peak memory."""
    done = subprocess.run(
        [sys.executable, "-c", _READ_EACH, *files],
        check=False,
        capture_output=True,
        text=True,
        timeout=budget(120),
        cwd=REPO,  # this checkout's mmsearch, first on the path
    )
    assert done.returncode == 0, done.stderr
    out: dict[str, Any] = json.loads(done.stdout)
    return out


def test_mp4_atoms_that_lie_fail_their_file_fast_and_without_the_memory_they_claim(tmp_path: Path) -> None:
    make_bad_files(tmp_path)
    files = [str(tmp_path / name) for name in HOSTILE_MP4]
    started = time.monotonic()
    out = read_each(files)
    for name in HOSTILE_MP4:
        assert out[name].startswith(f"corrupt_file: {name}: "), out[name]
        assert "re-encode it" in out[name] or "no frames" in out[name]
    # 0xFFFFFFF0 sizes are 16 GiB and one 2 GiB sample is 2 GiB: nothing near either is ever held.
    assert out["maxrss_mb"] < 1024, out
    print(f"hostile MP4s: {time.monotonic() - started:.1f} s, peak {out['maxrss_mb']} MB")


def test_a_page_mupdf_renders_for_hours_fails_its_file_at_the_render_timeout(tmp_path: Path) -> None:
    slow = make_slow_page_pdf(tmp_path / "slow.pdf")
    timeout = budget(3.0)
    settings = IngestSettings(render_workers=1, render_timeout_s=timeout)
    started = time.monotonic()
    _, units = read_file(slow, settings)
    with pytest.raises(LimitExceeded) as failed:
        list(units)
    took = time.monotonic() - started
    assert str(failed.value) == (
        f"slow.pdf: page 1 of 1 took longer than ingest.render_timeout_s ({timeout:g} s) to render; "
        "raise the limit to include it"
    )
    assert timeout <= took < timeout + budget(30), took  # the deadline fired, not the page's end
    good = tmp_path / "good.pdf"
    make_pdf(good, 2, with_charts=False)
    assert len(list(read_file(good, settings)[1])) == 2  # the killed worker was replaced


def test_the_slow_page_is_a_valid_page_that_is_only_slow(tmp_path: Path) -> None:
    """The same construction, shallow: it renders (so the deep one fails on time, not on an error)."""
    shallow = make_slow_page_pdf(tmp_path / "shallow.pdf", depth=8)
    [page] = list(read_file(shallow, IngestSettings(render_workers=0))[1])
    assert isinstance(page, PageUnit)
    assert page.image.getextrema() != ((255, 255),) * 3  # the squares are drawn


def test_a_pdf_of_100k_objects_is_read_in_bounded_time(tmp_path: Path) -> None:
    pdf = make_many_objects_pdf(tmp_path / "many.pdf")
    with pymupdf.open(pdf) as doc:
        assert doc.xref_length() == 100_000 + 5  # free entry 0, four structural objects, the forms
    settings = IngestSettings(render_workers=1, render_timeout_s=budget(60.0))
    started = time.monotonic()
    [page] = list(read_file(pdf, settings)[1])
    assert isinstance(page, PageUnit)
    assert (page.page, page.page_count) == (1, 1) and page.image.getextrema() != ((255, 255),) * 3
    print(f"100k-object PDF: read in {time.monotonic() - started:.1f} s")


def test_a_pdf_of_100k_objects_is_read_within_bounded_memory(tmp_path: Path) -> None:
    """Rendered in the reading process itself (``render_workers: 0``), so its peak memory is measured."""
    pdf = make_many_objects_pdf(tmp_path / "many.pdf")
    out = read_each([str(pdf)])
    assert out["many.pdf"] == "units: 1", out
    assert out["maxrss_mb"] < 1024, out  # an 18 MB file: its parsed objects, not a multiple of them
    print(f"100k-object PDF: peak {out['maxrss_mb']} MB")


def test_every_hostile_file_is_in_the_bad_files(tmp_path: Path) -> None:
    expected = make_bad_files(tmp_path)
    assert {name: expected[name] for name in HOSTILE_MP4} == dict.fromkeys(HOSTILE_MP4, CorruptFile.code)
