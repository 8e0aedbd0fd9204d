from __future__ import annotations

from pathlib import Path

import numpy as np
import pymupdf
import pytest

from mmsearch.errors import CorruptFile, UnsupportedFile
from mmsearch.ingest import pdf, render
from mmsearch.ingest.pixels import GRID, MODEL_MIN_PIXELS
from mmsearch.ingest.reader import read_file
from mmsearch.ingest.render import RenderOptions
from mmsearch.ingest.settings import IngestSettings
from mmsearch.ingest.units import PageUnit, Unit
from mmsearch.samples import make_pdf, marker_word, zero_page_pdf

AES256 = pymupdf.PDF_ENCRYPT_AES_256  # type: ignore[attr-defined]  # missing from the stubs
IN_PROCESS = IngestSettings(render_workers=0)


def only_page(unit: Unit) -> PageUnit:
    assert isinstance(unit, PageUnit), unit
    return unit


def test_one_unit_per_page_with_text_layer_and_page_facts(tmp_path: Path, settings: IngestSettings) -> None:
    texts = make_pdf(tmp_path / "report.pdf", 3, topic="birds")
    source, units = read_file(tmp_path / "report.pdf", settings)
    pages = [only_page(u) for u in units]
    assert source.kind == "pdf"
    assert [p.page for p in pages] == [1, 2, 3]
    assert all(isinstance(p, PageUnit) and p.page_count == 3 for p in pages)
    assert all((p.width_pt, p.height_pt) == (595.0, 842.0) for p in pages)
    for number, page in enumerate(pages, start=1):
        assert marker_word("birds", number) in page.text
        assert texts[number - 1].split()[-1].rstrip(".") in page.text
        others = [marker_word("birds", n) for n in (1, 2, 3) if n != number]
        assert not any(word in page.text for word in others)


def test_page_is_rgb_on_the_grid_within_budget_at_dpi(tmp_path: Path) -> None:
    make_pdf(tmp_path / "letter.pdf", 1, page_size=(612, 792))
    small = IngestSettings(pdf_dpi=72)
    page = next(read_file(tmp_path / "letter.pdf", small)[1])
    assert page.image.mode == "RGB"
    assert page.image.size == (608, 800)  # 612x792 pt at 72 dpi, on the 32-px grid
    pixels = np.asarray(page.image)
    assert pixels.min() < 50 and pixels.max() > 200  # real content: dark text on white


def test_oversized_page_is_scaled_down_into_max_pixels(tmp_path: Path, settings: IngestSettings) -> None:
    make_pdf(tmp_path / "poster.pdf", 1, page_size=(2000, 3000))  # 4000 x 6000 px at 144 dpi
    page = next(read_file(tmp_path / "poster.pdf", settings)[1])
    w, h = page.image.size
    assert w * h <= settings.max_pixels
    assert w % GRID == 0 and h % GRID == 0
    assert abs(h / w - 1.5) < 0.05  # aspect kept


def test_tiny_page_is_scaled_up_to_the_model_minimum(tmp_path: Path, settings: IngestSettings) -> None:
    make_pdf(tmp_path / "stamp.pdf", 1, page_size=(12, 10), with_tables=False, with_charts=False, texts=["x"])
    page = next(read_file(tmp_path / "stamp.pdf", settings)[1])
    w, h = page.image.size
    assert w * h >= MODEL_MIN_PIXELS


def test_text_is_truncated_to_text_chars(tmp_path: Path) -> None:
    make_pdf(tmp_path / "a.pdf", 1)
    page = next(read_file(tmp_path / "a.pdf", IngestSettings(text_chars=25))[1])
    assert 0 < len(page.text) <= 25
    empty = next(read_file(tmp_path / "a.pdf", IngestSettings(text_chars=0))[1])
    assert empty.text == ""


def test_pages_are_rendered_lazily_in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = IN_PROCESS
    make_pdf(tmp_path / "long.pdf", 6, with_charts=False)
    rendered: list[int] = []
    real = render.render

    def counting(page: pymupdf.Page, options: RenderOptions, *, name: str):
        rendered.append(page.number)
        return real(page, options, name=name)

    monkeypatch.setattr(render, "render", counting)
    _, units = read_file(tmp_path / "long.pdf", settings)
    assert rendered == []
    next(units)
    next(units)
    assert rendered == [0, 1]


