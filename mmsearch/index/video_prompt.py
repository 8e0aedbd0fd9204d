"""The model card's video prompt, whatever transformers is installed.

The reference is the official code in the model card's environment (transformers 4.57.x). There,
``Qwen3VLProcessor.__call__`` (``transformers/models/qwen3_vl/processing_qwen3_vl.py``, 4.57.1) replaces
the chat template's whole ``<|vision_start|><|video_pad|><|vision_end|>`` by, per temporal frame,
``<t seconds><|vision_start|>`` + pads + ``<|vision_end|>``; given a bare ``<|video_pad|>`` (its "vllm may
input video token directly" branch) it writes the same sequence in its place. transformers 5.10–5.24
(``replace_video_token`` in the same file, 5.24.0 read) expand only the bare ``<|video_pad|>``, so the
template's outer pair stays around all the frames: every video prompt carries one extra pair of vision
markers, which moves video vectors by 1–3e-2 and reranker scores by up to 4e-3 on the tiny test models.
5.25 collapses the outer pair again (``Qwen3VLProcessor.get_text_with_replacements``).

So before a processor embeds or reranks anything, :func:`video_form` sends it a canary — the chat
template rendered around one tiny video (4 black 32×32 frames at 1 fps: two temporal frames of one
token each) — and compares the token ids it returns with the card's form, built here by hand
(``<0.5 seconds><|vision_start|><|video_pad|><|vision_end|><2.5 seconds>…``):

- the prompt as rendered comes out right (4.57, 5.25): it is handed over as it is;
- it does not, but the prompt with each ``<|vision_start|><|video_pad|><|vision_end|>`` collapsed to a
  bare ``<|video_pad|>`` does (5.10–5.24, which double-wrap): prompts are handed over collapsed, which
  those versions expand into exactly the card's form;
- neither does (a processor that does something else): :class:`VideoPromptError` names the installed
  version and the fix (the tested transformers), and the backend refuses to start.

The verdict is kept per processor, so the canary runs once (a few milliseconds). Image prompts are
never touched; only the text handed to the processor changes, so :func:`qwen_prompt.render_prompt`
still returns the chat template's own rendering.
"""

from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass
from typing import Any

import torch

from mmsearch.errors import ConfigError
from mmsearch.index import qwen_prompt

log = logging.getLogger(__name__)

VISION_START = "<|vision_start|>"
VISION_END = "<|vision_end|>"
VIDEO_PAD = "<|video_pad|>"
WRAPPED_VIDEO = VISION_START + VIDEO_PAD + VISION_END  # what the Qwen3-VL chat template writes per video
CANARY_FRAMES = 4  # two temporal frames (temporal patch 2)
CANARY_SIDE = 32  # one LLM token per temporal frame (patch 16, spatial merge 2)
FIX = (
    "install the tested transformers (bash scripts/setup.sh installs the pinned version; "
    "4.57.1 is the model card's, 5.25.0 is also known good)"
)


class VideoPromptError(ConfigError):
    """The installed transformers expands Qwen3-VL video placeholders into another prompt than the
    model card's environment, in a way mmsearch cannot correct: the deployment's fault (500), like a bad
    setting, fixed by installing the tested versions."""

    code = "video_prompt_error"


@dataclass(frozen=True)
class VideoForm:
    """How prompt text must be handed to one processor so that its videos come out in the card's form."""

    collapse: bool  # hand each templated video over as a bare <|video_pad|>

    def text(self, prompt: str) -> str:
        """``prompt`` (a chat-template rendering) as this processor must receive it."""
        return bare_video_placeholders(prompt) if self.collapse else prompt


def bare_video_placeholders(text: str) -> str:
    """``text`` (a rendered prompt or a chat template) with every templated video
    (``<|vision_start|><|video_pad|><|vision_end|>``) reduced to the bare ``<|video_pad|>``: what a
    processor that expands only the bare token (transformers 5.10–5.24, as the pinned servers run) must be
    given to build the card's per-frame form. Image placeholders are left alone."""
    return text.replace(WRAPPED_VIDEO, VIDEO_PAD)


