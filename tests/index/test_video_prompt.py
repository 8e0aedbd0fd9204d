"""The canary that keeps video prompts in the model card's form (mmsearch/index/video_prompt.py).

The installed transformers (5.25 here) already gives the card's form. The other behaviours are played by
wrapping its processor: one that adds an outer vision pair around a templated video (as transformers
5.10–5.24 do) and one that does something else (here: wrong timestamps), which must be refused.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mmsearch.index import video_prompt as vp
from mmsearch.index.settings import EmbeddingSettings
from mmsearch.index.transformers_embedder import TransformersEmbedder
from mmsearch.models import load_processor

IMAGE = "<|vision_start|><|image_pad|><|vision_end|>"


class Mangled:
    """A processor whose text is changed by ``mangle`` (and metadata by ``meta``) before the real one
    sees it; everything else is the real processor's."""

    def __init__(
        self,
        real: Any,
        mangle: Callable[[str], str] = lambda t: t,
        meta: Callable[[dict[str, Any]], dict[str, Any]] = lambda m: m,
    ) -> None:
        self.real, self.mangle, self.meta = real, mangle, meta

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def __call__(self, text: list[str], **kwargs: Any) -> Any:
        if "video_metadata" in kwargs:
            kwargs["video_metadata"] = [self.meta(dict(m)) for m in kwargs["video_metadata"]]
        return self.real(text=[self.mangle(t) for t in text], **kwargs)


def double_wrap(text: str) -> str:
    """transformers 5.10–5.24: the template's outer pair stays around the per-frame sequence."""
    return text.replace(vp.WRAPPED_VIDEO, vp.VISION_START + vp.WRAPPED_VIDEO + vp.VISION_END)


@pytest.fixture(scope="module")
def processor(tiny_models: Path) -> Any:
    return load_processor(tiny_models / "embedding", padding_side="right")


def test_the_installed_processor_needs_no_correction(processor: Any) -> None:
    assert vp.video_form(processor) == vp.VideoForm(collapse=False)


def test_a_processor_that_double_wraps_gets_bare_video_placeholders(processor: Any) -> None:
    form = vp.video_form(Mangled(processor, double_wrap))
    assert form.collapse
    prompt = f"<|im_start|>user\n{vp.WRAPPED_VIDEO}{IMAGE}a clip<|im_end|>\n"
    assert form.text(prompt) == "<|im_start|>user\n<|video_pad|>" + IMAGE + "a clip<|im_end|>\n"


def test_image_and_text_prompts_are_never_changed(processor: Any) -> None:
    prompt = f"<|im_start|>user\n{IMAGE}{IMAGE}two pages<|im_end|>\n<|im_start|>assistant\n"
    assert vp.VideoForm(collapse=True).text(prompt) == prompt
    assert vp.VideoForm(collapse=False).text(prompt) == prompt


def test_a_processor_that_expands_video_otherwise_is_refused_naming_the_fix(processor: Any) -> None:
    wrong_times = Mangled(processor, meta=lambda m: {**m, "fps": 2.0})
    with pytest.raises(
        vp.VideoPromptError, match=r"not the model card's form .*install the tested transformers"
    ):
        vp.video_form(wrong_times)


def test_a_processor_that_fails_on_the_canary_is_refused(processor: Any) -> None:
    one_video_too_many = Mangled(processor, mangle=lambda t: t + vp.VIDEO_PAD)
    with pytest.raises(vp.VideoPromptError, match="could not expand a Qwen3-VL canary video"):
        vp.video_form(one_video_too_many)


def test_the_embedder_refuses_to_start_with_a_processor_it_cannot_correct(
    processor: Any, tiny_models: Path
) -> None:
    from transformers import Qwen3VLModel

    model = Qwen3VLModel.from_pretrained(tiny_models / "embedding")
    settings = EmbeddingSettings(model=str(tiny_models / "embedding"), device="cpu")
    wrong_times = Mangled(processor, meta=lambda m: {**m, "fps": 2.0})
    with pytest.raises(vp.VideoPromptError):
        TransformersEmbedder.from_parts(settings, wrong_times, model)
    assert TransformersEmbedder.from_parts(
        settings, Mangled(processor, double_wrap), model
    ).video_form.collapse
