from __future__ import annotations

import hashlib
from pathlib import Path

import pymupdf
import pytest

from mmsearch.samples import (
    main,
    make_image,
    make_pdf,
    make_scanned_pdf,
    make_video,
    marker_word,
    page_text,
    scanned_lines,
    scanned_word,
)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    "make",
    [
        lambda p: make_pdf(p / "a.pdf", 2),
        lambda p: make_scanned_pdf(p / "a.pdf", 2),
        lambda p: make_image(p / "a.webp", "webp"),
        lambda p: make_image(p / "a.gif", "gif", frames=2),
        lambda p: make_video(p / "a.mp4", 1, fps=5),
        lambda p: make_video(p / "a.webm", 1, fps=5),
    ],
)
def test_same_call_same_bytes(tmp_path: Path, make) -> None:
    make(tmp_path / "one")
    make(tmp_path / "two")
    (first,) = (tmp_path / "one").iterdir()
    assert _digest(first) == _digest(tmp_path / "two" / first.name)


def test_pdf_pages_carry_distinct_words(tmp_path: Path) -> None:
    texts = make_pdf(tmp_path / "a.pdf", 3, topic="chemistry")
    assert texts == [page_text("chemistry", n) for n in (1, 2, 3)]
    assert len({marker_word("chemistry", n) for n in (1, 2, 3)}) == 3
    with pymupdf.open(tmp_path / "a.pdf") as doc:
        assert doc.page_count == 3
        assert marker_word("chemistry", 2) in doc[1].get_text()
        shapes = sum(len(d["items"]) for d in doc[0].get_drawings())
        assert shapes >= 25 + 6 + 2  # 5x5 table cells, 6 chart bars, 2 axes: drawn, not just text


def test_a_scanned_pdf_has_pictures_of_its_words_and_no_text_layer(tmp_path: Path) -> None:
    drawn = make_scanned_pdf(tmp_path / "scan.pdf", 2)
    assert drawn == [scanned_lines(1), scanned_lines(2)]
    assert scanned_word(1) != scanned_word(2) and scanned_word(1) in drawn[0][1]
    with pymupdf.open(tmp_path / "scan.pdf") as doc:
        assert [page.get_text() for page in doc] == ["", ""]
        assert all(len(page.get_images()) == 1 for page in doc)
    with pytest.raises(ValueError, match="lines has 1 pages for 2 pages"):
        make_scanned_pdf(tmp_path / "b.pdf", 2, lines=[["only one"]])


def test_pdf_texts_must_match_the_page_count(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="texts has 1 entries for 2 pages"):
        make_pdf(tmp_path / "a.pdf", 2, texts=["only one"])


def test_unknown_video_container_is_refused(tmp_path: Path) -> None:
    with pytest.raises(
        ValueError, match=r"unknown video container 'flv'; use one of \['avi', 'mkv', 'mov', 'mp4', 'webm'\]"
    ):
        make_video(tmp_path / "a.flv", 1)


def test_command_line_writes_the_corpus(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "samples")]) == 0
    written = capsys.readouterr().out.split()
    assert len(written) == 9 and str(tmp_path / "samples" / "scanned-memo.pdf") in written
    assert main([]) == 2