_verdicts: weakref.WeakKeyDictionary[Any, VideoForm] = weakref.WeakKeyDictionary()


def video_form(processor: Any) -> VideoForm:
    """The :class:`VideoForm` for ``processor``, from a canary prompt (once per processor).
    Raises :class:`VideoPromptError` when neither form gives the card's prompt."""
    try:
        return _verdicts[processor]
    except (KeyError, TypeError):
        pass
    form = _probe(processor)
    try:
        _verdicts[processor] = form
    except TypeError:  # not weak-referenceable: probe again next time (cheap)
        pass
    return form


def _probe(processor: Any) -> VideoForm:
    import transformers

    rendered = qwen_prompt.render_prompt(
        processor, [{"role": "user", "content": [{"type": "video", "video": "canary"}]}]
    )
    frames = torch.zeros((CANARY_FRAMES, 3, CANARY_SIDE, CANARY_SIDE), dtype=torch.float32)
    metadata = {"fps": 1.0, "frames_indices": list(range(CANARY_FRAMES)), "total_num_frames": CANARY_FRAMES}
    seen: list[str] = []
    for form in (VideoForm(collapse=False), VideoForm(collapse=True)):
        text = form.text(rendered)
        if form.collapse and text == rendered:
            break  # the template writes no outer pair: nothing to collapse
        got, expected = _expand(processor, text, frames, metadata)
        if got == expected:
            if form.collapse:
                log.info(
                    "transformers %s keeps the chat template's vision markers around a whole video; "
                    "mmsearch hands it bare %s placeholders so video prompts are the model card's",
                    transformers.__version__,
                    VIDEO_PAD,
                )
            return form
        seen.append(_decode(processor, got))
    raise VideoPromptError(
        f"transformers {transformers.__version__} expands a Qwen3-VL video into {seen[0]!r}, not the model "
        f"card's form {_decode(processor, expected)!r} (transformers 4.57: one vision start/end pair per "
        f"frame, none around the whole video), and mmsearch cannot correct it: {FIX}"
    )


def _expand(
    processor: Any, text: str, frames: torch.Tensor, metadata: dict[str, Any]
) -> tuple[list[int], list[int]]:
    """The ids ``processor`` makes of ``text`` with the canary video, and the ids of the card's form."""
    import transformers

    kwargs: dict[str, Any] = {"do_resize": False, "do_sample_frames": False, "return_tensors": "pt"}
    if hasattr(processor.video_processor, "cap_pixels_per_frame"):
        kwargs["cap_pixels_per_frame"] = True  # only read when resizing; set to silence transformers' notice
    try:
        out = processor(text=[text], videos=[frames], video_metadata=[metadata], **kwargs)
    except Exception as exc:  # any failure here means this processor cannot be trusted with video
        raise VideoPromptError(
            f"transformers {transformers.__version__} could not expand a Qwen3-VL canary video "
            f"({type(exc).__name__}: {exc}): {FIX}"
        ) from exc
    grid = [int(n) for n in out["video_grid_thw"][0]]
    merge = int(processor.video_processor.merge_size)
    indices = metadata["frames_indices"]
    card = "".join(
        f"<{(indices[2 * t] + indices[2 * t + 1]) / 2 / metadata['fps']:.1f} seconds>"
        + VISION_START
        + VIDEO_PAD * (grid[1] * grid[2] // merge**2)
        + VISION_END
        for t in range(grid[0])
    )
    expected = processor.tokenizer(bare_video_placeholders(text).replace(VIDEO_PAD, card, 1))
    return [int(i) for i in out["input_ids"][0]], [int(i) for i in expected["input_ids"]]


def _decode(processor: Any, ids: list[int]) -> str:
    text: str = processor.tokenizer.decode(ids)
    return text
