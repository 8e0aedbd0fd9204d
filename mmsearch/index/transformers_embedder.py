"""The in-process Qwen3-VL-Embedding backend (transformers), on CPU or GPU.

Reproduces QwenLM/Qwen3-VL-Embedding ``src/models/qwen3_vl_embedding.py`` (``Qwen3VLEmbedder.process``):
messages from :mod:`mmsearch.index.qwen_prompt`; media resized by ``qwen_vl_utils.process_vision_info``
(``image_patch_size=16``); the processor called with ``do_resize=False, truncation=True,
max_length=8192`` (``qwen_prompt.MAX_LENGTH``), ``padding=True`` and right padding; the vector is the final
hidden state at the last position whose attention mask is 1 (the ``\\n`` after ``assistant``),
L2-normalised, then MRL-truncated.

Differences from the reference, on purpose:
- batches are packed by a padded-token budget (``embedding.batch_tokens``, ``embedding.max_batch_size``)
  instead of one call per list; a batch that runs out of CUDA memory is split in half and retried;
- an item whose media cannot be processed raises :class:`EmbedderError` naming it, where the reference
  silently embeds the text ``NULL`` instead;
- video clips are read as the official code reads a video file (``qwen_prompt.video_tensor`` and
  ``video_metadata``: each segment as a file of its own), not through its frame-list path;
- video prompts are the model card's (transformers 4.57) form on every transformers version: the text
  is handed to the processor as :mod:`mmsearch.index.video_prompt` found, from a canary at start-up,
  that this processor needs it (an installed transformers it cannot correct is refused at start-up).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from mmsearch.errors import EmbedderError, UnprocessableInput, UnsupportedFile
from mmsearch.index import qwen_prompt, video_prompt
from mmsearch.index.embedder import check_dim, describe, mrl, pack_batches
from mmsearch.index.inputs import Content
from mmsearch.index.settings import EmbeddingSettings
from mmsearch.models import Placement, choose_placement, load_pretrained, load_processor, resolve_model

log = logging.getLogger(__name__)

FRAME_PAIR_OVERHEAD = 10  # "<12.5 seconds>" + vision start/end tokens per temporal patch (estimate)


@dataclass(frozen=True, eq=False)
class Prepared:
    """One item on its way to the model: prompt and estimated sequence length (from :meth:`plan`), then
    its media resized by qwen-vl-utils (from :meth:`load`, done batch by batch to bound memory)."""

    index: int
    label: str
    messages: list[dict[str, Any]]
    prompt: str
    tokens: int
    metadata: tuple[dict[str, Any], ...] = ()
    images: tuple[Image.Image, ...] = ()
    videos: tuple[torch.Tensor, ...] = ()


def last_token_positions(attention_mask: torch.Tensor) -> torch.Tensor:
    """Per row, the index of the last position whose mask is 1 (works for either padding side)."""
    flipped_first_one = attention_mask.flip(dims=[1]).argmax(dim=1)
    return attention_mask.shape[1] - 1 - flipped_first_one


def pool_last(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    rows = torch.arange(hidden.shape[0], device=hidden.device)
    return hidden[rows, last_token_positions(attention_mask).to(hidden.device)]


class TransformersEmbedder:
    """Qwen3-VL-Embedding run in this process. ``dim`` is the output size after MRL."""

    def __init__(self, settings: EmbeddingSettings) -> None:
        from transformers import AutoConfig, Qwen3VLModel

        started = time.perf_counter()
        folder = resolve_model(settings.model, "embedding.model")
        placement = choose_placement(
            settings.device, settings.dtype, settings.attn_implementation, "embedding"
        )
        config = AutoConfig.from_pretrained(folder)
        check_dim(settings.dim, int(config.get_text_config().hidden_size))  # fail before loading weights
        processor = load_processor(folder, padding_side="right")
        model = load_pretrained(
            Qwen3VLModel, folder, placement, EmbedderError, f"embedding model {settings.model}"
        )
        self._attach(settings, processor, model, placement)
        log.info(
            "embedding model %s ready: dim %d of %d, %s, loaded in %.1f s",
            settings.model,
            self.dim,
            self.full_dim,
            placement.describe(),
            time.perf_counter() - started,
        )

    @classmethod
    def from_parts(cls, settings: EmbeddingSettings, processor: Any, model: Any) -> TransformersEmbedder:
        """An embedder around an already built processor and ``Qwen3VLModel`` (benchmarks, tests)."""
        embedder = cls.__new__(cls)
        first = next(model.parameters())
        placement = Placement(first.device, first.dtype, str(model.config._attn_implementation))
        embedder._attach(settings, processor, model.eval(), placement)
        return embedder

    @classmethod
    def input_path(cls, settings: EmbeddingSettings, processor: Any) -> TransformersEmbedder:
        """The embedder's input path alone (``plan``, ``load``, ``batch_inputs``), with no model: what the
        preprocessing fingerprint renders its canaries through (``index/fingerprint.py``)."""
        embedder = cls.__new__(cls)
        embedder._attach_inputs(settings, processor, Placement(torch.device("cpu"), torch.float32, "sdpa"))
        return embedder

    def _attach(self, settings: EmbeddingSettings, processor: Any, model: Any, placement: Placement) -> None:
        self._attach_inputs(settings, processor, placement)
        self.model = model
        self.full_dim = int(model.config.get_text_config().hidden_size)
        self.dim = check_dim(settings.dim, self.full_dim)
        self.model_lock: AbstractContextManager[Any] = threading.Lock()

    def _attach_inputs(self, settings: EmbeddingSettings, processor: Any, placement: Placement) -> None:
        self.settings = settings
        self.model_id = settings.model
        self.processor = processor
        self.placement = placement
        self.video_form = video_prompt.video_form(processor)  # refuses a processor it cannot correct
        self.max_length = qwen_prompt.MAX_LENGTH  # tests lower it to reach truncation with short inputs
        # The processor (its fast tokenizer changes its truncation and padding state per call) is used by
        # one thread at a time; the model only under ``model_lock``, so one call's preprocessing overlaps
        # another's forward pass.
        self._inputs_lock = threading.Lock()

    def embed(self, items: Sequence[Content], instruction: str) -> np.ndarray:
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        plans = [self.plan(index, item, instruction) for index, item in enumerate(items)]
        vectors = np.empty((len(plans), self.full_dim), dtype=np.float32)
        costs = [p.tokens for p in plans]
        for batch in pack_batches(costs, self.settings.batch_tokens, self.settings.max_batch_size):
            vectors[batch] = self._run([self.load(plans[i]) for i in batch])
        return mrl(vectors, self.dim)

    def prepare(self, index: int, content: Content, instruction: str) -> Prepared:
        return self.load(self.plan(index, content, instruction))

    def plan(self, index: int, content: Content, instruction: str) -> Prepared:
        """Messages, prompt and token estimate; media sizes are checked here. Bad media → EmbedderError."""
        label = f"item {index} ({describe(content)})"
        messages = qwen_prompt.embedding_messages(content, instruction)
        with self._inputs_lock:
            prompt = self.video_form.text(qwen_prompt.render_prompt(self.processor, messages))
        try:
            vision = sum(qwen_prompt.image_tokens(image) for image in content.images)
            if content.video is not None:
                pairs = -(-len(qwen_prompt.clip_frames(content.video)) // 2)
                vision += qwen_prompt.video_tokens(content.video) + pairs * FRAME_PAIR_OVERHEAD
        except (ValueError, UnsupportedFile) as exc:  # the model's size checks (e.g. aspect ratio over 200)
            raise UnprocessableInput(f"{label}: its media cannot be processed: {exc}") from exc
        with self._inputs_lock:
            text = len(self.processor.tokenizer(prompt, add_special_tokens=False)["input_ids"])
        metadata = (qwen_prompt.video_metadata(content.video),) if content.video is not None else ()
        tokens = min(text + vision, self.max_length)
        return Prepared(index, label, messages, prompt, tokens, metadata)

    def load(self, planned: Prepared) -> Prepared:
        """The item's media resized exactly as qwen-vl-utils does for the official model."""
        try:
            images, videos = qwen_prompt.resize_media(planned.messages)
        except Exception as exc:  # qwen-vl-utils raises bare ValueError/AssertionError/PIL errors
            raise UnprocessableInput(
                f"{planned.label}: its media cannot be processed: {type(exc).__name__}: {exc}"
            ) from exc
        return replace(planned, images=tuple(images), videos=tuple(videos))

    def batch_inputs(self, batch: Sequence[Prepared]) -> dict[str, torch.Tensor]:
        """The processor's tensors for a batch (right-padded), on the model's device."""
        images = [image for p in batch for image in p.images]
        videos = [video for p in batch for video in p.videos]
        kwargs: dict[str, Any] = {
            "text": [p.prompt for p in batch],
            "images": images or None,
            "videos": videos or None,
            "truncation": True,
            "max_length": self.max_length,
            "padding": True,
            "do_resize": False,
            "return_tensors": "pt",
            "do_sample_frames": False,
        }
        if videos:
            kwargs["video_metadata"] = [meta for p in batch for meta in p.metadata]
            if hasattr(self.processor.video_processor, "cap_pixels_per_frame"):
                # Only used when resizing, which do_resize=False skips; set to silence transformers' notice.
                kwargs["cap_pixels_per_frame"] = True
        try:
            with self._inputs_lock:
                inputs = self.processor(**kwargs)
        except (ValueError, RuntimeError, TypeError) as exc:
            raise UnprocessableInput(f"{_labels(batch)}: the processor refused the input: {exc}") from exc
        return {key: value.to(self.placement.device) for key, value in inputs.items()}

    def _run(self, batch: list[Prepared]) -> np.ndarray:
        """Forward one batch; on CUDA OOM split it in half and retry each half (never drop an item)."""
        try:
            return self._forward(batch)
        except torch.cuda.OutOfMemoryError as exc:
            if len(batch) == 1:
                raise EmbedderError(
                    f"{batch[0].label} does not fit in GPU memory on its own (~{batch[0].tokens} tokens); "
                    "lower the ingest pixel budget (ingest.max_pixels, ingest.video_frame_max_pixels)"
                ) from exc
        # Outside the handler, so the failed attempt's tensors (held by the traceback) are freed first.
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        half = len(batch) // 2
        log.warning(
            "CUDA out of memory on a batch of %d; retrying as %d + %d", len(batch), half, len(batch) - half
        )
        return np.concatenate([self._run(batch[:half]), self._run(batch[half:])])

    def _forward(self, batch: list[Prepared]) -> np.ndarray:
        inputs = self.batch_inputs(batch)
        try:
            with self.model_lock, torch.inference_mode():
                hidden = self.model(**inputs, use_cache=False).last_hidden_state
                pooled = F.normalize(pool_last(hidden, inputs["attention_mask"]).float(), p=2, dim=-1)
        except torch.cuda.OutOfMemoryError:
            raise
        except (RuntimeError, ValueError, IndexError) as exc:
            cut = _truncated(inputs, self.max_length)
            hint = f" (input cut at the model's {self.max_length} tokens)" if cut else ""
            raise EmbedderError(f"{_labels(batch)}: the embedding model failed: {exc}{hint}") from exc
        result: np.ndarray = pooled.cpu().numpy()
        return result


def _labels(batch: Sequence[Prepared]) -> str:
    return "; ".join(p.label for p in batch)


def _truncated(inputs: dict[str, torch.Tensor], max_length: int) -> bool:
    return bool(inputs["attention_mask"].sum(dim=1).max().item() >= max_length)
