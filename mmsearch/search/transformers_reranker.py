"""The in-process Qwen3-VL-Reranker backend (transformers), on CPU or GPU, batched with left padding.

Reproduces QwenLM/Qwen3-VL-Embedding ``src/models/qwen3_vl_reranker.py`` (``Qwen3VLReranker``):

- the checkpoint is a ``Qwen3VLForConditionalGeneration``; only its ``.model`` (``Qwen3VLModel``) runs,
  and the LM head is reduced to one vector ``w = lm_head.weight["yes"] − lm_head.weight["no"]``
  (``get_binary_linear``), so the score ``sigmoid(h_last · w)`` equals ``sigmoid(logit_yes − logit_no)``
  without projecting onto the whole vocabulary;
- prompts, media sizes and truncation come from :mod:`mmsearch.search.rerank_prompt`; media are resized
  by ``qwen_vl_utils.process_vision_info(image_patch_size=16)`` and the processor is called with
  ``do_resize=False`` and no padding/truncation, then the official special-token-preserving truncation
  is applied to the token ids.

Differences from the reference, on purpose:

- the reference scores one pair per forward pass. We render every pair and estimate its length, pack
  pairs into batches by a padded-token budget (``reranker.batch_tokens``, ``reranker.max_batch_size``),
  encode each batch in one processor call (pixels normalised on the GPU when there is one), truncate
  each row, and **left-pad** the rows, so the last position of every row is its real last token.
  Qwen3-VL's 3D rope positions are computed here by ``Qwen3VLModel.get_rope_index`` with the attention mask, which numbers
  only the real tokens (pads get 0 and are masked out), so every row gets exactly the positions it gets
  alone. (Left to itself, the model does the same for a batch with media but numbers a text-only batch
  with ``arange`` over the padded row, shifting each real position by its row's padding: equal in exact
  arithmetic, rope being relative, but not the positions the pair gets alone; so we always pass
  ``position_ids``.) Batched scores equal one-pair-at-a-time scores (tested to 1e-5 in float32);
- a batch that runs out of CUDA memory is split in half and retried;
- ``h_last · w`` and the sigmoid are computed in float32 (the reference does them in the model dtype);
- the query's media are resized once per call, not once per pair;
- truncation keeps the token count of ``<|im_end|>\\n<|im_start|>assistant\\n`` under the checkpoint's
  tokenizer (5 for Qwen's, which the reference hard-codes), and also cuts ``mm_token_type_ids``
  (transformers ≥ 5 computes rope positions from it, so it must stay aligned with ``input_ids``);
- media that cannot be processed raise :class:`RerankerError` naming the document (:class:`QueryError`
  for the query), where the reference silently scores the text ``NULL`` instead;
- video clips are read as the official code reads a video file (``qwen_prompt.video_tensor`` and
  ``video_metadata``), as in the embedder, and video prompts are the model card's (transformers 4.57)
  form on every transformers version (:mod:`mmsearch.index.video_prompt`), as in the embedder.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from PIL import Image

from mmsearch.errors import MmsearchError, QueryError, RerankerError, SearchAbandoned
from mmsearch.index import qwen_prompt, video_prompt
from mmsearch.index.embedder import describe, pack_batches
from mmsearch.index.inputs import Content
from mmsearch.models import Placement, choose_placement, load_pretrained, load_processor, resolve_model
from mmsearch.search import rerank_prompt
from mmsearch.search.reranker import check_query
from mmsearch.search.settings import RerankerSettings

log = logging.getLogger(__name__)

VISION_KEYS = ("pixel_values", "image_grid_thw", "pixel_values_videos", "video_grid_thw")
MERGE = 4  # 2×2 vision patches merge into one LLM token
FRAME_PAIR_OVERHEAD = 10  # "<12.5 seconds>" + vision start/end per two frames (an estimate)


@dataclass(frozen=True, eq=False)
class Media:
    """One side's media after qwen-vl-utils resizing: what the processor receives."""

    images: tuple[Image.Image, ...] = ()
    videos: tuple[torch.Tensor, ...] = ()
    metadata: tuple[dict[str, Any], ...] = ()

    def __add__(self, other: Media) -> Media:
        return Media(self.images + other.images, self.videos + other.videos, self.metadata + other.metadata)


