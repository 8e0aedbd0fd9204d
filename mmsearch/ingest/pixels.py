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
from typing import TYPE_CHECKING

from PIL import Image

from mmsearch.errors import UnsupportedFile

if TYPE_CHECKING:
    import torch

PATCH_SIZE = 16  # the vision encoder's patch (qwen-vl-utils ``image_patch_size``)
GRID = 2 * PATCH_SIZE  # patch x spatial merge 2: one LLM token per 32-pixel cell
MAX_ASPECT_RATIO = 200  # smart_resize refuses anything longer or thinner
# The embedding model's pixel limits for an image (``ingest.max_pixels`` may only lower the maximum).
MODEL_MIN_PIXELS = 4 * GRID * GRID
MODEL_MAX_PIXELS = 1800 * GRID * GRID
# qwen-vl-utils ``fetch_video`` (patch 16): a frame has 128 to 768 cells; a clip's frames together at most
# the official embedder's ``total_pixels`` for a frame list, 10 · 768 cells per frame pair.
VIDEO_MIN_PIXELS = 128 * GRID * GRID
VIDEO_MAX_PIXELS = 768 * GRID * GRID
VIDEO_TOTAL_PIXELS = 10 * VIDEO_MAX_PIXELS
# Frames of one clip the official embedder keeps at most (linearly sampled): ``ingest.video_max_frames``
# may only lower it.
MODEL_MAX_FRAMES = 64


def fit_size(
    width: float, height: float, max_pixels: float, *, name: str, min_pixels: int = MODEL_MIN_PIXELS
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
    """``image`` at exactly ``size``, resampled as the model's own preprocessing does.

    qwen-vl-utils ``fetch_image`` calls ``image.resize((width, height))`` with Pillow's default filter
    (bicubic for RGB, no ``reducing_gap``) after converting to RGB; doing the same here gives the very
    pixels the official code would feed the model from the original file, and its own resize of our
    result is then a no-op (same size → ``Image.resize`` returns a copy). A sharper filter (Lanczos)
    shifts the vectors of shrunk images measurably, so nothing the models read is made any other way;
    thumbnails for people are derived separately (``api/routes/images.py``).
    """
    if image.size == size:
        return image
    return image.resize(size, Image.Resampling.BICUBIC)


def video_frame_size(
    width: float, height: float, frames: int, max_pixels: float = VIDEO_MAX_PIXELS, *, name: str
) -> tuple[int, int]:
    """``(width, height)`` of every frame of a clip of ``frames`` frames, as qwen-vl-utils ``fetch_video``
    sizes a decoded video (patch 16): ``smart_resize`` with ``min_pixels = 128·32²`` and
    ``max_pixels = max(min(768·32², total / n · 2), 1.05 · min_pixels)``, ``n`` the frame count rounded up
    to even, further capped by ``max_pixels`` (``ingest.video_frame_max_pixels``).

    ``total`` is the official embedder's budget for a frame list (``10·768·32²``). For a video file it
    passes none (qwen-vl-utils then allows ~118 M pixels), so up to 20 frames the two agree; beyond,
    large frames would overflow the model's 8192-token input in the official code, and this budget keeps
    a full segment within it instead.
    """
    count = frames + frames % 2
    cap = max(min(VIDEO_MAX_PIXELS, VIDEO_TOTAL_PIXELS / count * 2), int(VIDEO_MIN_PIXELS * 1.05))
    cap = min(cap, max_pixels)
    return fit_size(width, height, cap, name=name, min_pixels=min(VIDEO_MIN_PIXELS, int(cap)))


def resize_frames(frames: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """uint8 frames ``[T, 3, H, W]`` (or one ``[3, H, W]``) at ``size`` = ``(width, height)``, resampled as
    qwen-vl-utils ``fetch_video`` does: torchvision bicubic with antialiasing (the same size: untouched)."""
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as tvf

    resized: torch.Tensor = tvf.resize(
        frames, [size[1], size[0]], interpolation=InterpolationMode.BICUBIC, antialias=True
    )
    return resized


def _round(x: float) -> int:
    return round(x / GRID) * GRID


def _floor(x: float) -> int:
    return max(GRID, math.floor(x / GRID) * GRID)


def _ceil(x: float) -> int:
    return math.ceil(x / GRID) * GRID
