"""Loopback stand-ins for vLLM and SGLang, to test the HTTP backends end to end without a GPU.

Each fake is a real HTTP server (uvicorn in a thread, 127.0.0.1, a port the OS picks) that

- validates every request body with pydantic models mirroring the real server's protocol classes field for
  field (names, types, defaults; sources cited on each class), with ``extra="forbid"``: stricter than the
  real servers, which ignore unknown fields (vLLM logs them), so a misspelt or invented field fails the
  request with HTTP 400 here instead of being silently dropped there;
- computes its answer with the tiny Qwen3-VL checkpoint from exactly what it received, the way the server
  would: it renders the prompt (vLLM: the model's chat template over the received ``messages``, or the
  reranker score template; SGLang: the prompt text as sent, or its reranker template), decodes the media
  from the data URLs, runs the processor with the server's settings (``do_resize`` unless the request turns
  it off) and pools / scores. So a wrong template, wrong media or a wrong field on the client side gives
  other vectors or scores, or an error, and the client tests fail;
- answers in the server's response shape;
- can be scripted to misbehave first (:class:`Reply`: a status, a body, a delay) and records every body.

Each fake behaves like one pinned release (``VLLM_VERSION``, ``SGLANG_VERSION``: the versions
docker-compose.yml and docs/serving.md name), launched with the flags those files give (:class:`Launch`), and
each behaviour that changes what a server accepts or computes cites the file of that release it follows:
vLLM refuses request-level ``mm_processor_kwargs`` unless trusted; SGLang re-samples and re-sizes videos
itself (even frame count, bilinear to 28-multiples) and takes image limits from ``--mm-process-config``;
SGLang's reranker reads p(yes), p(no) from the top-50 log-probabilities only. Neither server's preprocessing
imports on CPU from its wheel without its GPU stack (sglang's ``qwen_vl.py`` imports its model classes and
CUDA-IPC transport), so those steps are re-implemented here line for line, with their source named.

Video prompts: the pinned servers run transformers 5.19.0 (SGLang 0.5.23 pins it; vLLM 0.33.0 requires
``>=5.16.1,<5.21.0``), whose ``Qwen3VLProcessor`` expands only the bare ``<|video_pad|>``
(``processing_utils.py`` ``ProcessorMixin.get_text_with_replacements``; vLLM ``models/qwen3_vl.py``
``_expands_only_video_token``), so a ``<|vision_start|><|video_pad|><|vision_end|>`` in the prompt keeps its
outer pair around all the frames. The fakes do the same on whatever transformers is installed
(:func:`pinned_video_expansion`), so a client or template that leaves the pair there gets that double-wrapped
prompt here too, and its vectors differ from the model card's. The reranker fakes render the
``--chat-template`` they were launched with (:attr:`Launch.rerank_template`): mmsearch's ``serving/*.jinja``
(the default, as docker-compose.yml and docs/serving.md launch them) or the server project's example
template. Every prompt's final token ids are recorded (:attr:`FakeServer.input_ids`).

A :class:`Launch` may also carry one deliberate ``deviation`` (a wrong joiner, an upscaled image, a dropped
frame, a missing instruction, a vision pair around the whole video): a server that is *not* the pinned
one, for the tests of ``mmsearch verify``.
"""

from __future__ import annotations

import asyncio
import base64
import io
import math
import re
import socket
import threading
import time
import types
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import numpy as np
import torch
import torch.nn.functional as F
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.concurrency import run_in_threadpool

from tests.support import tcp_listener

VLLM_VERSION = "0.33.0"
SGLANG_VERSION = "0.5.23"

# SGLang's --mm-process-config as docker-compose.yml and docs/serving.md launch it (tests/api/test_compose.py
# checks they agree): the official image limits, video frames kept at the size sent, no processor total cap.
SGLANG_MM_PROCESS_CONFIG: dict[str, Any] = {
    "image": {"size": {"shortest_edge": 4096, "longest_edge": 1843200}},
    "video": {
        "min_pixels": 4096,
        "max_pixels": 786432,
        "total_pixels": 1000000000,
        "size": {"shortest_edge": 4096, "longest_edge": 1000000000},
    },
}

Deviation = Literal[
    "newline_joiner", "upscaled_image", "dropped_frame", "missing_instruction", "outer_video_markers"
]
RerankTemplate = Literal["mmsearch", "upstream"]
SERVING = Path(__file__).resolve().parents[1] / "serving"
RERANK_TEMPLATE_FILES = {
    "vllm": SERVING / "qwen3_vl_reranker.vllm.jinja",
    "sglang": SERVING / "qwen3_vl_reranker.sglang.jinja",
}


@dataclass(frozen=True)
class Launch:
    """The launch flags that change what a fake accepts or computes; defaults = docs/serving.md's commands.

    ``trust_request_mm_kwargs``: vLLM ``--trust-request-mm-kwargs``. ``mm_process_config``: SGLang
    ``--mm-process-config`` (``None`` = not given: the checkpoint's own limits). ``top_logprobs_num``:
    not a flag but SGLang's hard-coded 50 (serving_rerank.py); the tiny random reranker rarely has ``yes``
    or ``no`` among its top 50 of 640 tokens (so SGLang scores 0), where the trained one always does, so
    tests of the client's prompts and media raise it to the vocabulary size and say so.
    ``trust_request_chat_template``: vLLM ``--trust-request-chat-template`` (the embedding client sends the
    model's template with videos as a bare pad). ``rerank_template``: the reranker's ``--chat-template``:
    ``"mmsearch"`` = ``serving/qwen3_vl_reranker.{vllm,sglang}.jinja`` (rendered from the file),
    ``"upstream"`` = the server project's example (vLLM
    ``examples/pooling/score/template/qwen3_vl_reranker.jinja``, SGLang
    ``examples/chat_template/qwen3_vl_reranker.jinja``; re-implemented in :func:`_rerank_prompt`), whose
    ``<|vision_start|><|video_pad|><|vision_end|>`` the pinned transformers double-wraps. ``deviation``: one
    deliberate difference from the pinned server (only for testing ``mmsearch verify``);
    ``outer_video_markers`` puts the pair back around every bare ``<|video_pad|>``, i.e. the prompt the pinned
    servers build from the model's own template or the example reranker templates."""

    trust_request_mm_kwargs: bool = True
    trust_request_chat_template: bool = True
    rerank_template: RerankTemplate = "mmsearch"
    mm_process_config: dict[str, Any] | None = field(default_factory=lambda: SGLANG_MM_PROCESS_CONFIG)
    top_logprobs_num: int = 50
    deviation: Deviation | None = None