@dataclass(frozen=True, eq=False)
class Draft:
    """One query–document pair rendered, with its media resized: what a batch is encoded from."""

    label: str
    prompt: str  # one <|image_pad|> / <|video_pad|> per item; the processor expands them
    media: Media
    tokens: int  # estimated sequence length, for packing batches


@dataclass(frozen=True, eq=False)
class Row:
    """One pair's token ids after the official truncation, before padding."""

    label: str
    input_ids: torch.Tensor  # [length] int64
    mm_token_type_ids: torch.Tensor  # [length]: 0 text, 1 image, 2 video
    truncated: bool = False

    @property
    def length(self) -> int:
        return int(self.input_ids.shape[0])


@dataclass(frozen=True, eq=False)
class Encoded:
    """A batch as the processor returns it: rows of tokens, and the vision tensors of all rows in order."""

    rows: list[Row]
    vision: dict[str, torch.Tensor] = field(default_factory=dict)


class TransformersReranker:
    """Qwen3-VL-Reranker run in this process."""

    def __init__(self, settings: RerankerSettings) -> None:
        from transformers import Qwen3VLForConditionalGeneration

        started = time.perf_counter()
        folder = resolve_model(settings.model, "reranker.model")
        placement = choose_placement(
            settings.device, settings.dtype, settings.attn_implementation, "reranker"
        )
        processor = load_processor(folder, padding_side="left", key="reranker.model")
        lm = load_pretrained(
            Qwen3VLForConditionalGeneration,
            folder,
            placement,
            RerankerError,
            f"reranker model {settings.model}",
        )
        self._attach(settings, processor, lm, placement)
        log.info(
            "reranker %s ready on %s in %.1f s",
            settings.model,
            placement.describe(),
            time.perf_counter() - started,
        )

    @classmethod
    def from_parts(cls, settings: RerankerSettings, processor: Any, lm: Any) -> TransformersReranker:
        """A reranker around a built processor and ``Qwen3VLForConditionalGeneration`` (benchmarks, tests)."""
        reranker = cls.__new__(cls)
        first = next(lm.parameters())
        placement = Placement(first.device, first.dtype, str(lm.config._attn_implementation))
        reranker._attach(settings, processor, lm.eval(), placement)
        return reranker

    def _attach(self, settings: RerankerSettings, processor: Any, lm: Any, placement: Placement) -> None:
        tokenizer = processor.tokenizer
        self.settings = settings
        self.model_id = settings.model
        self.processor = processor
        self.placement = placement
        self.model = lm.model  # Qwen3VLModel: no projection onto the vocabulary
        self.direction = label_direction(lm, tokenizer).to(placement.device)
        self.special_ids = special_token_ids(processor)
        self.suffix_ids = tuple(tokenizer.encode(rerank_prompt.ASSISTANT_SUFFIX, add_special_tokens=False))
        self.max_length = rerank_prompt.MAX_LENGTH  # tests lower it to reach truncation with short pairs
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.video_form = video_prompt.video_form(processor)  # refuses a processor it cannot correct
        # The processor (its fast tokenizer changes its truncation and padding state per call) is used by
        # one thread at a time; the model only under ``model_lock``, so one call's preprocessing overlaps
        # another's forward pass.
        self._inputs_lock = threading.Lock()
        self.model_lock: AbstractContextManager[Any] = threading.Lock()

    def score(
        self,
        query: Content,
        documents: Sequence[Content],
        instruction: str | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> list[float]:
        check_query(query)
        if not documents:
            return []
        started = time.perf_counter()
        instruction = rerank_prompt.instruction_or_default(instruction, self.settings.instruction)
        query_media = self.media(query, "the rerank query", QueryError)
        drafts = [self.draft(i, query, query_media, doc, instruction) for i, doc in enumerate(documents)]
        scores = np.empty(len(drafts), dtype=np.float64)
        costs = [d.tokens for d in drafts]
        batches = pack_batches(costs, self.settings.batch_tokens, self.settings.max_batch_size)
        for n, batch in enumerate(batches):
            if cancelled is not None and cancelled():
                raise SearchAbandoned(f"the search was abandoned after {n} of {len(batches)} rerank batches")
            scores[batch] = self._run([drafts[i] for i in batch])
        log.debug(
            "reranked %d documents in %d batches in %.0f ms",
            len(drafts),
            len(batches),
            (time.perf_counter() - started) * 1000,
        )
        return [float(s) for s in scores]

    def media(self, content: Content, label: str, error: type[MmsearchError]) -> Media:
        """``content``'s images/video resized as qwen-vl-utils does; failures become ``error`` naming it."""
        if not content.images and content.video is None:
            return Media()
        try:
            images, videos = qwen_prompt.resize_media(rerank_prompt.media_messages(content))
        except Exception as exc:  # qwen-vl-utils raises bare ValueError/AssertionError/PIL errors
            raise error(f"{label}: its media cannot be processed: {type(exc).__name__}: {exc}") from exc
        metadata = (qwen_prompt.video_metadata(content.video),) if content.video is not None else ()
        return Media(tuple(images), tuple(videos), metadata)

    def draft(
        self, index: int, query: Content, query_media: Media, document: Content, instruction: str
    ) -> Draft:
        """Render one pair and resize its document's media. Bad media → RerankerError naming it."""
        label = f"document {index} ({describe(document)})"
        media = query_media + self.media(document, label, RerankerError)
        messages = rerank_prompt.pair_messages(query, document, instruction)
        with self._inputs_lock:
            prompt = self.video_form.text(rerank_prompt.render(self.processor, messages))
            text = len(self.processor.tokenizer.encode(prompt, add_special_tokens=False))
        tokens = text + vision_tokens(media)
        cap = self.max_length + len(self.suffix_ids)
        return Draft(label, prompt, media, min(tokens, cap))

    def encode(self, batch: Sequence[Draft]) -> Encoded:
        """Tokenise a batch in one processor call, then truncate each row the official way. If the
        processor refuses the batch, each pair is tried alone so the error names the culprit."""
        try:
            with self._inputs_lock:
                encoded = self.processor(**self._processor_kwargs(batch))
        except (ValueError, RuntimeError, TypeError) as exc:
            if len(batch) > 1:
                for draft in batch:
                    self.encode([draft])
            raise RerankerError(f"{_labels(batch)}: the processor refused the input: {exc}") from exc
        rows = [
            self._truncate(draft.label, ids, types)
            for draft, ids, types in zip(batch, encoded["input_ids"], encoded["mm_token_type_ids"])
        ]
        return Encoded(rows, {key: encoded[key] for key in VISION_KEYS if key in encoded})

    def _processor_kwargs(self, batch: Sequence[Draft]) -> dict[str, Any]:
        images = [image for draft in batch for image in draft.media.images]
        videos = [video for draft in batch for video in draft.media.videos]
        kwargs: dict[str, Any] = {
            "text": [draft.prompt for draft in batch],
            "images": images or None,
            "videos": videos or None,
            "padding": False,
            "truncation": False,
            "do_resize": False,
        }
        if self.placement.device.type == "cuda":
            kwargs["device"] = self.placement.device  # normalise and patchify pixels on the GPU
        if videos:
            kwargs["video_metadata"] = [meta for draft in batch for meta in draft.media.metadata]
            kwargs["do_sample_frames"] = False
            if hasattr(self.processor.video_processor, "cap_pixels_per_frame"):
                # Only used when resizing, which do_resize=False skips; set to silence transformers' notice.
                kwargs["cap_pixels_per_frame"] = True
        return kwargs

    def _truncate(self, label: str, ids: Sequence[int], types: Sequence[int]) -> Row:
        keep = rerank_prompt.kept_positions(
            list(ids), self.max_length, self.special_ids, suffix=len(self.suffix_ids)
        )
        if len(keep) < len(ids):
            log.debug("%s: %d tokens cut to %d (the model's max length)", label, len(ids), len(keep))
        kept = torch.tensor(keep, dtype=torch.long)
        return Row(
            label=label,
            input_ids=torch.as_tensor(ids, dtype=torch.long)[kept],
            mm_token_type_ids=torch.as_tensor(types, dtype=torch.int)[kept],
            truncated=len(keep) < len(ids),
        )

    def batch_inputs(self, batch: Sequence[Draft]) -> dict[str, torch.Tensor]:
        """Left-padded model inputs for ``batch``, with 3D rope ``position_ids``, on the model's device."""
        encoded = self.encode(batch)
        inputs = {**collate(encoded.rows, self.pad_id), **encoded.vision}
        grids = {key: inputs[key].cpu() for key in ("image_grid_thw", "video_grid_thw") if key in inputs}
        inputs["position_ids"] = self.model.get_rope_index(  # on the CPU, where the token rows are
            inputs["input_ids"],
            mm_token_type_ids=inputs["mm_token_type_ids"],
            attention_mask=inputs["attention_mask"],
            **grids,
        )[0]
        return {key: value.to(self.placement.device) for key, value in inputs.items()}

    def _run(self, batch: list[Draft]) -> np.ndarray:
        try:
            return self._forward(batch)
        except torch.cuda.OutOfMemoryError as exc:
            if len(batch) == 1:
                raise RerankerError(
                    f"{batch[0].label} does not fit in GPU memory on its own (~{batch[0].tokens} tokens); "
                    "lower the ingest pixel budget (ingest.max_pixels, ingest.video_frame_max_pixels)"
                ) from exc
            torch.cuda.empty_cache()
            half = len(batch) // 2
            log.warning(
                "CUDA out of memory on a rerank batch of %d; retrying as %d + %d",
                len(batch),
                half,
                len(batch) - half,
            )
            return np.concatenate([self._run(batch[:half]), self._run(batch[half:])])

    def _forward(self, batch: list[Draft]) -> np.ndarray:
        inputs = self.batch_inputs(batch)
        try:
            with self.model_lock, torch.inference_mode():
                hidden = self.model(**inputs, use_cache=False).last_hidden_state[:, -1]
                scores = torch.sigmoid(hidden.float() @ self.direction)
        except torch.cuda.OutOfMemoryError:
            raise
        except (RuntimeError, ValueError, IndexError) as exc:
            raise RerankerError(f"{_labels(batch)}: the reranker model failed: {exc}") from exc
        result: np.ndarray = scores.cpu().numpy().astype(np.float64)
        return result


def label_direction(lm: Any, tokenizer: Any) -> torch.Tensor:
    """``lm_head.weight["yes"] − lm_head.weight["no"]`` in float32 (the official ``get_binary_linear``)."""
    vocab = tokenizer.get_vocab()
    missing = [word for word in (rerank_prompt.YES, rerank_prompt.NO) if word not in vocab]
    if missing:
        raise RerankerError(
            f"the reranker tokenizer has no single token for {missing}: not a Qwen3-VL-Reranker checkpoint"
        )
    weight = lm.get_output_embeddings().weight
    yes, no = vocab[rerank_prompt.YES], vocab[rerank_prompt.NO]
    if max(yes, no) >= weight.shape[0]:
        raise RerankerError(f"the LM head has {weight.shape[0]} rows but 'yes'/'no' are tokens {yes}/{no}")
    with torch.no_grad():
        return (weight[yes].float() - weight[no].float()).detach().clone()


def special_token_ids(processor: Any) -> frozenset[int]:
    """Tokens truncation never cuts: the tokenizer's special tokens (as the official code) plus the
    vision tokens, which must stay aligned with the pixel values even for an odd tokenizer."""
    tokenizer = processor.tokenizer
    vision = ("<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")
    ids = {int(i) for i in tokenizer.all_special_ids}
    ids.update(int(tokenizer.convert_tokens_to_ids(token)) for token in vision)
    return frozenset(ids)


def collate(rows: Sequence[Row], pad_id: int) -> dict[str, torch.Tensor]:
    """Left-pad the token rows, so every row's last position is its own last token."""
    width = max(row.length for row in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    token_types = torch.zeros((len(rows), width), dtype=rows[0].mm_token_type_ids.dtype)
    for i, row in enumerate(rows):
        input_ids[i, width - row.length :] = row.input_ids
        attention_mask[i, width - row.length :] = 1
        token_types[i, width - row.length :] = row.mm_token_type_ids
    return {"input_ids": input_ids, "attention_mask": attention_mask, "mm_token_type_ids": token_types}


def vision_tokens(media: Media) -> int:
    """LLM tokens the media will take (2×2 patches merge into one; two frames form a temporal patch),
    plus each frame pair's ``<t seconds>`` marker and vision start/end."""
    patch = qwen_prompt.PATCH_SIZE
    tokens = sum((image.height // patch) * (image.width // patch) // MERGE for image in media.images)
    for video in media.videos:  # [frames, channels, height, width]
        per_pair = (video.shape[2] // patch) * (video.shape[3] // patch) // MERGE
        tokens += -(-video.shape[0] // 2) * (per_pair + FRAME_PAIR_OVERHEAD)
    return tokens


def _labels(batch: Sequence[Draft]) -> str:
    return "; ".join(draft.label for draft in batch)
