from __future__ import annotations

import pytest
from PIL import Image
from qwen_vl_utils.vision_process import smart_resize

from mmsearch.errors import UnsupportedFile
from mmsearch.ingest.pixels import (
    GRID,
    MAX_ASPECT_RATIO,
    MODEL_MAX_FRAMES,
    MODEL_MAX_PIXELS,
    MODEL_MIN_PIXELS,
    PATCH_SIZE,
    VIDEO_MAX_PIXELS,
    VIDEO_TOTAL_PIXELS,
    fit_size,
    resize,
)

SIZES = [
    (1, 1),
    (10, 7),
    (100, 75),
    (320, 240),
    (1190, 1684),
    (1684, 1190),
    (4000, 6000),
    (12000, 80),
    (600, 4),
]


@pytest.mark.parametrize(("width", "height"), SIZES)
@pytest.mark.parametrize("budget", [MODEL_MAX_PIXELS, VIDEO_MAX_PIXELS, 64 * GRID * GRID])
def test_matches_qwen_smart_resize_so_the_model_resizes_nothing(width: int, height: int, budget: int) -> None:
    h, w = smart_resize(height, width, factor=32, min_pixels=MODEL_MIN_PIXELS, max_pixels=budget)
    got = fit_size(width, height, budget, name="x")
    if h == 0:  # smart_resize floors a very thin side to nothing; we keep one cell and shorten the other
        assert got[1] == GRID and got[0] * got[1] <= budget
    else:
        assert got == (w, h)


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_result_is_on_the_grid_and_within_budget(width: int, height: int) -> None:
    w, h = fit_size(width, height, MODEL_MAX_PIXELS, name="x")
    assert w % GRID == 0 and h % GRID == 0
    assert MODEL_MIN_PIXELS <= w * h <= MODEL_MAX_PIXELS
    # and the model's own resize of the result is the identity
    assert smart_resize(h, w, factor=32, min_pixels=MODEL_MIN_PIXELS, max_pixels=MODEL_MAX_PIXELS) == (h, w)


def test_extreme_aspect_ratio_is_refused_by_name() -> None:
    with pytest.raises(
        UnsupportedFile, match=r"banner\.png: aspect ratio 250:1 exceeds the model's limit of 200:1"
    ):
        fit_size(25000, 100, MODEL_MAX_PIXELS, name="banner.png")


def test_no_area_is_refused() -> None:
    with pytest.raises(UnsupportedFile, match="has no area"):
        fit_size(0, 100, MODEL_MAX_PIXELS, name="x")


def test_smallest_budget_still_holds_with_a_one_cell_short_side() -> None:
    w, h = fit_size(199 * 5, 5, MODEL_MIN_PIXELS, name="x")
    assert w * h <= MODEL_MIN_PIXELS and h == GRID


def test_resize_hits_the_exact_size() -> None:
    image = Image.new("RGB", (1001, 333), (10, 20, 30))
    assert resize(image, (320, 96)).size == (320, 96)
    assert resize(image, (1001, 333)) is image


@pytest.mark.parametrize(("width", "height"), [(333, 517), (4000, 3000), (40, 30), (1001, 333)])
def test_resize_gives_the_pixels_qwen_vl_utils_gives(width: int, height: int) -> None:
    """What the model reads is resized as ``fetch_image`` resizes it (bicubic), so our stored copy and
    the official code's input are the same pixels, and the model's own resize of ours is a no-op."""
    import numpy as np
    from qwen_vl_utils.vision_process import fetch_image

    rng = np.random.default_rng(width)
    image = Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8))
    ours = resize(image, fit_size(width, height, MODEL_MAX_PIXELS, name="x"))
    budget = {"min_pixels": MODEL_MIN_PIXELS, "max_pixels": MODEL_MAX_PIXELS}
    official = fetch_image({"image": image, **budget}, image_patch_size=16)
    assert np.array_equal(np.asarray(ours), np.asarray(official))
    again = fetch_image({"image": ours, **budget}, image_patch_size=16)
    assert np.array_equal(np.asarray(again), np.asarray(ours))


def test_fit_size_is_smart_resize_at_the_image_budget_qwen_prompt_counts_tokens_with() -> None:
    """``qwen_prompt.image_tokens`` sizes an image with ``fit_size`` at the model's own limits; within
    the 200:1 ratio qwen-vl-utils accepts, that is ``smart_resize`` to the pixel, for any size."""
    import numpy as np

    rng = np.random.default_rng(18)
    longs = np.exp(rng.uniform(0, np.log(30000), 3000))
    ratios = np.exp(rng.uniform(0, np.log(MAX_ASPECT_RATIO), 3000))
    sizes = [(max(1, round(a)), max(1, round(a / r))) for a, r in zip(longs, ratios, strict=True)]
    sizes += [(200 * k, k) for k in (1, 7, 96, 97, 150)] + [(k, 200 * k) for k in (1, 96, 120)]
    for width, height in sizes:
        if max(width, height) / min(width, height) > MAX_ASPECT_RATIO:
            continue  # rounding pushed it over: both refuse it (tested above)
        h, w = smart_resize(
            height, width, factor=GRID, min_pixels=MODEL_MIN_PIXELS, max_pixels=MODEL_MAX_PIXELS
        )
        assert fit_size(width, height, MODEL_MAX_PIXELS, name="x") == (w, h), (width, height)


def test_grid_is_the_patch_times_the_spatial_merge() -> None:
    assert (PATCH_SIZE, GRID) == (16, 32)
    assert (MODEL_MIN_PIXELS, MODEL_MAX_PIXELS) == (4 * 32 * 32, 1800 * 32 * 32)  # DESIGN.md, model facts
    assert (VIDEO_MAX_PIXELS, VIDEO_TOTAL_PIXELS, MODEL_MAX_FRAMES) == (768 * 32 * 32, 10 * 768 * 32 * 32, 64)
