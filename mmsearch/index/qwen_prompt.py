"""The official Qwen3-VL-Embedding input format, as pure functions shared by every embedding backend.

Follows QwenLM/Qwen3-VL-Embedding ``src/models/qwen3_vl_embedding.py`` (``Qwen3VLEmbedder.
format_model_input`` and ``_preprocess_inputs``):

- the instruction is stripped and gets a ``.`` unless it ends in Unicode punctuation (category ``P*``);
  an empty one falls back to the default;
- system turn = ``[{"type": "text", "text": instruction}]``; user turn = all videos, then all images,
  then the text; nothing at all → the text ``NULL``;
- images carry ``min_pixels = 4·32²`` / ``max_pixels = 1800·32²`` for ``qwen_vl_utils.fetch_image`` (the
  grid and every pixel limit live in ``ingest/pixels.py``, whose ``fit_size`` is ``smart_resize``);
- the prompt is the processor's chat template with ``add_generation_prompt=True``.

Videos follow the official code's *file* path (``{"video": path}``: qwen-vl-utils ``fetch_video`` decodes
the file with decord at fps 1), which is how the official code embeds a video, rather than its frame-list
path (which re-resizes every frame through ``fetch_image`` at factor 64 and invents 2-fps timestamps).
Ingest already picks, decodes and resizes a segment's frames as ``fetch_video`` does for that segment as a
file (``ingest/video.py``), so :func:`video_tensor` only stacks them (resizing any clip that is not yet on
that size, with the same torchvision bicubic), and :func:`video_metadata` hands the processor the times
those frames have in that file, so its ``<t seconds>`` markers are the official ones.
"""

from __future__ import annotations

import unicodedata
from typing import Any, Protocol

import numpy as np
import torch
from PIL import Image

from mmsearch.index.inputs import Content, VideoClip
from mmsearch.index.settings import DEFAULT_DOCUMENT_INSTRUCTION
from mmsearch.ingest.pixels import (
    GRID,
    MODEL_MAX_FRAMES,
    MODEL_MAX_PIXELS,
    MODEL_MIN_PIXELS,
    PATCH_SIZE,
    VIDEO_TOTAL_PIXELS,
    fit_size,
    resize_frames,
    video_frame_size,
)

MAX_FRAMES = MODEL_MAX_FRAMES
MAX_LENGTH = 8192  # tokens of one input, as the official embedder truncates (a model fact, not a setting)
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
    """Metadata for Qwen3VLProcessor so its frame timestamps are the official ones.

    The processor writes ``<{mean of a pair's idx / fps:.1f} seconds>`` per frame pair; with ``fps`` 1
    and the clip's frame times (``idx / stream fps``, computed as the official code computes them) as
    the indices, the numbers are bit-for-bit the official code's for the clip as a file."""
    kept = sample_frame_indices(len(clip.frames), max_frames)
    seconds = clip.frame_seconds
    return {
        "fps": 1.0,
        "frames_indices": [seconds[i] for i in kept],
        "total_num_frames": len(kept),
    }


def frame_times(clip: VideoClip, max_frames: int = MAX_FRAMES) -> list[float]:
    """Seconds from the start of the video of each frame the model sees."""
    return [clip.t_start + t for t in video_metadata(clip, max_frames)["frames_indices"]]


def video_item(clip: VideoClip) -> Message:
    """A user-content video entry (for the chat template; :func:`resize_media` reads its frames).

    ``sample_fps`` is qwen-vl-utils' own key for a frame list's rate (it only feeds its metadata, and the
    rate of the file a served model gets): the rate of the frames' own times where they span any time, so
    a server numbering the file's frames ``i / sample_fps`` writes the same ``<t seconds>`` markers for
    evenly spaced picks (e.g. 3 frames of a 3 s, 25 fps clip sit 1.48 s apart, not 1 s)."""
    frames = clip_frames(clip)
    seconds = video_metadata(clip)["frames_indices"]
    span = seconds[-1] - seconds[0] if len(seconds) > 1 else 0.0
    rate = (len(seconds) - 1) / span if span > 0 else clip.fps * len(frames) / len(clip.frames)
    return {"type": "video", "video": frames, "total_pixels": VIDEO_TOTAL_PIXELS, "sample_fps": rate}


def video_tensor(frames: list[Image.Image]) -> torch.Tensor:
    """The clip as qwen-vl-utils ``fetch_video`` returns a decoded file: float ``[T, 3, H, W]``, T even
    (an odd clip repeats its last frame, as the processor does with its timestamps), resized with
    torchvision's antialiased bicubic to ``pixels.video_frame_size`` (frames ingest made are already
    that size, and are left untouched)."""
    arrays = [np.asarray(frame.convert("RGB")) for frame in frames]
    if len({a.shape for a in arrays}) > 1:
        sizes = sorted({f"{a.shape[1]}×{a.shape[0]}" for a in arrays})
        raise ValueError(f"the frames of one video clip differ in size ({', '.join(sizes)})")
    if len(arrays) % 2:
        arrays.append(arrays[-1])
    video = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2)
    height, width = arrays[0].shape[:2]
    target = video_frame_size(width, height, len(arrays), name="video clip")
    return resize_frames(video, target).float()


def image_item(image: Image.Image) -> Message:
    return {"type": "image", "image": image, "min_pixels": MODEL_MIN_PIXELS, "max_pixels": MODEL_MAX_PIXELS}


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
    """LLM tokens of one image after qwen-vl-utils' resize (``fetch_image`` with our pixel budget), sized by
    ``pixels.fit_size`` (equal to ``smart_resize`` there: tests/ingest/test_pixels.py). An aspect ratio over
    200 raises ``UnsupportedFile``, as ``smart_resize`` raises ``ValueError``."""
    width, height = fit_size(image.width, image.height, MODEL_MAX_PIXELS, name="image")
    return (height // GRID) * (width // GRID)


def video_tokens(clip: VideoClip) -> int:
    """LLM tokens of a clip's frames (timestamps not included): one per 32-pixel cell of each frame
    pair, at the size :func:`video_tensor` gives."""
    frames = clip_frames(clip)
    count = len(frames) + len(frames) % 2
    width, height = video_frame_size(frames[0].width, frames[0].height, count, name="video clip")
    return count // 2 * (height // GRID) * (width // GRID)


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
    """The messages' images and videos resized exactly as the official code does: images through
    qwen-vl-utils' ``process_vision_info`` with patch 16, videos through :func:`video_tensor`; ready for
    the processor with ``do_resize=False``."""
    videos = [video_tensor(list(item["video"])) for item in _items(messages, "video")]
    if not _items(messages, "image"):
        return [], videos  # what process_vision_info gives without images, and its import (0.03 s) spared
    from qwen_vl_utils import process_vision_info

    without_videos = [
        {**turn, "content": [i for i in turn["content"] if i.get("type") != "video"]}
        if isinstance(turn.get("content"), list)
        else turn
        for turn in messages
    ]
    images, _, _ = process_vision_info(
        [without_videos],
        image_patch_size=PATCH_SIZE,
        return_video_metadata=True,
        return_video_kwargs=True,
    )
    return list(images or []), videos


def _items(messages: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [
        item
        for turn in messages
        if isinstance(turn.get("content"), list)
        for item in turn["content"]
        if item.get("type") == kind
    ]
