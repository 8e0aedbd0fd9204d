"""Pixel budgets: the size a page, image or frame is stored at.

Qwen3-VL sees images on a grid of 32-pixel cells (patch 16 × spatial merge 2) and resizes every input
with ``qwen_vl_utils.smart_resize`` (QwenLM/Qwen3-VL, ``qwen-vl-utils/src/qwen_vl_utils/vision_process.py``):
both sides rounded to a multiple of 32, the area kept within [min_pixels, max_pixels], the aspect ratio
kept as closely as possible, and ratios above 200:1 refused. ``fit_size`` computes the same size, so what
ingest stores is already at model resolution and the model's own resize leaves it unchanged: the
embedder and the reranker (which reads the stored copy) see the same pixels.
"""

from __future__ import annotations

import math

from PIL import Image

from mmsearch.errors import UnsupportedFile
from mmsearch.ingest.settings import MODEL_MIN_PIXELS

GRID = 32  # patch size 16 x spatial merge 2
MAX_ASPECT_RATIO = 200  # smart_resize refuses anything longer or thinner


def fit_size(
    width: float, height: float, max_pixels: int, *, name: str, min_pixels: int = MODEL_MIN_PIXELS
) -> tuple[int, int]:
    """``(width, height)`` on the 32-pixel grid with ``min_pixels <= w*h <= max_pixels``.

    Sizes are floats so a PDF page's size at its DPI can be passed before rounding. ``name`` is the
    file named in the error raised for an aspect ratio the model cannot take.
    """
    if width <= 0 or height <= 0:
        raise UnsupportedFile(f"{name}: has no area ({width:g} x {height:g})")
    ratio = max(width, height) / min(width, height)
    if ratio > MAX_ASPECT_RATIO:
        raise UnsupportedFile(
            f"{name}: aspect ratio {ratio:.0f}:1 exceeds the model's limit of {MAX_ASPECT_RATIO}:1; "
            "crop or split it"
        )
    w, h = max(GRID, _round(width)), max(GRID, _round(height))
    if w * h > max_pixels:
        beta = math.sqrt(width * height / max_pixels)
        w, h = _floor(width / beta), _floor(height / beta)
        if w * h > max_pixels:  # the short side hit the one-cell minimum: shorten the long side
            w, h = (_floor(max_pixels / h), h) if w >= h else (w, _floor(max_pixels / w))
    elif w * h < min_pixels:
        beta = math.sqrt(min_pixels / (width * height))
        w, h = _ceil(width * beta), _ceil(height * beta)
    return w, h


def resize(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``image`` at exactly ``size``: Lanczos when shrinking (sharp text), bicubic when enlarging."""
    if image.size == size:
        return image
    shrinking = size[0] * size[1] < image.width * image.height
    method = Image.Resampling.LANCZOS if shrinking else Image.Resampling.BICUBIC
    return image.resize(size, method, reducing_gap=3.0 if shrinking else None)


def _round(x: float) -> int:
    return round(x / GRID) * GRID


def _floor(x: float) -> int:
    return max(GRID, math.floor(x / GRID) * GRID)


def _ceil(x: float) -> int:
    return math.ceil(x / GRID) * GRID