IMAGE_PLACEHOLDER = "<|vision_start|><|image_pad|><|vision_end|>"
VIDEO_PLACEHOLDER = "<|vision_start|><|video_pad|><|vision_end|>"
VIDEO_PAD = "<|video_pad|>"
RERANK_SYSTEM = (
    "Judge whether the Document meets the requirements based on the Query and the Instruct provided. "
    'Note that the answer can only be "yes" or "no".'
)
RERANK_DEFAULT_INSTRUCTION = "Given a search query, retrieve relevant candidates that answer the query."


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- content parts (vLLM vllm/entrypoints/chat_utils.py + openai.types.chat; SGLang protocol.py) -------


class ImageURL(Strict):
    url: str
    detail: Literal["auto", "low", "high"] = "auto"


class VideoURL(Strict):
    url: str


class TextPart(Strict):
    type: Literal["text"]
    text: str


class ImagePart(Strict):
    """vLLM: ``ChatCompletionContentPartImageParam`` (+ optional ``uuid``)."""

    type: Literal["image_url"]
    image_url: ImageURL
    uuid: str | None = None


class VideoPart(Strict):
    """vLLM: ``ChatCompletionContentPartVideoParam`` (+ optional ``uuid``)."""

    type: Literal["video_url"]
    video_url: VideoURL
    uuid: str | None = None


Part = Annotated[TextPart | ImagePart | VideoPart, Field(discriminator="type")]


class SGLangImagePart(Strict):
    """SGLang ``ChatCompletionMessageContentImagePart``."""

    type: Literal["image_url"]
    image_url: ImageURL
    modalities: Literal["image", "multi-images", "video"] | None = "image"


class SGLangVideoPart(Strict):
    """SGLang ``ChatCompletionMessageContentVideoPart``."""

    type: Literal["video_url"]
    video_url: VideoURL


SGLangPart = Annotated[TextPart | SGLangImagePart | SGLangVideoPart, Field(discriminator="type")]


class ChatMessage(Strict):
    """vLLM ``CustomChatCompletionMessageParam`` (the fields a pooling request can use)."""

    role: str
    content: str | list[Part] | None = None
    name: str | None = None


# --- vLLM requests -------------------------------------------------------------------------------------


class VLLMPoolingBasic(Strict):
    """vllm ``vllm/entrypoints/pooling/base/protocol.py`` ``PoolingBasicRequestMixin``."""

    model: str | None = None
    user: str | None = None
    truncate_prompt_tokens: Annotated[int, Field(ge=-1)] | None = None
    padding: Literal["max_length", "do_not_pad"] | None = None
    truncation_side: Literal["left", "right"] | None = None
    request_id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    priority: int = 0
    mm_processor_kwargs: dict[str, Any] | None = None
    cache_salt: str | None = Field(default=None, min_length=1, max_length=1024)


class VLLMEmbeddingChatRequest(VLLMPoolingBasic):
    """vllm ``vllm/entrypoints/pooling/embed/protocol.py`` ``EmbeddingChatRequest`` = PoolingBasic +
    ``ChatRequestMixin`` + ``EmbedRequestMixin`` (base/protocol.py)."""

    messages: list[ChatMessage]
    add_generation_prompt: bool = False
    continue_final_message: bool = False
    add_special_tokens: bool = False
    chat_template: str | None = None
    chat_template_kwargs: dict[str, Any] | None = None
    media_io_kwargs: dict[str, dict[str, Any]] | None = None
    encoding_format: Literal["float", "base64", "bytes"] = "float"
    embed_dtype: str = "float32"
    endianness: Literal["native", "big", "little"] = "native"
    dimensions: int | None = None
    use_activation: bool | None = None

    @field_validator("continue_final_message")
    @classmethod
    def _not_both(cls, value: bool, info: Any) -> bool:
        if value and info.data.get("add_generation_prompt"):
            raise ValueError("Cannot set both `continue_final_message` and `add_generation_prompt` to True.")
        return value


class ScoreMultiModal(Strict):
    """vllm ``vllm/entrypoints/pooling/scoring/typing.py`` ``ScoreMultiModalParam``."""

    content: list[Part]


ScoreInput = str | ScoreMultiModal


class VLLMRerankRequest(VLLMPoolingBasic):
    """vllm ``vllm/entrypoints/pooling/scoring/protocol.py`` ``RerankRequest`` (+ ``ScoringRequestMixin``,
    ``ClassifyRequestMixin``)."""

    use_activation: bool | None = None
    max_tokens_per_query: int = 0
    max_tokens_per_doc: int = 0
    instruction: str | None = None
    chat_template_kwargs: dict[str, Any] | None = None
    query: ScoreInput
    documents: ScoreInput | list[ScoreInput]
    top_n: int = Field(default=0, ge=0)


# --- SGLang requests -----------------------------------------------------------------------------------


