"""The in-process reranker on the tiny random Qwen3-VL reranker: batching, scoring, truncation, errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw
from qwen_vl_utils import fetch_image
from transformers import AutoProcessor, Qwen3VLForConditionalGeneration

from mmsearch.errors import ConfigError, ModelNotFound, QueryError, RerankerError, SearchAbandoned
from mmsearch.index.inputs import Content, VideoClip
from mmsearch.search.reranker import Reranker, backend_names, check_scores, make_reranker
from mmsearch.search.settings import RerankerSettings
from mmsearch.search.transformers_reranker import TransformersReranker, label_direction

DEFAULT = "Given a search query, retrieve relevant candidates that answer the query."
PROMPT = (
    "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the "
    'Instruct provided. Note that the answer can only be "yes" or "no".<|im_end|>\n'
    "<|im_start|>user\n<Instruct>: {instruction}<Query>:{query}\n<Document>:{document}<|im_end|>\n"
    "<|im_start|>assistant\n"
)
IMAGE = "<|vision_start|><|image_pad|><|vision_end|>"
LONG_TEXT = "The quarterly report shows revenue growth of 12 percent in the third quarter. " * 12


def _image(w: int, h: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (w, h), tuple(int(v) for v in rng.integers(0, 256, 3)))
    draw = ImageDraw.Draw(image)
    for _ in range(4):
        x, y = int(rng.integers(0, w - 8)), int(rng.integers(0, h - 8))
        draw.rectangle([x, y, x + 8, y + 8], fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    return image


def _clip(frames: int, t_start: float) -> VideoClip:
    return VideoClip(frames=tuple(_image(32, 32, 50 + i) for i in range(frames)), fps=1.0, t_start=t_start)


DOCUMENTS = [
    Content(text="Paris is the capital of France."),
    Content(images=(_image(64, 96, 1),)),
    Content(text=LONG_TEXT),
    Content(video=_clip(3, 4.0)),
    Content(text="Table 3 lists the results.", images=(_image(96, 64, 2),)),
    Content(images=(_image(64, 64, 3), _image(128, 64, 4))),
    Content(),  # scored as "NULL", as the official code does
]
QUERIES = {
    "text": Content(text="a red car on a mountain road"),
    "image": Content(images=(_image(64, 64, 9),)),
}


@pytest.fixture(scope="module")
def reranker(tiny_models: Path) -> TransformersReranker:
    return TransformersReranker(RerankerSettings(model=str(tiny_models / "reranker"), device="cpu"))


@pytest.fixture()
def tuned(reranker: TransformersReranker) -> Iterator[Any]:
    """Change the reranker's settings (and ``max_length``, the model's token cap) for one test."""
    original, max_length = reranker.settings, reranker.max_length

    def tune(**update: Any) -> TransformersReranker:
        reranker.max_length = update.pop("max_length", max_length)
        reranker.settings = original.model_copy(update=update)
        return reranker

    yield tune
    reranker.settings, reranker.max_length = original, max_length


@pytest.fixture(scope="module")
def full_lm(tiny_models: Path) -> tuple[Any, Any]:
    """The whole Qwen3VLForConditionalGeneration (LM head included) and a separately loaded processor."""
    folder = tiny_models / "reranker"
    lm = Qwen3VLForConditionalGeneration.from_pretrained(folder, dtype=torch.float32).eval()
    return lm, AutoProcessor.from_pretrained(folder)


def _pairwise(reranker: TransformersReranker, query: Content, documents: list[Content]) -> list[float]:
    return [reranker.score(query, [document])[0] for document in documents]


@pytest.mark.parametrize("kind", sorted(QUERIES))
def test_batched_scores_equal_one_pair_at_a_time(reranker: TransformersReranker, kind: str) -> None:
    query = QUERIES[kind]
    batched = reranker.score(query, DOCUMENTS)
    pairwise = _pairwise(reranker, query, DOCUMENTS)
    query_media = reranker.media(query, "q", QueryError)
    drafts = [reranker.draft(i, query, query_media, d, DEFAULT) for i, d in enumerate(DOCUMENTS)]
    lengths = {row.length for row in reranker.encode(drafts).rows}
    assert len(lengths) >= 5 and max(lengths) > 3 * min(lengths)  # rows padded by different amounts
    assert np.abs(np.array(batched) - np.array(pairwise)).max() <= 1e-5
    assert all(0.0 < s < 1.0 for s in batched)
    assert len(set(np.round(batched, 7))) > 1  # the documents really get different scores


def test_several_batches_keep_the_document_order(reranker: TransformersReranker, tuned: Any) -> None:
    query = QUERIES["text"]
    one_batch = reranker.score(query, DOCUMENTS)
    split = tuned(max_batch_size=2).score(query, DOCUMENTS)
    assert np.abs(np.array(one_batch) - np.array(split)).max() <= 1e-5


def test_a_cancelled_call_stops_before_its_next_batch(tuned: Any) -> None:
    """``cancelled`` is asked before each batch: once it says so, no further batch runs."""
    reranker = tuned(max_batch_size=1)
    asked: list[int] = []
    ran: list[int] = []
    run = reranker._run

    def counting(batch: Any) -> Any:
        ran.append(len(batch))
        return run(batch)

    def cancelled() -> bool:
        asked.append(1)
        return len(asked) > 2  # two batches run, the third is refused

    reranker._run = counting
    try:
        with pytest.raises(SearchAbandoned, match="after 2 of"):
            reranker.score(QUERIES["text"], DOCUMENTS, cancelled=cancelled)
    finally:
        del reranker._run
    assert len(ran) == 2 and len(asked) == 3
    assert len(reranker.score(QUERIES["text"], DOCUMENTS, cancelled=lambda: False)) == len(DOCUMENTS)


def _full_lm_score(full_lm: tuple[Any, Any], prompt: str, images: list[Image.Image]) -> float:
    """sigmoid(logit_yes − logit_no) at the last position, from the full LM head, built independently:
    hand-written prompt, qwen-vl-utils resizing, the processor, the whole model (it computes its own
    rope positions)."""
    lm, processor = full_lm
    resized = [
        fetch_image(
            {"image": im, "min_pixels": 4 * 32 * 32, "max_pixels": 1800 * 32 * 32}, image_patch_size=16
        )
        for im in images
    ]
    inputs = processor(text=[prompt], images=resized or None, do_resize=False, return_tensors="pt")
    with torch.no_grad():
        logits = lm(**inputs).logits[0, -1].double()
    vocab = processor.tokenizer.get_vocab()
    return float(torch.sigmoid(logits[vocab["yes"]] - logits[vocab["no"]]))


def test_score_is_the_yes_minus_no_logit_of_the_full_model(
    reranker: TransformersReranker, full_lm: tuple[Any, Any]
) -> None:
    query = "a red car"
    page = _image(64, 96, 1)
    cases = [
        (Content(images=(page,)), PROMPT.format(instruction=DEFAULT, query=query, document=IMAGE), [page]),
        (
            Content(text="Paris is the capital of France."),
            PROMPT.format(instruction=DEFAULT, query=query, document="Paris is the capital of France."),
            [],
        ),
    ]
    # Scored together with longer documents, so each case sits in a left-padded row.
    documents = [case[0] for case in cases] + [Content(text=LONG_TEXT), Content(images=(_image(128, 96, 7),))]
    scores = reranker.score(Content(text=query), documents)
    for (_, prompt, images), score in zip(cases, scores):
        expected = _full_lm_score(full_lm, prompt, images)
        assert abs(score - expected) <= 1e-5, (score, expected)


def test_instruction_reaches_the_model(reranker: TransformersReranker, tuned: Any) -> None:
    query, documents = QUERIES["text"], DOCUMENTS[:2]
    default = reranker.score(query, documents)
    assert reranker.score(query, documents, DEFAULT) == pytest.approx(default, abs=1e-6)
    custom = reranker.score(query, documents, "Find pages about cars")
    assert np.abs(np.array(custom) - np.array(default)).max() > 1e-4
    configured = tuned(instruction="Find pages about cars").score(query, documents)
    assert configured == pytest.approx(custom, abs=1e-6)


def test_overlong_pair_is_truncated_keeping_vision_tokens_and_the_suffix(
    reranker: TransformersReranker, tuned: Any
) -> None:
    assert reranker.max_length == 10240  # the official cap (DESIGN.md), not a setting
    tokenizer = reranker.processor.tokenizer
    query = Content(images=(_image(64, 64, 9),))
    document = Content(text=LONG_TEXT * 3, images=(_image(64, 96, 1),))
    short = tuned(max_length=256)
    query_media = short.media(query, "q", QueryError)
    draft = short.draft(0, query, query_media, document, DEFAULT)
    assert draft.tokens == 256 + 9  # the length estimate is capped too
    [whole] = tuned(max_length=100_000).encode([draft]).rows
    encoded = tuned(max_length=256).encode([draft])
    [cut] = encoded.rows

    suffix = list(tokenizer.encode("<|im_end|>\n<|im_start|>assistant\n", add_special_tokens=False))
    special = set(tokenizer.all_special_ids)
    ids, full_ids = cut.input_ids.tolist(), whole.input_ids.tolist()
    assert cut.truncated and not whole.truncated
    assert ids[-len(suffix) :] == suffix
    head = ids[: -len(suffix)]
    assert sum(1 for t in head if t not in special) + sum(1 for t in head if t in special) == len(head)
    assert len(head) == 256  # max_length tokens before the suffix, as the official code
    assert [t for t in full_ids if t in special] == [t for t in ids if t in special]  # all vision kept
    image_pad = tokenizer.convert_tokens_to_ids("<|image_pad|>")
    grid_tokens = int(encoded.vision["image_grid_thw"].prod(dim=-1).sum()) // 4
    assert ids.count(image_pad) == grid_tokens
    ordinary = [t for t in full_ids[: -len(suffix)] if t not in special]
    assert [t for t in head if t not in special] == ordinary[: len(head) - sum(t in special for t in head)]
    assert torch.equal(cut.mm_token_type_ids != 0, cut.input_ids == image_pad)

    batched = short.score(query, [document, DOCUMENTS[0]])
    assert batched == pytest.approx(_pairwise(short, query, [document, DOCUMENTS[0]]), abs=1e-5)
    assert 0.0 < batched[0] < 1.0


def test_out_of_memory_batches_are_split_and_retried(
    reranker: TransformersReranker, monkeypatch: pytest.MonkeyPatch
) -> None:
    query = QUERIES["text"]
    expected = reranker.score(query, DOCUMENTS[:4])
    real_forward = reranker._forward
    sizes: list[int] = []

    def forward(batch: list[Any]) -> np.ndarray:
        sizes.append(len(batch))
        if len(batch) > 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return real_forward(batch)

    monkeypatch.setattr(reranker, "_forward", forward)
    assert reranker.score(query, DOCUMENTS[:4]) == pytest.approx(expected, abs=1e-5)
    assert sizes == [4, 2, 1, 1, 2, 1, 1]


def test_a_pair_too_big_for_the_gpu_alone_is_a_clear_error(
    reranker: TransformersReranker, monkeypatch: pytest.MonkeyPatch
) -> None:
    def forward(batch: list[Any]) -> np.ndarray:
        raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")

    monkeypatch.setattr(reranker, "_forward", forward)
    with pytest.raises(RerankerError, match=r"document 0 .* does not fit in GPU memory.*ingest\.max_pixels"):
        reranker.score(QUERIES["text"], DOCUMENTS[:1])


def test_no_documents_give_no_scores(reranker: TransformersReranker) -> None:
    assert reranker.score(QUERIES["text"], []) == []


@pytest.mark.parametrize("query", [Content(), Content(text="  \n")], ids=["nothing", "blank text"])
def test_empty_query_is_refused(reranker: TransformersReranker, query: Content) -> None:
    with pytest.raises(QueryError, match="empty rerank query"):
        reranker.score(query, DOCUMENTS[:1])


def test_document_whose_media_fail_is_named(reranker: TransformersReranker) -> None:
    sliver = Content(images=(Image.new("RGB", (1, 300)),))  # aspect ratio 300 > qwen-vl-utils' 200
    with pytest.raises(
        RerankerError, match=r"document 1 \(1 image \(1×300\)\): its media cannot be processed"
    ):
        reranker.score(QUERIES["text"], [DOCUMENTS[0], sliver])


def test_query_whose_media_fail_is_a_query_error(reranker: TransformersReranker) -> None:
    with pytest.raises(QueryError, match="rerank query: its media cannot be processed"):
        reranker.score(Content(images=(Image.new("RGB", (300, 1)),)), DOCUMENTS[:1])


def test_direction_is_yes_row_minus_no_row(reranker: TransformersReranker, full_lm: tuple[Any, Any]) -> None:
    lm, processor = full_lm
    vocab = processor.tokenizer.get_vocab()
    weight = lm.lm_head.weight
    assert torch.allclose(reranker.direction, weight[vocab["yes"]] - weight[vocab["no"]], atol=1e-7)
    assert reranker.direction.shape == (lm.config.text_config.hidden_size,)


def test_tokenizer_without_yes_no_is_refused(full_lm: tuple[Any, Any]) -> None:
    class NoLabels:
        def get_vocab(self) -> dict[str, int]:
            return {"maybe": 1}

    with pytest.raises(RerankerError, match=r"no single token for \['yes', 'no'\]"):
        label_direction(full_lm[0], NoLabels())


def test_missing_model_is_model_not_found(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound, match="reranker.model"):
        TransformersReranker(RerankerSettings(model=str(tmp_path / "nowhere"), device="cpu"))
    with pytest.raises(ModelNotFound, match="no config.json"):
        TransformersReranker(RerankerSettings(model=str(tmp_path), device="cpu"))


def test_registry_builds_the_transformers_backend(tiny_models: Path) -> None:
    built = make_reranker(RerankerSettings(model=str(tiny_models / "reranker"), device="cpu"))
    assert isinstance(built, TransformersReranker) and isinstance(built, Reranker)
    assert built.model_id == str(tiny_models / "reranker")


def test_registry_none_means_no_reranker() -> None:
    assert make_reranker(RerankerSettings(backend="none")) is None


def test_registry_unknown_backend_lists_the_valid_ones() -> None:
    with pytest.raises(
        ConfigError, match="unknown backend 'colbert'; valid: none, sglang, transformers, vllm"
    ):
        make_reranker(RerankerSettings(backend="colbert"))
    assert backend_names() == ["none", "sglang", "transformers", "vllm"]


def test_check_scores_accepts_good_scores_and_names_bad_ones() -> None:
    assert check_scores([0.0, 0.5, 1.0], 3, "vllm at http://x") == [0.0, 0.5, 1.0]
    with pytest.raises(RerankerError, match="vllm at http://x returned 2 scores for 3 documents"):
        check_scores([0.1, 0.2], 3, "vllm at http://x")
    with pytest.raises(RerankerError, match=r"score 1\.5 for document 1"):
        check_scores([0.1, 1.5], 2, "sglang")
    with pytest.raises(RerankerError, match="score nan for document 0"):
        check_scores([float("nan")], 1, "sglang")
