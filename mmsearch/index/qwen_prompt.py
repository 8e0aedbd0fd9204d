"""The official Qwen3-VL-Embedding input format, as pure functions shared by every embedding backend.

Follows QwenLM/Qwen3-VL-Embedding ``src/models/qwen3_vl_embedding.py`` (``Qwen3VLEmbedder.
format_model_input`` and ``_preprocess_inputs``):

- the instruction is stripped and gets a ``.`` unless it ends in Unicode punctuation (category ``P*``);
  an empty one falls back to the default;
- system turn = ``[{"type": "text", "text": instruction}]``; user turn = all videos, then all images,
  then the text; nothing at all → the text ``NULL``;
- images carry ``min_pixels = 4·32²`` / ``max_pixels = 1800·32²`` for ``qwen_vl_utils.fetch_image``;
  a video given as frames is subsampled linearly to at most 64 frames and carries
  ``total_pixels = 10·768·32²`` for ``qwen_vl_utils.fetch_video``;
- the prompt is the processor's chat template with ``add_generation_prompt=True``.

One deliberate addition: the official frame-list path lets qwen-vl-utils invent timestamps (2 fps from 0 s).
:func:`video_metadata` gives the processor the clip's real sampling rate and start, so the
``<t seconds>`` markers Qwen3VLProcessor writes before each frame pair are the true video times.
"""

from __future__ import annotations

import unicodedata
from typing import Any, Protocol

import numpy as np
import torch
from PIL import Image
from qwen_vl_utils import vision_process as qvu

from mmsearch.index.inputs import Content, VideoClip
from mmsearch.index.settings import DEFAULT_DOCUMENT_INSTRUCTION

IMAGE_FACTOR = 32  # patch 16 × spatial merge 2
PATCH_SIZE = 16
MIN_PIXELS = 4 * IMAGE_FACTOR * IMAGE_FACTOR
MAX_PIXELS = 1800 * IMAGE_FACTOR * IMAGE_FACTOR
VIDEO_FPS = 1.0  # sampling rate the official code asks for when it decodes a video file itself
MAX_FRAMES = 64
FRAME_MAX_PIXELS = 768 * IMAGE_FACTOR * IMAGE_FACTOR
MAX_TOTAL_PIXELS = 10 * FRAME_MAX_PIXELS
NULL_TEXT = "NULL"

Message = dict[str, Any]


class ChatTemplater(Protocol):
    """What :func:`render_prompt` needs from a processor (``Qwen3VLProcessor`` or its tokenizer)."""

    def apply_chat_template(self, conversation: Any, **kwargs: Any) -> Any: ...


def normalize_instruction(instruction: str | None, default: str = DEFAULT_DOCUMENT_INSTRUCTION) -> str:
    """Strip; append ``.`` unless the last character is Unicode punctuation; empty → ``default``."""
    text = (instruction or "").strip()
    if not text:
        return default
    if not unicodedata.category(text[-1]).startswith("P"):
        text += "."
    return text


def sample_frame_indices(count: int, max_frames: int = MAX_FRAMES) -> list[int]:
    """Which of ``count`` frames the official code keeps: all, or ``linspace(0, count-1, max_frames)``."""
    if count <= max_frames:
        return list(range(count))
    return [int(i) for i in np.linspace(0, count - 1, max_frames, dtype=int)]


def clip_frames(clip: VideoClip, max_frames: int = MAX_FRAMES) -> list[Image.Image]:
    return [clip.frames[i] for i in sample_frame_indices(len(clip.frames), max_frames)]


def video_metadata(clip: VideoClip, max_frames: int = MAX_FRAMES) -> dict[str, Any]:
    """Metadata for Qwen3VLProcessor so its frame timestamps are real seconds.

    The processor writes ``<{idx / fps:.1f} seconds>`` per frame pair; frame ``i`` of the clip is at
    ``t_start + i / fps`` seconds, so each index is expressed in frames from the start of the video."""
    offset = clip.t_start * clip.fps
    indices = [offset + i for i in sample_frame_indices(len(clip.frames), max_frames)]
    return {
        "fps": clip.fps,
        "frames_indices": indices,
        "total_num_frames": len(clip.frames),
        "duration": len(clip.frames) / clip.fps,
    }


def frame_times(clip: VideoClip, max_frames: int = MAX_FRAMES) -> list[float]:
    """Seconds from the start of the video of each frame the model sees."""
    meta = video_metadata(clip, max_frames)
    return [index / clip.fps for index in meta["frames_indices"]]


