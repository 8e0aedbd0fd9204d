from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmsearch.errors import CorruptFile, UnsupportedFile
from mmsearch.ingest.image import load_query_image
from mmsearch.ingest.pixels import GRID
from mmsearch.ingest.reader import read_file
from mmsearch.ingest.settings import IngestSettings
from mmsearch.ingest.units import ImageUnit
from mmsearch.samples import make_image, make_pdf, png_header

RED = np.array([230, 20, 20])


def _unit(path: Path, settings: IngestSettings) -> ImageUnit:
    source, units = read_file(path, settings)
    (unit,) = list(units)
    assert isinstance(unit, ImageUnit) and source.kind == "image"
    return unit


def _is_red(pixel: np.ndarray) -> bool:
    return bool(np.abs(pixel.astype(int) - RED).max() < 60)


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp", "tiff", "bmp", "gif"])
def test_every_format_gives_one_rgb_unit_on_the_grid(
    tmp_path: Path, settings: IngestSettings, fmt: str
) -> None:
    unit = _unit(make_image(tmp_path / f"pic.{fmt}", fmt, (320, 240)), settings)
    assert unit.image.mode == "RGB"
    assert unit.original_size == (320, 240)
    assert unit.image.size == (320, 256)  # the model grid (qwen smart_resize rounds 240 to 256)
    assert _is_red(np.asarray(unit.image)[5, 5])  # the marker block is top-left


@pytest.mark.parametrize(
    ("orientation", "corner"), [(6, "top_right"), (8, "bottom_left"), (3, "bottom_right")]
)
def test_exif_orientation_is_applied(
    tmp_path: Path, settings: IngestSettings, orientation: int, corner: str
) -> None:
    path = make_image(tmp_path / "phone.jpg", "jpeg", (200, 100), exif_orientation=orientation)
    unit = _unit(path, settings)
    pixels = np.asarray(unit.image)
    h, w, _ = pixels.shape
    transposed = orientation in (6, 8)
    assert unit.original_size == ((100, 200) if transposed else (200, 100))
    assert (h > w) == transposed
    spot = {"top_right": (4, w - 5), "bottom_left": (h - 5, 4), "bottom_right": (h - 5, w - 5)}[corner]
    assert _is_red(pixels[spot])
    assert not _is_red(pixels[4, 4])


def test_transparency_is_composited_on_white(tmp_path: Path, settings: IngestSettings) -> None:
    unit = _unit(make_image(tmp_path / "logo.png", "png", (320, 240), alpha=True), settings)
    pixels = np.asarray(unit.image)
    assert unit.image.mode == "RGB"
    assert pixels[5, 300].tolist() == [255, 255, 255]  # transparent background
    assert _is_red(pixels[5, 5])  # opaque marker


def test_palette_transparency_is_composited_on_white(tmp_path: Path, settings: IngestSettings) -> None:
    image = Image.new("P", (64, 64), 0)
    image.putpalette([0, 0, 0, 200, 30, 30] + [0, 0, 0] * 254)
    image.paste(1, (0, 0, 16, 16))
    image.save(tmp_path / "p.gif", transparency=0)
    pixels = np.asarray(_unit(tmp_path / "p.gif", settings).image)
    assert pixels[60, 60].tolist() == [255, 255, 255]
    assert pixels[2, 2].tolist() == [200, 30, 30]


def test_gif_contributes_its_first_frame(tmp_path: Path, settings: IngestSettings) -> None:
    path = make_image(tmp_path / "anim.gif", "gif", (128, 96), frames=3)
    with Image.open(path) as gif:
        first = np.asarray(gif.convert("RGB"), dtype=float)
        gif.seek(1)
        second = np.asarray(gif.convert("RGB"), dtype=float)
    got = np.asarray(_unit(path, settings).image, dtype=float)
    assert got.shape == first.shape
    assert np.abs(got - first).mean() < np.abs(got - second).mean() / 5


def test_sixteen_bit_grey_is_scaled_not_clipped(tmp_path: Path, settings: IngestSettings) -> None:
    ramp = np.tile(np.linspace(0, 65535, 256, dtype=np.uint16), (64, 1))
    Image.fromarray(ramp).save(tmp_path / "depth.png")
    pixels = np.asarray(_unit(tmp_path / "depth.png", settings).image)
    assert pixels[:, :, 0].min() <= 2 and pixels[:, :, 0].max() >= 253
    assert 100 < pixels[:, 128, 0].mean() < 155  # mid-grey in the middle, not saturated white


