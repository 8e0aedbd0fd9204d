"""``mcp/images.py``: what an agent is sent is a JPEG within the side and byte bounds, or nothing."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from mmsearch.mcp.images import MAX_BYTES, MAX_SIDE, agent_jpeg


def png(width: int, height: int, noise: bool) -> bytes:
    pixels = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    image = Image.fromarray(pixels) if noise else Image.new("RGB", (width, height), (200, 40, 40))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_a_large_page_is_scaled_to_the_side_bound_keeping_its_shape() -> None:
    jpeg = agent_jpeg(png(3000, 2000, noise=False))
    assert jpeg is not None and len(jpeg) <= MAX_BYTES
    image = opened(jpeg)
    assert image.format == "JPEG" and image.size == (MAX_SIDE, round(2000 * MAX_SIDE / 3000))


def test_a_small_image_is_not_enlarged() -> None:
    jpeg = agent_jpeg(png(120, 80, noise=False))
    assert jpeg is not None and opened(jpeg).size == (120, 80)


def test_an_image_over_the_byte_bound_is_reencoded_then_shrunk_until_it_fits() -> None:
    noisy = png(1024, 1024, noise=True)  # noise does not compress: ~1 MB at any JPEG quality at full size
    jpeg = agent_jpeg(noisy, max_bytes=60_000)
    assert jpeg is not None and len(jpeg) <= 60_000
    assert max(opened(jpeg).size) < 1024


def test_what_cannot_fit_or_is_no_image_gives_nothing() -> None:
    assert agent_jpeg(png(1024, 1024, noise=True), max_bytes=500) is None
    assert agent_jpeg(b"%PDF-1.7 not an image") is None
    assert agent_jpeg(b"") is None
