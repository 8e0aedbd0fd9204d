"""Media for a served model: the exact pixels the in-process model sees, sent without loss.

A served model (vLLM, SGLang) must see the same pixels as :class:`TransformersEmbedder` /
``TransformersReranker`` or its vectors and scores differ. So the client does the official resizing itself
(``qwen_vl_utils.fetch_image`` / ``fetch_video`` with the Qwen3-VL-Embedding limits from
:mod:`mmsearch.index.qwen_prompt`), and ships the result losslessly:

- **images → PNG data URLs.** JPEG, even at quality 95, changes pixel values (8×8 DCT quantisation and
  4:2:0 chroma subsampling) and the vision tower sees it: on the tiny test model a q95 round trip of a
  synthetic text page (pixels off by up to 49 levels) moves its embedding by up to 8e-4 per component,
  hundreds of times our 1e-5 agreement bound; PNG is exact. The images are already at model resolution
  (≤ 1800·32² pixels, sides multiples of 32): vLLM is told ``do_resize: false`` (as the official code calls
  its processor); SGLang's processor leaves them alone unless they are below the checkpoint's own
  ``shortest_edge`` pixel count (docs/serving.md).
- **videos → FFV1 in Matroska data URLs.** Both servers take a video only as a file (URL or base64), never
  as a frame list. FFV1 (RFC 9043) with the ``bgr0`` pixel format is lossless RGB, decoded by the FFmpeg
  builds inside vLLM (OpenCV / PyAV) and SGLang (decord). The file holds exactly the frames the official
  code keeps (at most 64, linearly sampled, resized under the 10·768·32² total budget), at the rate they
  were sampled at. For vLLM not padded to an even count (its processor pads, as the in-process one does);
  for SGLang padded to an even count by repeating the last frame, as qwen-vl-utils pads, because SGLang
  rounds an odd count *down* by re-sampling (sglang 0.5.23 ``qwen_vl.py`` ``smart_nframes``: a 7-frame
  clip would keep frames [0, 1, 2, 3, 4, 6]).

A server numbers the file's frames from 0 at the file's rate, so its ``<t seconds>`` markers are
``i / sample_fps``; the in-process embedder's are the segment's own frame times (``qwen_prompt.
video_metadata``), which are the same for evenly sampled clips and can differ by a fraction of a frame
interval when qwen-vl-utils' rounded ``linspace`` picks are uneven. See docs/serving.md.

**Video placeholders in the model card's form** (:func:`video_prompt.bare_video_placeholders`). The card's environment
(transformers 4.57) replaces a chat template's whole ``<|vision_start|><|video_pad|><|vision_end|>`` by the
per-frame ``<t seconds><|vision_start|>…pads…<|vision_end|>``. The transformers the pinned servers require
(vLLM 0.33.0: ``transformers>=5.16.1,<5.21.0``; SGLang 0.5.23: ``transformers==5.19.0``, their wheels'
``METADATA``) expand only the bare ``<|video_pad|>`` and keep the template's outer pair around all the frames:

- transformers 5.19.0 / 5.20.0 ``models/qwen3_vl/processing_qwen3_vl.py`` ``Qwen3VLProcessor.
  replace_video_token`` returns the per-frame sequence, and ``processing_utils.py`` ``ProcessorMixin.
  get_text_with_replacements`` substitutes it for each bare ``video_token`` only;
- vLLM 0.33.0 ``model_executor/models/qwen3_vl.py``: ``_expands_only_video_token`` is true for those
  processors, so ``_get_prompt_updates`` and ``_apply_hf_processor_main`` replace the target
  ``[video_token_id]`` alone ("transformers>=5.10 expands only the bare video_token");
- SGLang 0.5.23 ``multimodal/processors/qwen_vl.py`` (``mm_tokens``: the video token is the bare
  ``<|video_pad|>``) hands the prompt to the HF processor (``base_processor.py``
  ``_process_and_collect_mm_items`` → ``process_mm_data``), whose ``input_ids`` it keeps.

So the served clients send every video as a bare ``<|video_pad|>`` (an SGLang prompt rendered here; the
chat template given to vLLM's embedding server; the reranker templates in ``serving/``): the servers expand
it into exactly the card's form, with no pair around the whole video. Images are unchanged
(``<|vision_start|><|image_pad|><|vision_end|>``: only the pads are expanded, on every version).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
from PIL import Image

from mmsearch.index import qwen_prompt
from mmsearch.index.qwen_prompt import Message

PNG_COMPRESS_LEVEL = 3  # lossless at any level; 3 is a fair size/speed trade for page screenshots
VIDEO_CODEC = "ffv1"
VIDEO_PIXEL_FORMAT = "bgr0"  # FFV1's lossless RGB layout
VIDEO_CONTAINER = "matroska"
VIDEO_MIME = "video/x-matroska"


@dataclass(frozen=True, eq=False)
class VideoFrames:
    """Frames ``[T, H, W, 3]`` uint8 RGB at ``fps`` frames per second: what a served model must decode."""

    frames: np.ndarray
    fps: float


def openai_parts(items: Sequence[Message], *, even_frames: bool = False) -> list[dict[str, Any]]:
    """Official user-content items (:func:`qwen_prompt.user_content`) as OpenAI-style parts, in order:
    ``video`` → ``video_url``, ``image`` → ``image_url`` (data URLs of the resized media), ``text`` as is.
    ``even_frames``: pad videos to an even frame count (for SGLang; see the module docstring).

    Raises ``ValueError`` naming the problem when the media cannot be resized or encoded."""
    return [openai_part(item, even_frames=even_frames) for item in items]


def openai_part(item: Message, *, even_frames: bool = False) -> dict[str, Any]:
    kind = item.get("type")
    if kind == "text":
        return {"type": "text", "text": item["text"]}
    try:
        if kind == "image":
            return {"type": "image_url", "image_url": {"url": image_data_url(model_image(item))}}
        if kind == "video":
            video = model_video(item, even_frames=even_frames)
            return {"type": "video_url", "video_url": {"url": video_data_url(video)}}
    except Exception as exc:  # qwen-vl-utils, PIL and PyAV raise assorted types
        raise ValueError(f"its {kind} cannot be prepared: {type(exc).__name__}: {exc}") from exc
    raise ValueError(f"unknown content item type {kind!r}")


def model_image(item: Message) -> Image.Image:
    """An official ``image`` item resized as the in-process model gets it (qwen-vl-utils, factor 32)."""
    from qwen_vl_utils import fetch_image

    resized: Image.Image = fetch_image(item, image_patch_size=qwen_prompt.PATCH_SIZE)
    return resized


def model_video(item: Message, *, even_frames: bool = False) -> VideoFrames:
    """An official ``video`` item (a frame list) as the in-process model gets it
    (:func:`qwen_prompt.video_tensor`), without the even-count padding (the server's processor pads the
    same way) unless ``even_frames``. The rate is the item's ``sample_fps`` (qwen-vl-utils' own default,
    2, when absent)."""
    import torch

    tensor = qwen_prompt.video_tensor(list(item["video"]))
    kept = len(item["video"])
    if even_frames:
        kept = min(len(tensor), kept + kept % 2)
    frames = tensor[:kept].round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return VideoFrames(frames=np.ascontiguousarray(frames), fps=float(item.get("sample_fps", 2.0)))


def image_data_url(image: Image.Image) -> str:
    """``data:image/png;base64,...`` of the image's exact RGB pixels."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def video_bytes(video: VideoFrames) -> bytes:
    """A lossless FFV1/Matroska file of the frames at ``video.fps``."""
    import av

    frames = video.frames
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"video frames must be uint8 [T, H, W, 3], got {frames.dtype} {frames.shape}")
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=VIDEO_CONTAINER) as container:
        stream: Any = container.add_stream(VIDEO_CODEC, rate=Fraction(video.fps).limit_denominator(1000))
        stream.height, stream.width, stream.pix_fmt = frames.shape[1], frames.shape[2], VIDEO_PIXEL_FORMAT
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def video_data_url(video: VideoFrames) -> str:
    return f"data:{VIDEO_MIME};base64," + base64.b64encode(video_bytes(video)).decode("ascii")
