"""The tiny test checkpoints load like the real ones and run a text+image forward pass."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
from PIL import Image
from transformers import AutoProcessor, Qwen3VLForConditionalGeneration, Qwen3VLModel

from tests.support import load_script

QWEN_SPECIAL = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)


def _messages(text: str) -> list[dict]:
    return [
        {"role": "system", "content": [{"type": "text", "text": "Represent the user's input."}]},
        {"role": "user", "content": [{"type": "image", "image": "x"}, {"type": "text", "text": text}]},
    ]


def _inputs(folder: Path) -> dict:
    processor = AutoProcessor.from_pretrained(folder)
    prompt = processor.apply_chat_template(
        [_messages("a red page")], add_generation_prompt=True, tokenize=False
    )
    image = Image.new("RGB", (64, 96), (200, 10, 10))
    return dict(processor(text=prompt, images=[image], do_resize=False, padding=True, return_tensors="pt"))


def test_embedding_loads_as_qwen3vl_model_and_runs(tiny_models: Path) -> None:
    model = Qwen3VLModel.from_pretrained(tiny_models / "embedding").eval()
    inputs = _inputs(tiny_models / "embedding")
    with torch.no_grad():
        hidden = model(**inputs).last_hidden_state
    assert hidden.shape == (1, inputs["input_ids"].shape[1], model.config.text_config.hidden_size)
    assert torch.isfinite(hidden).all()
    # (4, 6) patches of 16 px → 24 patches → 6 merged image tokens in the prompt.
    assert inputs["image_grid_thw"].tolist() == [[1, 6, 4]]
    assert int((inputs["input_ids"] == model.config.image_token_id).sum()) == 6


def test_reranker_loads_as_conditional_generation_and_runs(tiny_models: Path) -> None:
    model = Qwen3VLForConditionalGeneration.from_pretrained(tiny_models / "reranker").eval()
    inputs = _inputs(tiny_models / "reranker")
    with torch.no_grad():
        logits = model(**inputs).logits
    assert logits.shape[-1] == model.config.text_config.vocab_size
    head, embed = model.lm_head.weight, model.get_input_embeddings().weight
    assert not torch.equal(head, embed), "the reranker's LM head must be its own weights"


def test_embedding_checkpoint_is_stored_like_the_real_one(tiny_models: Path) -> None:
    model = Qwen3VLForConditionalGeneration.from_pretrained(tiny_models / "embedding")
    assert model.config.architectures == ["Qwen3VLForConditionalGeneration"]
    assert model.config.tie_word_embeddings
    head, embed = model.lm_head.weight, model.get_input_embeddings().weight
    assert isinstance(head, torch.Tensor) and isinstance(embed, torch.Tensor)
    assert head.data_ptr() == embed.data_ptr()  # tied: one tensor, stored once under model.*


@pytest.mark.parametrize("name", ["embedding", "reranker"])
def test_tokenizer_has_qwen_special_tokens_and_yes_no(tiny_models: Path, name: str) -> None:
    processor = AutoProcessor.from_pretrained(tiny_models / name)
    tok = processor.tokenizer
    for special in QWEN_SPECIAL:
        assert tok.tokenize(special) == [special], special
    assert tok.tokenize("yes") == ["yes"] and tok.tokenize("no") == ["no"]
    assert tok.pad_token == "<|endoftext|>" and tok.eos_token == "<|im_end|>"
    assert tok.padding_side == ("right" if name == "embedding" else "left")
    for video_or_image in ("<|image_pad|>", "<|video_pad|>", "<|vision_start|>"):
        assert tok.convert_tokens_to_ids(video_or_image) in tok.all_special_ids


def test_chat_template_renders_the_qwen3_vl_layout(tiny_models: Path) -> None:
    processor = AutoProcessor.from_pretrained(tiny_models / "embedding")
    rendered = processor.apply_chat_template([_messages("hi")], add_generation_prompt=True, tokenize=False)[0]
    assert rendered == (
        "<|im_start|>system\nRepresent the user's input.<|im_end|>\n"
        "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>hi<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


@pytest.mark.slow
def test_build_is_deterministic(tiny_models: Path, tmp_path: Path) -> None:
    load_script("make_tiny_models").build_tiny_models(tmp_path)
    for name in ("embedding/model.safetensors", "reranker/model.safetensors", "embedding/tokenizer.json"):
        fresh = hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()
        cached = hashlib.sha256((tiny_models / name).read_bytes()).hexdigest()
        assert fresh == cached, name
