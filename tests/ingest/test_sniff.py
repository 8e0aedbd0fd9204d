from __future__ import annotations

from pathlib import Path

import pytest

from mmsearch.errors import UnsupportedFile
from mmsearch.ingest.sniff import Format, sniff, sniff_file
from mmsearch.samples import make_image, make_pdf, make_video, png_header


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3", Format("pdf", "pdf")),
        (b"\xef\xbb\xbfjunk before the header\n%PDF-1.4\n", Format("pdf", "pdf")),  # Annex H tolerance
        (png_header(10, 10), Format("image", "png")),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", Format("image", "jpeg")),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", Format("image", "webp")),
        (b"II*\x00\x08\x00\x00\x00", Format("image", "tiff")),
        (b"MM\x00*\x00\x00\x00\x08", Format("image", "tiff")),
        (b"BM" + bytes(12) + (40).to_bytes(4, "little") + bytes(8), Format("image", "bmp")),
        (b"GIF89a\x01\x00\x01\x00", Format("image", "gif")),
        (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00", Format("video", "mp4")),
        (b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00", Format("video", "mov")),
        (b"\x00\x00\x00\x08wide\x00\x00\x10\x00mdat", Format("video", "mov")),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm", Format("video", "webm")),
        (b"\x1a\x45\xdf\xa3\xa3\x42\x86\x81\x01\x42\x82\x88matroska", Format("video", "mkv")),
        (b"RIFF\x00\x10\x00\x00AVI LIST", Format("video", "avi")),
    ],
)
def test_magic_bytes_decide(head: bytes, expected: Format) -> None:
    assert sniff(head, "whatever.name") == expected


def test_extension_is_only_a_hint(tmp_path: Path) -> None:
    make_pdf(tmp_path / "actually-a-pdf.jpg", 1)
    make_image(tmp_path / "actually-a-png.pdf", "png")
    make_video(tmp_path / "actually-a-video.txt", 1, fps=2, container="webm")
    assert sniff_file(tmp_path / "actually-a-pdf.jpg") == Format("pdf", "pdf")
    assert sniff_file(tmp_path / "actually-a-png.pdf") == Format("image", "png")
    assert sniff_file(tmp_path / "actually-a-video.txt") == Format("video", "webm")


@pytest.mark.parametrize(
    ("head", "name", "message"),
    [
        (b"Meeting notes\nnot a pdf at all\n", "x.pdf", "x.pdf: not a PDF (content looks like text)"),
        (b"<!DOCTYPE html><html>", "page.png", "page.png: not an image (content looks like HTML)"),
        (b"PK\x03\x04" + bytes(20), "deck.mp4", "deck.mp4: not a video (content looks like a ZIP archive"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00", "photo.heic", "HEIF/AVIF image, which is not supported"),
        (
            b"\x00\x01\x02\x03\xff\xfe\x00",
            "blob.bin",
            "blob.bin: unsupported file type (content looks like unknown binary",
        ),
        (b"", "empty.pdf", "empty.pdf: not a PDF (content looks like nothing: the file is empty)"),
        (b"BM but really text", "notes.bmp", "notes.bmp: not an image (content looks like text)"),
    ],
)
def test_unrecognised_content_is_refused_with_what_it_looks_like(
    head: bytes, name: str, message: str
) -> None:
    with pytest.raises(UnsupportedFile) as info:
        sniff(head, name)
    assert message in str(info.value)


def test_text_cut_mid_character_is_still_text() -> None:
    head = ("é" * 2048).encode()[:4095]  # the last 2-byte character is cut in half
    with pytest.raises(UnsupportedFile, match="looks like text"):
        sniff(head, "notes.pdf")