def test_large_image_is_scaled_down_into_max_pixels(tmp_path: Path) -> None:
    settings = IngestSettings(max_pixels=64 * GRID * GRID, video_frame_max_pixels=64 * GRID * GRID)
    unit = _unit(make_image(tmp_path / "big.jpg", "jpeg", (3000, 2000)), settings)
    w, h = unit.image.size
    assert w * h <= 64 * GRID * GRID and w % GRID == 0 and h % GRID == 0
    assert unit.original_size == (3000, 2000)
    assert _is_red(np.asarray(unit.image)[2, 2])


def test_decompression_bomb_header_fails_fast_before_decoding(
    tmp_path: Path, settings: IngestSettings
) -> None:
    (tmp_path / "bomb.png").write_bytes(png_header(30000, 30000))
    started = time.perf_counter()
    with pytest.raises(UnsupportedFile, match=r"bomb\.png: refused as a possible decompression bomb"):
        read_file(tmp_path / "bomb.png", settings)
    assert time.perf_counter() - started < 1.0


def test_our_decode_limit_applies_below_pillows(tmp_path: Path) -> None:
    (tmp_path / "big.png").write_bytes(png_header(4000, 4000))
    with pytest.raises(
        UnsupportedFile, match=r"4000 x 4000 = 16,000,000 pixels, over ingest\.max_decode_pixels"
    ):
        read_file(tmp_path / "big.png", IngestSettings(max_decode_pixels=10_000_000))


def test_pillow_global_limit_is_left_alone(tmp_path: Path) -> None:
    before = Image.MAX_IMAGE_PIXELS
    (tmp_path / "bomb.png").write_bytes(png_header(30000, 30000))
    with pytest.raises(UnsupportedFile):
        read_file(tmp_path / "bomb.png", IngestSettings())
    assert Image.MAX_IMAGE_PIXELS == before


@pytest.mark.parametrize("fmt", ["png", "jpeg", "gif"])
def test_truncated_image_is_corrupt(tmp_path: Path, settings: IngestSettings, fmt: str) -> None:
    data = make_image(tmp_path / f"whole.{fmt}", fmt, (320, 240)).read_bytes()
    (tmp_path / f"cut.{fmt}").write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptFile, match=rf"cut\.{fmt}: the {fmt.upper()} image cannot be decoded"):
        read_file(tmp_path / f"cut.{fmt}", settings)


def test_header_only_png_is_corrupt(tmp_path: Path, settings: IngestSettings) -> None:
    (tmp_path / "hollow.png").write_bytes(png_header(64, 64))
    with pytest.raises(CorruptFile, match=r"hollow\.png: the PNG image cannot be decoded"):
        read_file(tmp_path / "hollow.png", settings)


def test_query_image_from_path_and_bytes_matches_ingest(tmp_path: Path, settings: IngestSettings) -> None:
    path = make_image(tmp_path / "q.jpg", "jpeg", (200, 100), exif_orientation=6)
    from_path = load_query_image(path, settings)
    from_bytes = load_query_image(path.read_bytes(), settings)
    ingested = _unit(path, settings).image
    assert from_path.size == from_bytes.size == ingested.size == (96, 192)
    assert np.array_equal(np.asarray(from_path), np.asarray(ingested))


def test_query_image_refuses_other_files_clearly(tmp_path: Path, settings: IngestSettings) -> None:
    make_pdf(tmp_path / "doc.pdf", 1)
    with pytest.raises(UnsupportedFile, match=r"doc\.pdf: not an image \(it is a PDF file\)"):
        load_query_image(tmp_path / "doc.pdf", settings)
    with pytest.raises(UnsupportedFile, match=r"upload: unsupported file type \(content looks like text\)"):
        load_query_image(b"hello", settings, name="upload")
    with pytest.raises(UnsupportedFile, match=r"missing\.png: cannot read the image"):
        load_query_image(tmp_path / "missing.png", settings)