class SGLangEncodeRequest(Strict):
    """sglang ``python/sglang/srt/managers/io_struct.py`` ``EmbeddingReqInput`` (+ ``BaseReq``)."""

    text: list[list[str]] | list[str] | str | None = None
    image_data: Any = None
    video_data: Any = None
    audio_data: Any = None
    input_ids: list[list[int]] | list[int] | None = None
    embed_override_token_id: int | None = None
    embed_overrides: Any = None
    positional_embed_overrides: Any = None
    sampling_params: list[dict[str, Any]] | dict[str, Any] | None = None
    input_embeds: Any = None
    log_metrics: bool = True
    modalities: list[str] | None = None
    is_cross_encoder_request: bool = False
    priority: int | None = None
    routing_key: str | None = None
    background: bool = False
    external_trace_header: dict[str, Any] | None = None
    received_time: float | None = None
    dimensions: int | None = None
    lora_path: list[str | None] | str | None = None
    lora_id: list[str | None] | str | None = None
    rid: list[str] | str | None = None
    http_worker_ipc: str | None = None


RerankContent = str | list[SGLangPart]


class SGLangRerankRequest(Strict):
    """sglang ``python/sglang/srt/entrypoints/openai/protocol.py`` ``V1RerankReqInput``."""

    query: RerankContent
    documents: list[RerankContent]
    instruct: str | None = None
    top_n: int | None = None
    return_documents: bool = True

    @field_validator("top_n")
    @classmethod
    def _positive(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise ValueError("Value error, parameter top_n should be larger than 0.")
        return value


# --- media ---------------------------------------------------------------------------------------------


def data_url_bytes(url: str) -> tuple[str, bytes]:
    """``(mime type, payload)`` of a base64 data URL; anything else is refused (no network here)."""
    if not url.startswith("data:") or ";base64," not in url:
        raise ValueError(f"only base64 data URLs are served here, got {url[:40]!r}")
    head, payload = url[5:].split(",", 1)
    return head.split(";", 1)[0], base64.b64decode(payload, validate=True)


def decode_image(url: str) -> Image.Image:
    _, payload = data_url_bytes(url)
    with Image.open(io.BytesIO(payload)) as image:
        return image.convert("RGB")


def decode_video(url: str) -> tuple[np.ndarray, float]:
    """All frames ``[T, H, W, 3]`` uint8 and the stream's average rate."""
    import av

    _, payload = data_url_bytes(url)
    with av.open(io.BytesIO(payload), mode="r") as container:
        stream = container.streams.video[0]
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
        rate = stream.average_rate or stream.guessed_rate
    if not frames or rate is None:
        raise ValueError("the video has no frames or no frame rate")
    return np.stack(frames), float(rate)


@dataclass
class Media:
    images: list[Image.Image] = field(default_factory=list)
    videos: list[tuple[np.ndarray, float]] = field(default_factory=list)

    def add(self, part: Any) -> str:
        """Decode one image/video part; returns its placeholder."""
        if part.type == "image_url":
            self.images.append(decode_image(part.image_url.url))
            return IMAGE_PLACEHOLDER
        self.videos.append(decode_video(part.video_url.url))
        return VIDEO_PLACEHOLDER


# --- the tiny models, run the way the servers run them ---------------------------------------------------


class TinyModel:
    """Processor + tiny Qwen3-VL checkpoint; one forward pass per prompt, as a server sees it."""

    def __init__(self, folder: Path, reranker: bool) -> None:
        from transformers import AutoProcessor, Qwen3VLForConditionalGeneration, Qwen3VLModel

        self.processor = pinned_video_expansion(AutoProcessor.from_pretrained(folder))
        cls = Qwen3VLForConditionalGeneration if reranker else Qwen3VLModel
        self.model = cls.from_pretrained(folder, dtype=torch.float32).eval()
        self.lock = threading.Lock()

    def last_hidden(self, kwargs: dict[str, Any], seen: list[list[int]] | None = None) -> torch.Tensor:
        """The last position's hidden state for one processor call (``kwargs``: text, media, options);
        the final token ids are appended to ``seen``."""
        inputs = dict(self.processor(**kwargs))
        if seen is not None:
            seen.append(inputs["input_ids"][0].tolist())
        with self.lock, torch.no_grad():
            body = self.model.model if hasattr(self.model, "lm_head") else self.model
            return body(**inputs).last_hidden_state[0, -1].float()

    def embedding(self, kwargs: dict[str, Any], seen: list[list[int]] | None = None) -> list[float]:
        """LAST pooling + L2 normalisation (vLLM's and SGLang's pooler for this model)."""
        return F.normalize(self.last_hidden(kwargs, seen), dim=-1).tolist()

    def yes_no_logits(
        self, kwargs: dict[str, Any], seen: list[list[int]] | None = None
    ) -> tuple[float, float]:
        hidden = self.last_hidden(kwargs, seen)
        head = self.model.lm_head.weight.detach().float()
        vocab = self.processor.tokenizer.get_vocab()
        return float(hidden @ head[vocab["yes"]]), float(hidden @ head[vocab["no"]])

    def all_logits(self, kwargs: dict[str, Any], seen: list[list[int]] | None = None) -> torch.Tensor:
        return self.model.lm_head.weight.detach().float() @ self.last_hidden(kwargs, seen)


def pinned_video_expansion(processor: Any) -> Any:
    """``processor`` expanding videos as the pinned servers' transformers 5.19.0 does: each bare
    ``<|video_pad|>`` becomes the per-frame ``<t seconds><|vision_start|>…<|vision_end|>``, and a
    ``<|vision_start|>``/``<|vision_end|>`` pair written around it stays (transformers 5.19.0
    ``processing_utils.py`` ``ProcessorMixin.get_text_with_replacements``, which
    ``models/qwen3_vl/processing_qwen3_vl.py`` does not override there). transformers 5.10–5.24 do exactly
    that; from 5.25 ``Qwen3VLProcessor.get_text_with_replacements`` collapses the wrapper first, so the base
    method is put back on this instance. Older processors (4.x) have no such method: refused."""
    from transformers.processing_utils import ProcessorMixin

    base = getattr(ProcessorMixin, "get_text_with_replacements", None)
    if base is None:
        raise RuntimeError(
            "the fakes model transformers 5.19's video expansion, which needs transformers >= 5.10"
        )
    if getattr(type(processor), "get_text_with_replacements", None) is not base:
        processor.get_text_with_replacements = types.MethodType(base, processor)
    return processor


def outer_video_markers(prompt: str) -> str:
    """Deviation ``outer_video_markers``: every bare ``<|video_pad|>`` wrapped in a vision pair again."""
    return re.sub(r"(?<!<\|vision_start\|>)<\|video_pad\|>(?!<\|vision_end\|>)", VIDEO_PLACEHOLDER, prompt)


def vllm_processor_kwargs(prompt: str, media: Media, do_resize: bool) -> dict[str, Any]:
    """vLLM's processor call: the checkpoint's HF processor, ``mm_processor_kwargs`` merged in; videos as
    decoded (``--media-io-kwargs '{"video": {"num_frames": -1}}'`` keeps every frame of the file)."""
    kwargs: dict[str, Any] = {"text": [prompt], "return_tensors": "pt", "do_resize": do_resize}
    if media.images:
        kwargs["images"] = media.images
    if media.videos:
        kwargs["videos"] = [torch.from_numpy(f).permute(0, 3, 1, 2) for f, _ in media.videos]
        kwargs["video_metadata"] = [_metadata(len(f), fps) for f, fps in media.videos]
        kwargs["do_sample_frames"] = False
    return kwargs


def _metadata(frames: int, fps: float) -> dict[str, Any]:
    """What a server derives from a decoded file: frames numbered from 0 at the container's rate."""
    return {
        "fps": fps,
        "frames_indices": list(range(frames)),
        "total_num_frames": frames,
        "duration": frames / fps,
    }


@lru_cache(maxsize=4)
def tiny_model(folder: str, reranker: bool) -> TinyModel:
    return TinyModel(Path(folder), reranker)


# --- SGLang 0.5.23 media preprocessing (python/sglang/srt/multimodal/processors/qwen_vl.py) ----------------
# Re-implemented: the module imports sglang's model classes and CUDA transport, so it cannot be imported on
# a CPU-only test machine. Constants, rounding (Python's round) and the order of steps are copied.

SGLANG_IMAGE_FACTOR = 28  # qwen_vl.py IMAGE_FACTOR; preprocess_video is called without image_factor
SGLANG_MAX_RATIO = 200
SGLANG_VIDEO_TOTAL_PIXELS = int(float(128000 * 28 * 28 * 0.9))  # env VIDEO_MAX_PIXELS unset
SGLANG_VIDEO_MIN_PIXELS = 128 * 28 * 28
SGLANG_VIDEO_MAX_PIXELS = 768 * 28 * 28
SGLANG_FRAME_FACTOR = 2
SGLANG_FPS = 2.0
SGLANG_FPS_MIN_FRAMES = 4
SGLANG_FPS_MAX_FRAMES = 768
# qwen_vl.py QWEN_VIDEO_PREPROCESS_CONFIG_KEYS: consumed by preprocess_video, not passed to the processor
SGLANG_VIDEO_PREPROCESS_KEYS = frozenset(
    {"fps", "nframes", "min_frames", "max_frames", "min_pixels", "max_pixels", "total_pixels"}
    | {"resized_height", "resized_width"}
)


def _round_by(number: float, factor: int) -> int:
    return round(number / factor) * factor


def _ceil_by(number: float, factor: int) -> int:
    return math.ceil(number / factor) * factor


def _floor_by(number: float, factor: int) -> int:
    return math.floor(number / factor) * factor


def sglang_smart_resize(
    height: int, width: int, factor: int, min_pixels: int, max_pixels: float
) -> tuple[int, int]:
    """qwen_vl.py ``smart_resize`` (sglang 0.5.23)."""
    if max(height, width) / min(height, width) > SGLANG_MAX_RATIO:
        raise ValueError(f"absolute aspect ratio must be smaller than {SGLANG_MAX_RATIO}")
    h_bar = max(factor, _round_by(height, factor))
    w_bar = max(factor, _round_by(width, factor))
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar, w_bar = _floor_by(height / beta, factor), _floor_by(width / beta, factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar, w_bar = _ceil_by(height * beta, factor), _ceil_by(width * beta, factor)
    return h_bar, w_bar


def sglang_nframes(config: dict[str, Any], total_frames: int, video_fps: float) -> int:
    """qwen_vl.py ``smart_nframes`` (sglang 0.5.23): at ``fps`` (2) per second of the file, at least 4, at
    most the file's frames, rounded *down* to an even count; fewer than 2 is an error."""
    if "nframes" in config:
        nframes = _round_by(config["nframes"], SGLANG_FRAME_FACTOR)
    else:
        fps = config.get("fps", SGLANG_FPS)
        min_frames = _ceil_by(config.get("min_frames", SGLANG_FPS_MIN_FRAMES), SGLANG_FRAME_FACTOR)
        max_frames = _floor_by(
            config.get("max_frames", min(SGLANG_FPS_MAX_FRAMES, total_frames)), SGLANG_FRAME_FACTOR
        )
        wanted = total_frames / video_fps * fps
        wanted = min(min(max(wanted, min_frames), max_frames), total_frames)
        nframes = _floor_by(wanted, SGLANG_FRAME_FACTOR)
    if not (SGLANG_FRAME_FACTOR <= nframes <= total_frames):
        raise ValueError(
            f"nframes should in interval [{SGLANG_FRAME_FACTOR}, {total_frames}], but got {nframes}."
        )
    return nframes


def sglang_preprocess_video(
    frames: np.ndarray, video_fps: float, config: dict[str, Any]
) -> tuple[torch.Tensor, dict[str, Any]]:
    """qwen_vl.py ``preprocess_video`` (sglang 0.5.23): frames picked by ``linspace`` (truncated to ints),
    resized bilinearly (torchvision, antialiased) to 28-multiples within the per-frame pixel caps; the
    metadata numbers the picked frames in the file at its average rate."""
    import torchvision
    from torchvision.transforms import InterpolationMode

    total = len(frames)
    nframes = sglang_nframes(config, total, video_fps)
    idx = np.unique(np.linspace(0, total - 1, num=nframes, dtype=np.int64))
    video = torch.from_numpy(frames[idx]).permute(0, 3, 1, 2)
    nframes, _, height, width = video.shape
    min_pixels = config.get("min_pixels", SGLANG_VIDEO_MIN_PIXELS)
    total_pixels = config.get("total_pixels", SGLANG_VIDEO_TOTAL_PIXELS)
    max_pixels = max(
        min(config.get("max_pixels", SGLANG_VIDEO_MAX_PIXELS), total_pixels / nframes * SGLANG_FRAME_FACTOR),
        int(min_pixels * 1.05),
    )
    max_pixels = min(config.get("max_pixels", max_pixels), max_pixels)
    if "resized_height" in config or "resized_width" in config:
        raise NotImplementedError("the fake does not model fixed resized_height/resized_width")
    size = sglang_smart_resize(height, width, SGLANG_IMAGE_FACTOR, min_pixels, max_pixels)
    video = torchvision.transforms.functional.resize(
        video, list(size), interpolation=InterpolationMode.BILINEAR
    )
    metadata = {
        "fps": video_fps,
        "duration": total / video_fps,
        "total_num_frames": total,
        "frames_indices": idx.tolist(),
        "video_backend": "torchvision",
    }
    return video, metadata


def sglang_processor_kwargs(
    prompt: str,
    images: list[Image.Image],
    videos: list[tuple[np.ndarray, float]],
    config: dict[str, Any] | None,
) -> dict[str, Any]:
    """qwen_vl.py ``_process_mm_data_uncached`` + base_processor.py ``process_mm_data`` (sglang 0.5.23): the
    ``image`` section of ``--mm-process-config`` goes to the processor as ``images_kwargs``; videos are
    preprocessed as above, then the ``video`` section less the preprocessing keys goes as ``videos_kwargs``
    with the metadata and ``do_sample_frames=False``. No request can change any of it."""
    config = config or {}
    kwargs: dict[str, Any] = {"text": [prompt], "return_tensors": "pt", "padding": True}
    if images:
        kwargs["images"] = images
        if config.get("image"):
            kwargs["images_kwargs"] = dict(config["image"])
    if videos:
        video_config = dict(config.get("video", {}))
        done = [sglang_preprocess_video(frames, fps, video_config) for frames, fps in videos]
        kwargs["videos"] = [video for video, _ in done]
        kwargs["video_metadata"] = [meta for _, meta in done]
        kwargs["do_sample_frames"] = False
        rest = {k: v for k, v in video_config.items() if k not in SGLANG_VIDEO_PREPROCESS_KEYS}
        if rest:
            kwargs["videos_kwargs"] = rest
    return kwargs


def sglang_top_logprob_score(logits: torch.Tensor, yes_id: int, no_id: int, top: int = 50) -> float:
    """serving_rerank.py (sglang 0.5.23) ``_extract_score_from_logprobs``: the first generated token's
    ``top_logprobs_num=50`` log-probabilities; a label outside them counts 0; ``p_yes / (p_yes + p_no)``,
    0 when both are 0 (``_qwen3_rerank_score``)."""
    logprobs = torch.log_softmax(logits, dim=-1)
    values, ids = torch.topk(logprobs, k=min(top, logprobs.numel()))
    found = {int(i): float(v) for v, i in zip(values, ids, strict=True)}
    p_yes = math.exp(found[yes_id]) if yes_id in found else 0.0
    p_no = math.exp(found[no_id]) if no_id in found else 0.0
    return 0.0 if p_yes + p_no <= 0.0 else p_yes / (p_yes + p_no)


# --- prompts the way each server builds them -------------------------------------------------------------


def vllm_chat_prompt(
    model: TinyModel, req: VLLMEmbeddingChatRequest, deviation: Deviation | None = None
) -> tuple[str, Media]:
    """vLLM's chat path: parts → chat template items (image/video placeholders), in order, rendered with the
    request's ``chat_template`` when it has one (checked by :func:`vllm_request_chat_template`), else the
    model's own. (Deviation ``missing_instruction``: the system turn is dropped.)"""
    media, conversation = Media(), []
    for message in req.messages:
        if deviation == "missing_instruction" and message.role == "system":
            continue
        content = message.content
        if isinstance(content, list):
            items = []
            for part in content:
                if part.type == "text":
                    items.append({"type": "text", "text": part.text})
                else:
                    media.add(part)
                    items.append({"type": "image" if part.type == "image_url" else "video"})
            content = items  # type: ignore[assignment]
        conversation.append({"role": message.role, "content": content})
    template = {"chat_template": req.chat_template} if req.chat_template is not None else {}
    prompt = model.processor.apply_chat_template(
        conversation,
        tokenize=False,
        add_generation_prompt=req.add_generation_prompt,
        continue_final_message=req.continue_final_message,
        **template,
        **(req.chat_template_kwargs or {}),
    )
    return prompt, media


def vllm_score_side(data: ScoreInput, media: Media, joiner: str = "") -> str:
    """vllm 0.33.0 ``entrypoints/pooling/scoring/utils.py`` (``multimodal_content_part_separator=""``) +
    ``renderers/chat_utils/chat_message.py`` ``get_full_multimodal_text_prompt`` (``interleave_strings=False``):
    all placeholders first, grouped by modality in order of first appearance, then the texts joined by
    newlines; placeholders and text joined by ``joiner`` (``""``; vLLM ≤ 0.19 used ``"\n"``)."""
    parts = [TextPart(type="text", text=data)] if isinstance(data, str) else data.content
    by_modality: dict[str, list[str]] = {}
    texts = []
    for part in parts:
        if part.type == "text":
            texts.append(part.text)
        else:
            by_modality.setdefault(part.type, []).append(media.add(part))
    return joiner.join([p for group in by_modality.values() for p in group] + ["\n".join(texts)])


def vllm_rerank_prompt(
    model: TinyModel, req: VLLMRerankRequest, document: ScoreInput, launch: Launch
) -> tuple[str, Media]:
    """vllm 0.33.0 ``entrypoints/pooling/scoring/io_processor.py`` ``get_score_prompt``: the launch's
    ``--chat-template`` over messages ``[{"role": "query", ...}, {"role": "document", ...}]`` with
    ``chat_template_kwargs`` (where ``RerankRequest`` folds its ``instruction`` field; empty → the
    default), through the tokenizer's ``apply_chat_template``. ``rerank_template="upstream"``: vLLM's
    example template, re-implemented in :func:`_rerank_prompt`."""
    media = Media()
    joiner = "\n" if launch.deviation == "newline_joiner" else ""
    query = vllm_score_side(req.query, media, joiner)
    doc = vllm_score_side(document, media, joiner)
    kwargs = dict(req.chat_template_kwargs or {})
    if req.instruction is not None and launch.deviation != "missing_instruction":
        kwargs.setdefault("instruction", req.instruction)
    if launch.rerank_template == "upstream":
        instruction = kwargs.get("instruction") or RERANK_DEFAULT_INSTRUCTION
        return _rerank_prompt(instruction, query, doc), media
    prompt = model.processor.tokenizer.apply_chat_template(
        [{"role": "query", "content": query}, {"role": "document", "content": doc}],
        chat_template=RERANK_TEMPLATE_FILES["vllm"].read_text(),
        tokenize=False,
        **kwargs,
    )
    return prompt, media


def sglang_rerank_side(data: RerankContent, media: Media) -> str:
    """sglang ``examples/chat_template/qwen3_vl_reranker.jinja``: each part in order, no separators."""
    if isinstance(data, str):
        return data
    return "".join(part.text if part.type == "text" else media.add(part) for part in data)


def sglang_rerank_prompt(
    req: SGLangRerankRequest, document: RerankContent, launch: Launch
) -> tuple[str, Media]:
    """sglang 0.5.23 ``entrypoints/openai/serving_rerank.py`` ``_handle_vl_reranker_request``: the launch's
    ``--chat-template`` rendered (``_render_vl_jinja_template``: a plain sandboxed jinja2 environment) with
    ``query`` / ``document`` as part lists (``_content_to_template_list``) and ``instruct`` when given.
    ``rerank_template="upstream"``: SGLang's example template, re-implemented in :func:`_rerank_prompt`."""
    media = Media()
    instruct = None if launch.deviation == "missing_instruction" else req.instruct
    if launch.rerank_template == "upstream":
        query = sglang_rerank_side(req.query, media)
        doc = sglang_rerank_side(document, media)
        return _rerank_prompt(instruct or RERANK_DEFAULT_INSTRUCTION, query, doc), media
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(
        loader=jinja2.BaseLoader(), autoescape=False, undefined=jinja2.Undefined
    )
    template = env.from_string(RERANK_TEMPLATE_FILES["sglang"].read_text())
    kwargs: dict[str, Any] = {
        "query": sglang_template_list(req.query, media),
        "document": sglang_template_list(document, media),
    }
    if instruct:
        kwargs["instruct"] = instruct
    return template.render(**kwargs), media


def sglang_template_list(data: RerankContent, media: Media) -> list[dict[str, Any]]:
    """serving_rerank.py ``_content_to_template_list`` (sglang 0.5.23): text parts as ``{"type": "text",
    "text"}``, media as ``{"type": "image"}`` / ``{"type": "video"}`` (their URLs collected in order)."""
    if isinstance(data, str):
        return [{"type": "text", "text": data}]
    items: list[dict[str, Any]] = []
    for part in data:
        if part.type == "text":
            items.append({"type": "text", "text": part.text})
        else:
            media.add(part)
            items.append({"type": "image" if part.type == "image_url" else "video"})
    return items


def _rerank_prompt(instruction: str, query: str, document: str) -> str:
    """The prompt of the server projects' example reranker templates (vLLM
    ``examples/pooling/score/template/qwen3_vl_reranker.jinja``, SGLang
    ``examples/chat_template/qwen3_vl_reranker.jinja``), with the placeholders as the sides carry them."""
    return (
        f"<|im_start|>system\n{RERANK_SYSTEM}<|im_end|>\n<|im_start|>user\n<Instruct>: {instruction}"
        f"<Query>:{query}\n<Document>:{document}<|im_end|>\n<|im_start|>assistant\n"
    )


# --- scripted misbehaviour -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """A scripted answer served instead of the real one: ``status`` with ``json`` (or ``text``) after
    ``delay_s``; ``passthrough=True`` only delays, then answers normally."""

    status: int = 200
    json: Any = None
    text: str | None = None
    delay_s: float = 0.0
    passthrough: bool = False


@dataclass
class Recorder:
    bodies: list[Any] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    script: deque[Reply] = field(default_factory=deque)
    lock: threading.Lock = field(default_factory=threading.Lock)
    input_ids: list[list[int]] = field(
        default_factory=list
    )  # each prompt's final token ids, as the model read it

    async def intercept(self, body: Any, headers: dict[str, str]) -> Response | None:
        with self.lock:
            self.bodies.append(body)
            self.headers.append(headers)
            reply = self.script.popleft() if self.script else None
        if reply is None:
            return None
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        if reply.passthrough:
            return None
        if reply.text is not None:
            return PlainTextResponse(reply.text, status_code=reply.status)
        return JSONResponse(reply.json, status_code=reply.status)


def _vllm_error(message: str, status: int = 400) -> JSONResponse:
    """vLLM ``ErrorResponse``: ``{"error": {"message", "type", "param", "code"}}``."""
    kind = "BadRequestError" if status == 400 else "InternalServerError"
    return JSONResponse({"error": {"message": message, "type": kind, "param": None, "code": status}}, status)


def _sglang_error(message: str, status: int = 400) -> JSONResponse:
    """SGLang ``ErrorResponse``: ``{"object": "error", "message", "type", "param", "code"}``."""
    body = {"object": "error", "message": message, "type": "BadRequestError", "param": None, "code": status}
    return JSONResponse(body, status)


Handler = Callable[[Any], Any]


def _route(
    app: FastAPI,
    path: str,
    recorder: Recorder,
    schema: type[BaseModel],
    handler: Handler,
    error: Callable[[str], JSONResponse],
) -> None:
    async def endpoint(request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            return error("request body is not JSON")
        scripted = await recorder.intercept(body, dict(request.headers))
        if scripted is not None:
            return scripted
        try:
            parsed = schema.model_validate(body)
        except ValidationError as exc:
            return error(str(exc))
        try:
            return JSONResponse(await run_in_threadpool(handler, parsed))
        except (TypeError, ValueError) as exc:
            return error(str(exc))

    app.add_api_route(path, endpoint, methods=["POST"])


# --- the apps ------------------------------------------------------------------------------------------


def vllm_request_mm_kwargs(req: VLLMPoolingBasic, launch: Launch) -> None:
    """vllm 0.33.0 ``entrypoints/generate/base/protocol.py`` ``validate_request_mm_kwargs``, called for
    every pooling request by ``entrypoints/pooling/base/serving.py`` ``_init_ctx``: non-empty
    ``mm_processor_kwargs`` / ``media_io_kwargs`` are refused (HTTP 400) unless the server was started with
    ``--trust-request-mm-kwargs``."""
    if launch.trust_request_mm_kwargs:
        return
    if req.mm_processor_kwargs:
        raise ValueError(
            "Per-request mm_processor_kwargs are disabled by default because they can change multimodal "
            "preprocessing resource usage. Start the server with --trust-request-mm-kwargs only when "
            "clients are trusted."
        )
    if getattr(req, "media_io_kwargs", None):
        raise ValueError(
            "Per-request media_io_kwargs are disabled by default because they can change multimodal media "
            "loading resource usage. Start the server with --trust-request-mm-kwargs only when clients "
            "are trusted."
        )


def vllm_request_chat_template(req: VLLMEmbeddingChatRequest, launch: Launch) -> None:
    """vllm 0.33.0 ``entrypoints/pooling/base/io_processor.py`` ``_validate_chat_template`` (called by
    ``embed/io_processor.py`` for every chat request): a request-level ``chat_template`` (or one in
    ``chat_template_kwargs``) is refused unless the server was started with
    ``--trust-request-chat-template``."""
    if launch.trust_request_chat_template:
        return
    if req.chat_template is not None or (req.chat_template_kwargs or {}).get("chat_template") is not None:
        raise ValueError(
            "Chat template is passed with request, but --trust-request-chat-template is not set. "
            "Refused request with untrusted chat template."
        )


def vllm_app(model_dir: Path, recorder: Recorder, reranker: bool, launch: Launch) -> FastAPI:
    app = FastAPI()
    model = tiny_model(str(model_dir), reranker)

    def processor_call(prompt: str, media: Media, req: VLLMPoolingBasic) -> dict[str, Any]:
        if launch.deviation == "outer_video_markers":
            prompt = outer_video_markers(prompt)
        if launch.deviation == "dropped_frame":
            media.videos = [(frames[:-1], fps) for frames, fps in media.videos]
        do_resize = bool((req.mm_processor_kwargs or {}).get("do_resize", True))
        if launch.deviation == "upscaled_image":
            do_resize = True
        return vllm_processor_kwargs(prompt, media, do_resize)

    def embed(req: VLLMEmbeddingChatRequest) -> dict[str, Any]:
        vllm_request_mm_kwargs(req, launch)
        vllm_request_chat_template(req, launch)
        prompt, media = vllm_chat_prompt(model, req, launch.deviation)
        vector = model.embedding(processor_call(prompt, media, req), recorder.input_ids)
        return {
            "id": f"embd-{uuid.uuid4().hex}",
            "object": "list",
            "created": int(time.time()),
            "model": req.model,
            "data": [{"index": 0, "object": "embedding", "embedding": vector}],
            "usage": {"prompt_tokens": 0, "total_tokens": 0},
        }

    def rerank(req: VLLMRerankRequest) -> dict[str, Any]:
        vllm_request_mm_kwargs(req, launch)
        documents = req.documents if isinstance(req.documents, list) else [req.documents]
        results: list[dict[str, Any]] = []
        for index, document in enumerate(documents):
            prompt, media = vllm_rerank_prompt(model, req, document, launch)
            yes, no = model.yes_no_logits(processor_call(prompt, media, req), recorder.input_ids)
            score = 1.0 / (1.0 + float(np.exp(-(yes - no))))  # sigmoid(h · (w_yes − w_no))
            results.append(
                {
                    "index": index,
                    "document": {
                        "text": document if isinstance(document, str) else None,
                        "multi_modal": None,
                    },
                    "relevance_score": score,
                }
            )
        results.sort(key=lambda r: r["relevance_score"], reverse=True)
        top = req.top_n or len(results)
        return {
            "id": f"rerank-{uuid.uuid4().hex}",
            "model": req.model or str(model_dir),
            "usage": {"prompt_tokens": 0, "total_tokens": 0},
            "results": results[:top],
        }

    if reranker:
        _route(app, "/rerank", recorder, VLLMRerankRequest, rerank, _vllm_error)
        _route(app, "/v1/rerank", recorder, VLLMRerankRequest, rerank, _vllm_error)
    else:
        _route(app, "/v1/embeddings", recorder, VLLMEmbeddingChatRequest, embed, _vllm_error)
    return app


def sglang_app(model_dir: Path, recorder: Recorder, reranker: bool, launch: Launch) -> FastAPI:
    app = FastAPI()
    model = tiny_model(str(model_dir), reranker)
    config = None if launch.deviation == "upscaled_image" else launch.mm_process_config

    def processor_call(prompt: str, images: list[Image.Image], videos: list[tuple[np.ndarray, float]]) -> Any:
        if launch.deviation == "outer_video_markers":
            prompt = outer_video_markers(prompt)
        if launch.deviation == "dropped_frame":
            videos = [(frames[:-1], fps) for frames, fps in videos]
        if launch.deviation == "missing_instruction" and not reranker:
            prompt = re.sub(r"^<\|im_start\|>system\n.*?<\|im_end\|>\n", "", prompt, flags=re.DOTALL)
        return sglang_processor_kwargs(prompt, images, videos, config)

    def encode(req: SGLangEncodeRequest) -> Any:
        prompts = req.text if isinstance(req.text, list) else [req.text]
        out = []
        for i, prompt in enumerate(prompts):
            if not isinstance(prompt, str):
                raise TypeError("text must be a prompt string or a list of them")
            images = [decode_image(u) for u in _per_request(req.image_data, i)]
            videos = [decode_video(u) for u in _per_request(req.video_data, i)]
            vector = model.embedding(processor_call(prompt, images, videos), recorder.input_ids)
            out.append({"embedding": vector, "meta_info": {"id": uuid.uuid4().hex, "prompt_tokens": 0}})
        return out if isinstance(req.text, list) else out[0]

    def rerank(req: SGLangRerankRequest) -> Any:
        scored = []
        vocab = model.processor.tokenizer.get_vocab()
        for index, document in enumerate(req.documents):
            if req.return_documents and not isinstance(document, str):
                # RerankResponse.document is Optional[str]: building it from a part list fails.
                raise ValueError(
                    "1 validation error for RerankResponse\ndocument\n  Input should be a valid string"
                )
            prompt, media = sglang_rerank_prompt(req, document, launch)
            logits = model.all_logits(processor_call(prompt, media.images, media.videos), recorder.input_ids)
            score = sglang_top_logprob_score(logits, vocab["yes"], vocab["no"], launch.top_logprobs_num)
            entry: dict[str, Any] = {"score": score, "index": index, "meta_info": None}
            if req.return_documents:
                entry["document"] = document
            scored.append(entry)
        scored.sort(key=lambda e: e["score"], reverse=True)
        return scored[: req.top_n] if req.top_n else scored

    if reranker:
        _route(app, "/v1/rerank", recorder, SGLangRerankRequest, rerank, _sglang_error)
    else:
        _route(app, "/encode", recorder, SGLangEncodeRequest, encode, _sglang_error)
    return app


def _per_request(data: Any, index: int) -> list[str]:
    """SGLang's batch media layout: one entry per prompt, each a URL, a list of URLs, or null."""
    if data is None:
        return []
    entry = data[index] if isinstance(data, list) else data
    if entry is None:
        return []
    return list(entry) if isinstance(entry, list) else [entry]


# --- running them --------------------------------------------------------------------------------------


class FakeServer:
    """A fake of the pinned ``kind`` server launched with ``launch`` (default: the documented flags), running
    on 127.0.0.1 in a background thread. ``url`` is its base URL."""

    def __init__(
        self, kind: Literal["vllm", "sglang"], model_dir: Path, reranker: bool, launch: Launch | None = None
    ) -> None:
        self.recorder = Recorder()
        self.launch = launch or Launch()
        build = vllm_app if kind == "vllm" else sglang_app
        app = build(model_dir, self.recorder, reranker, self.launch)
        self._socket = tcp_listener()  # TCP_NODELAY on what it accepts, as on a real server
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    def __enter__(self) -> Self:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the fake server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()

    @property
    def bodies(self) -> list[Any]:
        return self.recorder.bodies

    def script(self, *replies: Reply) -> None:
        """Serve these replies, in order, before answering normally again."""
        self.recorder.script.extend(replies)

    @property
    def headers(self) -> list[dict[str, str]]:
        return self.recorder.headers

    @property
    def input_ids(self) -> list[list[int]]:
        """Each prompt's final token ids (after the video/image expansion), in the order computed."""
        return self.recorder.input_ids

    def reset(self) -> None:
        with self.recorder.lock:
            self.recorder.bodies.clear()
            self.recorder.headers.clear()
            self.recorder.script.clear()
            self.recorder.input_ids.clear()


def closed_port_url() -> str:
    """A loopback URL where nothing listens (the port was just released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
