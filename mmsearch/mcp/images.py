"""The images an MCP tool sends an agent: JPEG, at most ``MAX_SIDE`` pixels a side and ``MAX_BYTES`` each.

A search attaches the images of its best hits, at most ``MAX_IMAGES`` and ``MAX_TOTAL_BYTES`` together,
so one call stays well inside an agent's context and a transport's message limits. An image over the
byte bound is re-encoded at lower quality, then scaled down, until it fits.
"""

from __future__ import annotations

import io

from PIL import Image, UnidentifiedImageError

MAX_SIDE = 1024  # pixels, the longer side
MAX_BYTES = 400_000  # one image, JPEG bytes
MAX_TOTAL_BYTES = 1_200_000  # every image of one search together
MAX_IMAGES = 5  # the most a search attaches
DEFAULT_IMAGES = 3  # what it attaches unless asked for fewer or more
QUALITIES = (85, 70, 55)
SHRINK = 0.7  # each step past the lowest quality scales the sides by this
MIN_SIDE = 64  # below this an image is not worth sending


def agent_jpeg(data: bytes, max_side: int = MAX_SIDE, max_bytes: int = MAX_BYTES) -> bytes | None:
    """``data`` (a stored page or frame image) as a JPEG within both bounds; None when it is not an image
    or cannot be made to fit."""
    try:
        with Image.open(io.BytesIO(data)) as opened:
            image = opened.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    while min(image.size) >= MIN_SIDE:
        for quality in QUALITIES:
            encoded = _jpeg(image, quality)
            if len(encoded) <= max_bytes:
                return encoded
        size = (max(1, round(image.width * SHRINK)), max(1, round(image.height * SHRINK)))
        image = image.resize(size, Image.Resampling.LANCZOS)
    return None


def _jpeg(image: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality, optimize=True)
    return out.getvalue()
