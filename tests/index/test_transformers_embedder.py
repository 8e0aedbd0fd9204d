"""The in-process embedder on the tiny Qwen3-VL model: pooling, batching, MRL, errors, model resolution."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from mmsearch.errors import ConfigError, EmbedderError, ModelNotFound
from mmsearch.index.embedder import Embedder, check_dim, l2_normalize, make_embedder, mrl, pack_batches
from mmsearch.index.inputs import Content, VideoClip
from mmsearch.index.settings import EmbeddingSettings
from mmsearch.index.transformers_embedder import TransformersEmbedder, last_token_positions
from mmsearch.models import choose_attention, choose_device, choose_dtype, resolve_model

INSTRUCTION = "Find a document image that matches the given query."


def _image(w: int, h: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))


def _clip(n: int, seed: int, fps: float = 1.0, t_start: float = 0.0) -> VideoClip:
    return VideoClip(frames=tuple(_image(72, 48, seed + i) for i in range(n)), fps=fps, t_start=t_start)


ITEMS = {
    "text": Content(text="quarterly revenue grew by twelve percent"),
    "short text": Content(text="yes"),
    "image": Content(images=(_image(96, 64, 1),)),
    "image+text": Content(text="a scanned page", images=(_image(64, 128, 2),)),
    "two images": Content(images=(_image(64, 64, 3), _image(160, 96, 4))),
    "video": Content(video=_clip(3, seed=10, fps=0.5, t_start=30.0)),
    "empty": Content(),
}


@pytest.fixture(scope="module")
def settings(tiny_models: Path) -> EmbeddingSettings:
    return EmbeddingSettings(model=str(tiny_models / "embedding"), device="cpu")


@pytest.fixture(scope="module")
def embedder(settings: EmbeddingSettings) -> TransformersEmbedder:
    return TransformersEmbedder(settings)


def _single(embedder: TransformersEmbedder, items: list[Content]) -> np.ndarray:
    return np.concatenate([embedder.embed([item], INSTRUCTION) for item in items])


def test_is_an_embedder_with_unit_float32_rows(embedder: TransformersEmbedder) -> None:
    assert isinstance(embedder, Embedder)
    vectors = embedder.embed(list(ITEMS.values()), INSTRUCTION)
    assert vectors.dtype == np.float32 and vectors.shape == (len(ITEMS), embedder.dim) == (len(ITEMS), 128)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    assert embedder.embed([], INSTRUCTION).shape == (0, 128)


def test_pooled_token_is_the_last_real_token_under_right_padding(embedder: TransformersEmbedder) -> None:
    contents = [
        Content(text="a"),
        Content(text="a much longer query about tables and figures"),
        ITEMS["image"],
    ]
    prepared = [embedder.prepare(i, c, INSTRUCTION) for i, c in enumerate(contents)]
    inputs = embedder.batch_inputs(prepared)
    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    positions = last_token_positions(mask)
    lengths = mask.sum(dim=1)
    assert len(set(lengths.tolist())) == 3, "the batch must mix lengths for this test to mean anything"
    tokenizer = embedder.processor.tokenizer
    for row, pos in enumerate(positions.tolist()):
        assert pos == lengths[row] - 1
        assert mask[row, : pos + 1].all() and not mask[row, pos + 1 :].any()  # right padding
        assert tokenizer.decode(ids[row, pos]) == "\n"
        assert tokenizer.decode(ids[row, : pos + 1]).endswith("<|im_end|>\n<|im_start|>assistant\n")
        assert (ids[row, pos + 1 :] == tokenizer.pad_token_id).all()
    # The batched vectors equal the final hidden state of each prompt's last token run alone (no padding).
    batched = embedder.embed(contents, INSTRUCTION)
    for row, item in enumerate(prepared):
        alone = embedder.batch_inputs([item])
        with torch.inference_mode():
            hidden = embedder.model(**alone, use_cache=False).last_hidden_state
        expected = F.normalize(hidden[0, -1].float(), dim=-1).numpy()
        np.testing.assert_allclose(batched[row], expected, atol=1e-5)


@pytest.mark.parametrize("kind", ["text", "image", "image+text", "video"])
def test_batch_equals_one_by_one(embedder: TransformersEmbedder, kind: str) -> None:
    # The item of this kind, batched with differently shaped neighbours (so it gets padded).
    items = [ITEMS[kind], ITEMS["short text"], ITEMS["two images"], ITEMS["video"], ITEMS["empty"]]
    np.testing.assert_allclose(embedder.embed(items, INSTRUCTION), _single(embedder, items), atol=1e-5)


def test_token_budget_splits_batches_without_changing_vectors(settings: EmbeddingSettings) -> None:
    small = TransformersEmbedder(settings.model_copy(update={"batch_tokens": 1024, "max_batch_size": 2}))
    items = list(ITEMS.values())
    costs = [small.prepare(i, c, INSTRUCTION).tokens for i, c in enumerate(items)]
    batches = pack_batches(costs, 1024, 2)
    assert len(batches) > 1 and all(len(b) <= 2 for b in batches)
    full = TransformersEmbedder(settings)
    np.testing.assert_allclose(small.embed(items, INSTRUCTION), full.embed(items, INSTRUCTION), atol=1e-5)


def test_instruction_changes_the_vector(embedder: TransformersEmbedder) -> None:
    item = [ITEMS["text"]]
    query = embedder.embed(item, INSTRUCTION)
    document = embedder.embed(item, "Represent the user's input.")
    assert not np.allclose(query, document, atol=1e-4)
    # "." is appended when missing, so these two are the same instruction.
    np.testing.assert_allclose(embedder.embed(item, INSTRUCTION.rstrip(".")), query, atol=1e-6)


def test_video_prompt_times_the_clip_as_a_file_of_its_own(embedder: TransformersEmbedder) -> None:
    prepared = embedder.prepare(0, ITEMS["video"], INSTRUCTION)  # 3 frames at 0.5 fps from 30 s
    ids = embedder.batch_inputs([prepared])["input_ids"][0]
    text = embedder.processor.tokenizer.decode(ids)
    # frames at 0, 2, 4 s of the clip: pairs (0 s, 2 s) and (4 s, 4 s padded) → their mean times, as the
    # official code writes them for the segment as a file
    assert "<1.0 seconds>" in text and "<4.0 seconds>" in text
    assert "<31.0 seconds>" not in text


def test_long_text_is_truncated_at_max_length(settings: EmbeddingSettings) -> None:
    short = TransformersEmbedder(settings)
    assert short.max_length == 8192  # the official cap (DESIGN.md), not a setting
    short.max_length = 256
    item = Content(text="many words about documents " * 200)
    inputs = short.batch_inputs([short.prepare(0, item, INSTRUCTION)])
    assert inputs["attention_mask"].shape[1] == 256
    vector = short.embed([item], INSTRUCTION)
    assert vector.shape == (1, 128) and np.isfinite(vector).all()


# --- MRL --------------------------------------------------------------------------------------------


def test_mrl_truncates_then_renormalises() -> None:
    rng = np.random.default_rng(0)
    full = l2_normalize(rng.normal(size=(5, 2048)))
    cut = mrl(full, 256)
    assert cut.shape == (5, 256) and cut.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(cut, axis=1), 1.0, atol=1e-6)
    expected = full[:, :256] / np.linalg.norm(full[:, :256], axis=1, keepdims=True)
    np.testing.assert_allclose(cut, expected, atol=1e-6)
    np.testing.assert_allclose(mrl(full, None), full, atol=1e-6)
    np.testing.assert_allclose(mrl(full, 2048), full, atol=1e-6)


@pytest.mark.parametrize("dim", [63, 2049, 0, -5])
def test_mrl_bounds_name_the_setting(dim: int) -> None:
    with pytest.raises(ConfigError, match=r"embedding\.dim = .* choose 64 ≤ dim ≤ 2048"):
        mrl(np.ones((1, 2048), dtype=np.float32), dim)
    with pytest.raises(ConfigError, match="embedding.dim"):
        check_dim(dim, 2048)


def test_mrl_rejects_a_vector_instead_of_a_matrix() -> None:
    with pytest.raises(ValueError, match=r"\[n, d\] matrix"):
        mrl(np.ones(128, dtype=np.float32), 64)


def test_embedder_with_mrl_dim(settings: EmbeddingSettings, embedder: TransformersEmbedder) -> None:
    small = TransformersEmbedder(settings.model_copy(update={"dim": 64}))
    assert small.dim == 64 and small.full_dim == 128
    items = [ITEMS["text"], ITEMS["image"]]
    np.testing.assert_allclose(
        small.embed(items, INSTRUCTION), mrl(embedder.embed(items, INSTRUCTION), 64), atol=1e-6
    )


def test_embedder_refuses_dim_above_the_model(settings: EmbeddingSettings) -> None:
    with pytest.raises(ConfigError, match=r"embedding\.dim = 256 .* 64 ≤ dim ≤ 128"):
        TransformersEmbedder(settings.model_copy(update={"dim": 256}))


# --- batching helper --------------------------------------------------------------------------------


def test_pack_batches_respects_budget_and_size_and_keeps_every_item() -> None:
    costs = [900, 10, 500, 480, 20, 30, 3000, 5]
    batches = pack_batches(costs, budget=1000, max_size=3)
    assert sorted(i for b in batches for i in b) == list(range(len(costs)))
    for batch in batches:
        assert len(batch) <= 3
        assert len(batch) == 1 or max(costs[i] for i in batch) * len(batch) <= 1000
    assert [6] in batches  # over budget alone: its own batch, never dropped


# --- errors -----------------------------------------------------------------------------------------


def test_unprocessable_media_raises_naming_the_item(embedder: TransformersEmbedder) -> None:
    sliver = Image.new("RGB", (1, 300))  # aspect ratio 300 > 200: qwen-vl-utils refuses it
    with pytest.raises(EmbedderError, match=r"item 1 \(1 image \(1×300\)\): its media cannot be processed"):
        embedder.embed([ITEMS["text"], Content(images=(sliver,))], INSTRUCTION)


def test_oom_batch_is_split_and_retried_never_dropped(
    embedder: TransformersEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = [ITEMS["text"], ITEMS["image"], ITEMS["image+text"], ITEMS["short text"], ITEMS["video"]]
    expected = embedder.embed(items, INSTRUCTION)
    real_forward = embedder._forward
    sizes: list[int] = []

    def fake_forward(batch: list[Any]) -> np.ndarray:
        sizes.append(len(batch))
        if len(batch) > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return real_forward(batch)

    monkeypatch.setattr(embedder, "_forward", fake_forward)
    np.testing.assert_allclose(embedder.embed(items, INSTRUCTION), expected, atol=1e-5)
    assert sizes == [5, 2, 3, 1, 2]  # 5 → 2 + 3, then 3 → 1 + 2; every item embedded exactly once


def test_oom_on_a_single_item_is_a_clear_error(
    embedder: TransformersEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    def always_oom(batch: list[Any]) -> np.ndarray:
        raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")

    monkeypatch.setattr(embedder, "_forward", always_oom)
    with pytest.raises(EmbedderError, match=r"item 0 \(text of .*\) does not fit in GPU memory"):
        embedder.embed([ITEMS["text"]], INSTRUCTION)


def test_unknown_backend_lists_the_valid_ones(settings: EmbeddingSettings) -> None:
    with pytest.raises(ConfigError, match=r"unknown backend 'onnx'; valid: sglang, transformers, vllm"):
        make_embedder(settings.model_copy(update={"backend": "onnx"}))


def test_registry_builds_the_transformers_backend(settings: EmbeddingSettings) -> None:
    assert isinstance(make_embedder(settings), TransformersEmbedder)


# --- model resolution (no network: conftest sets HF_HUB_OFFLINE=1; sockets are blocked here too) ------


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a test tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_missing_model_dir_is_model_not_found(tmp_path: Path, no_network: None) -> None:
    missing = tmp_path / "models" / "Qwen3-VL-Embedding-2B"
    with pytest.raises(
        ModelNotFound, match=r"embedding\.model: no checkpoint folder at .*Qwen3-VL-Embedding-2B"
    ):
        TransformersEmbedder(EmbeddingSettings(model=str(missing), device="cpu"))


def test_folder_without_config_is_model_not_found(tmp_path: Path, no_network: None) -> None:
    with pytest.raises(ModelNotFound, match=r"has no config\.json: not a Qwen3-VL checkpoint folder"):
        resolve_model(str(tmp_path), "embedding.model")


def test_uncached_hub_id_offline_says_where_it_looked_and_how_to_fix(
    tmp_path: Path, no_network: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFound) as info:
        resolve_model("Qwen/Qwen3-VL-Embedding-2B-not-cached", "embedding.model")
    message = str(info.value)
    assert "embedding.model = 'Qwen/Qwen3-VL-Embedding-2B-not-cached'" in message
    assert "Hugging Face cache" in message and "HF_HUB_OFFLINE" in message
    assert f"`{installed_hub_cli()} download Qwen/" in message and "MMSEARCH_EMBEDDING__MODEL" in message
    assert "bash scripts/demo.sh --tiny" in message


def installed_hub_cli() -> str:
    """``hf`` from huggingface_hub 0.34 on (1.0 removed ``huggingface-cli``), by the installed version."""
    import huggingface_hub
    from packaging.version import Version

    return "hf" if Version(huggingface_hub.__version__) >= Version("0.34") else "huggingface-cli"


def test_empty_model_name_is_model_not_found() -> None:
    with pytest.raises(ModelNotFound, match="embedding.model is empty"):
        resolve_model("  ")


# --- placement --------------------------------------------------------------------------------------


def test_cpu_placement_is_float32_sdpa() -> None:
    device = choose_device("cpu")
    assert choose_dtype("auto", device) == torch.float32
    assert choose_attention("auto", device, torch.float32) == "sdpa"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: choose_device("tpu"), r"embedding\.device: 'tpu'"),
        (lambda: choose_device("mps"), r"embedding\.device: 'mps' is not supported"),
        (lambda: choose_dtype("int8", torch.device("cpu")), r"embedding\.dtype: 'int8'"),
        (
            lambda: choose_attention("xformers", torch.device("cpu"), torch.float32),
            "embedding.attn_implementation",
        ),
        (
            lambda: choose_attention("flash_attention_2", torch.device("cpu"), torch.float32),
            "flash_attention_2 needs a CUDA device",
        ),
    ],
)
def test_bad_placement_settings_are_config_errors(call: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        call()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_cuda_without_a_gpu_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"no CUDA device is visible; set embedding\.device: cpu"):
        choose_device("cuda")


@pytest.mark.parametrize(
    "content",
    [
        Content(images=(_image(20, 20, 5),)),  # upscaled to the 4·32² minimum
        Content(images=(_image(333, 517, 6),)),
        Content(images=(_image(1240, 1754, 7),)),  # an A4 page at 150 dpi: cut to 1800·32²
        Content(video=_clip(3, seed=20)),  # odd frame count: padded to 4
        Content(video=VideoClip(frames=tuple(_image(640, 360, 30) for _ in range(70)), fps=2.0)),  # → 64
    ],
    ids=["tiny image", "odd image", "A4 page", "3 frames", "70 frames"],
)
def test_planned_vision_tokens_match_the_processor(embedder: TransformersEmbedder, content: Content) -> None:
    from mmsearch.index import qwen_prompt

    inputs = embedder.batch_inputs([embedder.prepare(0, content, INSTRUCTION)])
    ids = inputs["input_ids"][0]
    config = embedder.model.config
    if content.video is not None:
        assert int((ids == config.video_token_id).sum()) == qwen_prompt.video_tokens(content.video)
    else:
        assert int((ids == config.image_token_id).sum()) == qwen_prompt.image_tokens(content.images[0])


def test_media_larger_than_max_length_is_a_clear_error(settings: EmbeddingSettings) -> None:
    short = TransformersEmbedder(settings)
    short.max_length = 256
    page = Content(images=(_image(1240, 1754, 8),))  # ~1750 image tokens
    with pytest.raises(
        EmbedderError, match=r"item 0 \(1 image \(1240×1754\)\): the processor refused.*max_length"
    ):
        short.embed([page], INSTRUCTION)


def test_model_failure_is_translated_naming_the_batch(
    embedder: TransformersEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(**kwargs: Any) -> Any:
        raise RuntimeError("CUBLAS_STATUS_EXECUTION_FAILED (simulated)")

    monkeypatch.setattr(embedder, "model", broken)
    with pytest.raises(
        EmbedderError, match=r"item 0 \(text of 40 chars\); item 1 \(empty\): the embedding model failed"
    ):
        embedder.embed([ITEMS["text"], ITEMS["empty"]], INSTRUCTION)