def video_item(clip: VideoClip) -> Message:
    """A user-content video entry as the official code builds it for a frame list.

    ``sample_fps`` is qwen-vl-utils' own key for a frame list's rate (it only feeds its metadata)."""
    frames = clip_frames(clip)
    rate = clip.fps * len(frames) / len(clip.frames)
    return {"type": "video", "video": frames, "total_pixels": MAX_TOTAL_PIXELS, "sample_fps": rate}


def image_item(image: Image.Image) -> Message:
    return {"type": "image", "image": image, "min_pixels": MIN_PIXELS, "max_pixels": MAX_PIXELS}


def user_content(content: Content) -> list[Message]:
    """Videos, then images, then text; ``NULL`` when there is nothing (whitespace-only text counts as
    nothing)."""
    items: list[Message] = []
    if content.video is not None:
        items.append(video_item(content.video))
    items.extend(image_item(image) for image in content.images)
    if content.text is not None and content.text.strip():
        items.append({"type": "text", "text": content.text})
    return items or [{"type": "text", "text": NULL_TEXT}]


def embedding_messages(content: Content, instruction: str | None) -> list[Message]:
    """The official two-turn conversation for one item."""
    return [
        {"role": "system", "content": [{"type": "text", "text": normalize_instruction(instruction)}]},
        {"role": "user", "content": user_content(content)},
    ]


def image_tokens(image: Image.Image) -> int:
    """LLM tokens of one image after qwen-vl-utils' resize (``fetch_image`` with our pixel budget)."""
    height, width = qvu.smart_resize(
        image.height, image.width, factor=IMAGE_FACTOR, min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS
    )
    return (height // IMAGE_FACTOR) * (width // IMAGE_FACTOR)


def video_tokens(clip: VideoClip) -> int:
    """LLM tokens of a clip's frames (timestamps not included), as qwen-vl-utils ``fetch_video`` sizes a
    frame list: each frame first goes through ``fetch_image`` (which it calls with ``image_factor`` as
    the patch size, so factor 64 and image defaults), then the stack is fitted into the per-frame cap
    ``max(min(768·32², total_pixels / n · 2), 1.05 · 128·32²)`` at factor 32."""
    frames = clip_frames(clip)
    big = 2 * IMAGE_FACTOR
    height, width = qvu.smart_resize(
        frames[0].height,
        frames[0].width,
        factor=big,
        min_pixels=qvu.IMAGE_MIN_TOKEN_NUM * big * big,
        max_pixels=qvu.IMAGE_MAX_TOKEN_NUM * big * big,
    )
    count = -(-len(frames) // qvu.FRAME_FACTOR) * qvu.FRAME_FACTOR
    min_pixels = qvu.VIDEO_MIN_TOKEN_NUM * IMAGE_FACTOR * IMAGE_FACTOR
    max_pixels = max(
        min(FRAME_MAX_PIXELS, MAX_TOTAL_PIXELS / count * qvu.FRAME_FACTOR), int(min_pixels * 1.05)
    )
    height, width = qvu.smart_resize(
        height, width, factor=IMAGE_FACTOR, min_pixels=min_pixels, max_pixels=max_pixels
    )
    return count // 2 * (height // IMAGE_FACTOR) * (width // IMAGE_FACTOR)


def render_prompt(processor: ChatTemplater, messages: list[Message]) -> str:
    """The prompt text, with one ``<|image_pad|>`` / ``<|video_pad|>`` placeholder per item (the
    processor expands them to the real token counts)."""
    rendered = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    if isinstance(rendered, list):
        rendered = rendered[0]
    if not isinstance(rendered, str):
        raise TypeError(f"chat template returned {type(rendered).__name__}, expected str")
    return rendered


def resize_media(messages: list[dict[str, Any]]) -> tuple[list[Image.Image], list[torch.Tensor]]:
    """The messages' images and videos resized exactly as the official code does (qwen-vl-utils'
    ``process_vision_info`` with patch 16), ready for the processor with ``do_resize=False``."""
    from qwen_vl_utils import process_vision_info

    images, videos, _ = process_vision_info(
        [messages],
        image_patch_size=PATCH_SIZE,
        return_video_metadata=True,
        return_video_kwargs=True,
    )
    return list(images or []), [video for video, _meta in (videos or [])]
