"""The official Qwen3-VL-Reranker input format (DESIGN.md "Model facts"), rendered by the real template.

Expected strings are written out by hand from DESIGN.md and QwenLM/Qwen3-VL-Embedding
``src/models/qwen3_vl_reranker.py`` / ``examples/reranker_template.jinja``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from transformers import AutoProcessor

from mmsearch.index.inputs import Content, VideoClip
from mmsearch.search import rerank_prompt as rp

SYSTEM = (
    "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the "
    'Instruct provided. Note that the answer can only be "yes" or "no".<|im_end|>\n'
)
USER = "<|im_start|>user\n{}<|im_end|>\n"
ASSISTANT = "<|im_start|>assistant\n"
IMAGE = "<|vision_start|><|image_pad|><|vision_end|>"
VIDEO = "<|vision_start|><|video_pad|><|vision_end|>"
DEFAULT = "Given a search query, retrieve relevant candidates that answer the query."


@pytest.fixture(scope="module")
def processor(tiny_models: Path) -> Any:
    return AutoProcessor.from_pretrained(tiny_models / "reranker")


def _image(w: int = 64, h: int = 64) -> Image.Image:
    return Image.new("RGB", (w, h), (120, 30, 200))


def _clip(n: int = 4) -> VideoClip:
    return VideoClip(frames=tuple(_image() for _ in range(n)), fps=1.0, t_start=2.0)


def _render(processor: Any, query: Content, document: Content, instruction: str | None = None) -> str:
    return rp.render(processor, rp.pair_messages(query, document, instruction))


def test_text_query_against_image_document_verbatim(processor: Any) -> None:
    expected = (
        "<|im_start|>system\n"
        "Judge whether the Document meets the requirements based on the Query and the Instruct provided. "
        'Note that the answer can only be "yes" or "no".<|im_end|>\n'
        "<|im_start|>user\n"
        "<Instruct>: Given a search query, retrieve relevant candidates that answer the query.<Query>:"
        "a red car\n<Document>:<|vision_start|><|image_pad|><|vision_end|><|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert _render(processor, Content(text="a red car"), Content(images=(_image(),))) == expected


@pytest.mark.parametrize(
    ("query", "document", "instruction", "user"),
    [
        (
            Content(images=(_image(),)),
            Content(text="Revenue grew 12 percent."),
            None,
            f"<Instruct>: {DEFAULT}<Query>:{IMAGE}\n<Document>:Revenue grew 12 percent.",
        ),
        (
            Content(text="revenue table"),
            Content(text="Table 3"),
            "Find the page with the table",  # used as given: no "." appended (unlike the embedder)
            "<Instruct>: Find the page with the table<Query>:revenue table\n<Document>:Table 3",
        ),
        (
            Content(text="a dog on a beach"),
            Content(video=_clip()),
            None,
            f"<Instruct>: {DEFAULT}<Query>:a dog on a beach\n<Document>:{VIDEO}",
        ),
        (
            Content(text="q", images=(_image(),)),
            Content(text="page text", images=(_image(), _image()), video=_clip()),
            None,  # each side: videos, then images, then texts
            f"<Instruct>: {DEFAULT}<Query>:{IMAGE}q\n<Document>:{VIDEO}{IMAGE}{IMAGE}page text",
        ),
        (
            Content(text="q"),
            Content(),
            "   ",  # blank instruction → default
            f"<Instruct>: {DEFAULT}<Query>:q\n<Document>:NULL",
        ),
        (
            Content(text="q"),
            Content(text=" \n"),
            "",
            f"<Instruct>: {DEFAULT}<Query>:q\n<Document>:NULL",
        ),
    ],
    ids=["image query, text doc", "custom instruction", "video doc", "mixed order", "empty doc", "blank doc"],
)
def test_rendered_pairs(
    processor: Any, query: Content, document: Content, instruction: str | None, user: str
) -> None:
    assert _render(processor, query, document, instruction) == SYSTEM + USER.format(user) + ASSISTANT


def test_media_carry_the_official_reranker_limits() -> None:
    # MIN_PIXELS / MAX_PIXELS / MAX_TOTAL_PIXELS / MAX_FRAMES of src/models/qwen3_vl_reranker.py.
    doc = Content(images=(_image(),), video=VideoClip(frames=tuple(_image() for _ in range(70)), fps=2.0))
    video, image = (item for item in rp.side_items(doc, "x") if item["type"] != "text")
    assert (image["min_pixels"], image["max_pixels"]) == (4 * 32 * 32, 1800 * 32 * 32)
    assert video["total_pixels"] == 10 * 768 * 32 * 32
    assert len(video["video"]) == 64  # 70 frames linearly subsampled to 64


def test_media_messages_hold_only_media() -> None:
    [message] = rp.media_messages(Content(text="words", images=(_image(), _image())))
    assert [item["type"] for item in message["content"]] == ["image", "image"]
    assert rp.media_messages(Content(text="words")) == [{"role": "user", "content": []}]


def test_instruction_or_default() -> None:
    assert rp.instruction_or_default(None) == DEFAULT
    assert rp.instruction_or_default("\t") == DEFAULT
    assert rp.instruction_or_default(" Keep spaces ") == " Keep spaces "
    assert rp.instruction_or_default(None, "mine") == "mine"


# Truncation on token ids: S = special, n = ordinary; the last 5 are the assistant suffix.
SPECIAL = {100, 101}


def test_short_prompts_are_not_truncated() -> None:
    ids = list(range(10)) + [100] * 5
    assert rp.kept_positions(ids, max_length=10, special_ids=SPECIAL) == list(range(15))


def test_truncation_keeps_specials_and_the_suffix_and_cuts_later_ordinary_tokens() -> None:
    #       0  1    2    3  4  5    6  7  8 | suffix 9..13
    ids = [1, 100, 101, 2, 3, 100, 4, 5, 6, 7, 8, 100, 9, 10]
    kept = rp.kept_positions(ids, max_length=6, special_ids=SPECIAL)
    # head has 9 tokens (3 special): keep the 3 specials + the first 3 ordinary ones, then the suffix.
    assert kept == [0, 1, 2, 3, 4, 5, 9, 10, 11, 12, 13]
    assert len(kept) == 6 + rp.SUFFIX_TOKENS


def test_truncation_with_more_specials_than_the_budget_keeps_every_special() -> None:
    ids = [100, 1, 101, 2, 100, 3] + [7] * 5
    kept = rp.kept_positions(ids, max_length=2, special_ids=SPECIAL)
    assert kept == [0, 2, 4, 6, 7, 8, 9, 10]  # as the official code: no ordinary token survives
