"""The official Qwen3-VL-Embedding input format (DESIGN.md "Model facts"), rendered by the real template."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from transformers import AutoProcessor

from mmsearch.index import qwen_prompt as qp
from mmsearch.index.inputs import Content, VideoClip

SYSTEM = "<|im_start|>system\n{}<|im_end|>\n"
USER = "<|im_start|>user\n{}<|im_end|>\n"
ASSISTANT = "<|im_start|>assistant\n"
IMAGE = "<|vision_start|><|image_pad|><|vision_end|>"
VIDEO = "<|vision_start|><|video_pad|><|vision_end|>"
DEFAULT = "Represent the user's input."


@pytest.fixture(scope="module")
def processor(tiny_models: Path) -> Any:
    return AutoProcessor.from_pretrained(tiny_models / "embedding")


def _image(w: int = 64, h: int = 64) -> Image.Image:
    return Image.new("RGB", (w, h), (120, 30, 200))


def _clip(n: int = 4, fps: float = 1.0, t_start: float = 0.0) -> VideoClip:
    return VideoClip(frames=tuple(_image() for _ in range(n)), fps=fps, t_start=t_start)


def _render(processor: Any, content: Content, instruction: str | None = None) -> str:
    return qp.render_prompt(processor, qp.embedding_messages(content, instruction))


@pytest.mark.parametrize(
    ("content", "user"),
    [
        (Content(text="a cat on a mat"), "a cat on a mat"),
        (Content(images=(_image(),)), IMAGE),
        (Content(text="caption", images=(_image(),)), IMAGE + "caption"),
        (Content(text="two", images=(_image(), _image())), IMAGE + IMAGE + "two"),
        (Content(video=_clip()), VIDEO),
        (Content(text="t", images=(_image(),), video=_clip()), VIDEO + IMAGE + "t"),  # videos, images, text
        (Content(), "NULL"),
        (Content(text="   \n"), "NULL"),
        (Content(text=""), "NULL"),
    ],
    ids=["text", "image", "image+text", "2 images", "video", "video+image+text", "empty", "blank", "''"],
)
def test_rendered_prompt_matches_official_layout(processor: Any, content: Content, user: str) -> None:
    assert _render(processor, content) == SYSTEM.format(DEFAULT) + USER.format(user) + ASSISTANT


def test_the_design_doc_example_verbatim(processor: Any) -> None:
    design = (
        "<|im_start|>system\n{instr}<|im_end|>\n<|im_start|>user\n"
        "<|vision_start|><|image_pad|><|vision_end|>{text}<|im_end|>\n<|im_start|>assistant\n"
    )
    instr = "Find a document image that matches the given query."
    rendered = _render(processor, Content(text="Q3 revenue", images=(_image(),)), instr)
    assert rendered == design.format(instr=instr, text="Q3 revenue")


@pytest.mark.parametrize(
    ("given", "used"),
    [
        (
            "Find a document image that matches the given query",
            "Find a document image that matches the given query.",
        ),
        (
            "Find a document image that matches the given query.",
            "Find a document image that matches the given query.",
        ),
        ("  Retrieve relevant passages  ", "Retrieve relevant passages."),
        ("Is this relevant?", "Is this relevant?"),
        ("Retrieve (images)", "Retrieve (images)"),  # ')' is Unicode category Pe
        ("检索相关图片。", "检索相关图片。"),  # ideographic full stop, Po
        ("Quote «this»", "Quote «this»"),  # Pf
        ("Ends in a digit 7", "Ends in a digit 7."),
        ("Ends in a symbol +", "Ends in a symbol +."),  # '+' is Sm, not punctuation
        ("", DEFAULT),
        ("   ", DEFAULT),
        (None, DEFAULT),
    ],
)
def test_instruction_normalisation(given: str | None, used: str) -> None:
    assert qp.normalize_instruction(given) == used


def test_custom_instruction_is_rendered_in_the_system_turn(processor: Any) -> None:
    without = _render(processor, Content(text="q"), "Find a document image that matches the given query")
    with_dot = _render(processor, Content(text="q"), "Find a document image that matches the given query.")
    expected = (
        SYSTEM.format("Find a document image that matches the given query.") + USER.format("q") + ASSISTANT
    )
    assert without == with_dot == expected


def test_text_is_passed_verbatim_not_stripped(processor: Any) -> None:
    assert (
        _render(processor, Content(text="  spaced  "))
        == SYSTEM.format(DEFAULT) + USER.format("  spaced  ") + ASSISTANT
    )


def test_messages_carry_official_pixel_budgets() -> None:
    messages = qp.embedding_messages(Content(text="x", images=(_image(),), video=_clip(3, fps=2.0)), None)
    assert messages[0] == {"role": "system", "content": [{"type": "text", "text": DEFAULT}]}
    video, image, text = messages[1]["content"]
    assert image["min_pixels"] == 4 * 32 * 32 and image["max_pixels"] == 1800 * 32 * 32
    assert video["type"] == "video" and video["total_pixels"] == 10 * 768 * 32 * 32
    assert len(video["video"]) == 3 and video["sample_fps"] == 2.0
    assert text == {"type": "text", "text": "x"}


def test_long_clips_are_subsampled_linearly_to_64_frames() -> None:
    assert qp.sample_frame_indices(10) == list(range(10))
    kept = qp.sample_frame_indices(200)
    assert len(kept) == 64 and kept[0] == 0 and kept[-1] == 199
    assert kept == sorted(set(kept))
    clip = _clip(200, fps=2.0)
    item = qp.video_item(clip)
    assert len(item["video"]) == 64
    assert item["sample_fps"] == pytest.approx(63 / 99.5)  # the kept frames span 0 … 99.5 s


def test_video_metadata_gives_the_clip_times_as_the_model_reads_them() -> None:
    clip = _clip(5, fps=0.5, t_start=30.0)  # no explicit times: i / fps from the clip's start
    meta = qp.video_metadata(clip)
    assert meta["fps"] == 1.0 and meta["frames_indices"] == [0.0, 2.0, 4.0, 6.0, 8.0]
    assert qp.frame_times(clip) == [30.0, 32.0, 34.0, 36.0, 38.0]
    timed = VideoClip(frames=tuple(_image() for _ in range(4)), fps=0.4, times=(0.0, 1.3, 2.6, 3.8))
    assert qp.video_metadata(timed)["frames_indices"] == [0.0, 1.3, 2.6, 3.8]
    long_clip = _clip(200, fps=2.0, t_start=10.0)
    times = qp.frame_times(long_clip)
    assert len(times) == 64 and times[0] == 10.0 and times[-1] == pytest.approx(10.0 + 199 / 2.0)


def test_video_tensor_is_fetch_videos_tensor_for_a_decoded_file() -> None:
    import torch
    from qwen_vl_utils import vision_process as qvu
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as tvf

    rng = np.random.default_rng(5)
    frames = [Image.fromarray(rng.integers(0, 255, (90, 160, 3), dtype=np.uint8)) for _ in range(3)]
    ours = qp.video_tensor(frames)
    # fetch_video's own steps for a decoded (T, C, H, W) uint8 video of an even frame count
    stacked = torch.from_numpy(np.stack([np.asarray(f) for f in [*frames, frames[-1]]])).permute(0, 3, 1, 2)
    height, width = qvu.smart_resize(90, 160, factor=32, min_pixels=128 * 32 * 32, max_pixels=768 * 32 * 32)
    theirs = tvf.resize(stacked, [height, width], interpolation=InterpolationMode.BICUBIC, antialias=True)
    assert ours.dtype == torch.float32 and torch.equal(ours, theirs.float())
    already = [Image.fromarray(np.asarray(theirs[0].permute(1, 2, 0))) for _ in range(2)]
    assert torch.equal(qp.video_tensor(already)[0], theirs[0].float())  # on size: left untouched
    with pytest.raises(ValueError, match="differ in size"):
        qp.video_tensor([frames[0], frames[0].resize((80, 90))])


def test_render_prompt_rejects_a_non_string_template_result() -> None:
    class Broken:
        def apply_chat_template(self, conversation: Any, **kwargs: Any) -> Any:
            return [[1, 2, 3]]

    with pytest.raises(TypeError, match="expected str"):
        qp.render_prompt(Broken(), qp.embedding_messages(Content(text="x"), None))