def test_a_page_failing_mid_document_fails_the_file_naming_the_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = IN_PROCESS  # the patch below reaches this process only
    make_pdf(tmp_path / "doc.pdf", 3, with_charts=False)
    real = pymupdf.Page.get_pixmap

    def broken_on_page_2(self: pymupdf.Page, *args: object, **kwargs: object) -> pymupdf.Pixmap:
        if self.number == 1:
            raise pymupdf.FileDataError("cannot decode content stream")
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pymupdf.Page, "get_pixmap", broken_on_page_2)
    _, units = read_file(tmp_path / "doc.pdf", settings)
    assert only_page(next(units)).page == 1
    with pytest.raises(
        CorruptFile, match=r"doc\.pdf: page 2 of 3 cannot be rendered: cannot decode content stream"
    ):
        next(units)


def test_rotated_page_reports_its_displayed_size(tmp_path: Path, settings: IngestSettings) -> None:
    make_pdf(tmp_path / "portrait.pdf", 1, page_size=(400, 600), with_tables=False, with_charts=False)
    with pymupdf.open(tmp_path / "portrait.pdf") as doc:
        doc[0].set_rotation(90)
        doc.save(tmp_path / "landscape.pdf")
    page = only_page(next(read_file(tmp_path / "landscape.pdf", settings)[1]))
    assert (page.width_pt, page.height_pt) == (600, 400)
    assert page.image.width > page.image.height


def test_encrypted_pdf_is_refused_with_how_to_fix(tmp_path: Path, settings: IngestSettings) -> None:
    make_pdf(tmp_path / "plain.pdf", 1)
    with pymupdf.open(tmp_path / "plain.pdf") as doc:
        doc.save(tmp_path / "locked.pdf", encryption=AES256, user_pw="pw", owner_pw="o")
    with pytest.raises(CorruptFile, match=r"locked\.pdf: the PDF is password-protected; decrypt it first"):
        read_file(tmp_path / "locked.pdf", settings)


def test_owner_password_only_pdf_is_readable(tmp_path: Path, settings: IngestSettings) -> None:
    make_pdf(tmp_path / "plain.pdf", 2)
    with pymupdf.open(tmp_path / "plain.pdf") as doc:
        doc.save(tmp_path / "restricted.pdf", encryption=AES256, owner_pw="o", permissions=0)
    assert len(list(read_file(tmp_path / "restricted.pdf", settings)[1])) == 2


@pytest.mark.parametrize("keep", [0.3, 0.9, 0.99])
def test_truncated_pdf_is_corrupt(tmp_path: Path, settings: IngestSettings, keep: float) -> None:
    make_pdf(tmp_path / "whole.pdf", 4)
    data = (tmp_path / "whole.pdf").read_bytes()
    (tmp_path / "cut.pdf").write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(CorruptFile, match=r"cut\.pdf: "):
        read_file(tmp_path / "cut.pdf", settings)


def test_repaired_pdf_with_an_eof_marker_is_accepted(tmp_path: Path, settings: IngestSettings) -> None:
    make_pdf(tmp_path / "whole.pdf", 2, with_charts=False)
    data = (tmp_path / "whole.pdf").read_bytes()
    start = data.rindex(b"startxref")
    (tmp_path / "badxref.pdf").write_bytes(data[:start] + b"startxref\n12345\n%%EOF\n")  # wrong xref offset
    assert [only_page(p).page for p in read_file(tmp_path / "badxref.pdf", settings)[1]] == [1, 2]


def test_zero_page_and_garbage_pdfs_are_corrupt(tmp_path: Path, settings: IngestSettings) -> None:
    (tmp_path / "zero.pdf").write_bytes(zero_page_pdf())
    (tmp_path / "garbage.pdf").write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 8)
    with pytest.raises(CorruptFile, match=r"zero\.pdf: the PDF has no pages"):
        read_file(tmp_path / "zero.pdf", settings)
    with pytest.raises(CorruptFile, match=r"garbage\.pdf: "):
        read_file(tmp_path / "garbage.pdf", settings)


def test_extreme_page_aspect_is_refused_naming_the_page(tmp_path: Path, settings: IngestSettings) -> None:
    make_pdf(
        tmp_path / "strip.pdf", 1, page_size=(14000, 20), with_tables=False, with_charts=False, texts=["x"]
    )
    _, units = read_file(tmp_path / "strip.pdf", settings)
    with pytest.raises(UnsupportedFile, match=r"strip\.pdf page 1: aspect ratio 700:1"):
        next(units)


def test_closing_early_closes_the_document(tmp_path: Path, settings: IngestSettings) -> None:
    make_pdf(tmp_path / "a.pdf", 3, with_charts=False)
    doc = pdf.open_pdf(tmp_path / "a.pdf")
    source = read_file(tmp_path / "a.pdf", settings)[0]
    units = pdf.pages(doc, source, settings)
    next(units)
    units.close()
    assert doc.is_closed
