"""The fakes themselves behave like the pinned servers (tests/protocol_servers.py): what vLLM 0.33.0 refuses
they refuse, and SGLang 0.5.23's frame sampling, resizing and top-50 scoring are reproduced."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from protocol_servers import (
    IMAGE_PLACEHOLDER,
    VIDEO_PAD,
    VIDEO_PLACEHOLDER,
    FakeServer,
    ImagePart,
    ImageURL,
    Launch,
    Media,
    ScoreMultiModal,
    TextPart,
    sglang_nframes,
    sglang_preprocess_video,
    sglang_smart_resize,
    sglang_top_logprob_score,
    tiny_model,
    vllm_processor_kwargs,
    vllm_score_side,
)

from mmsearch.errors import EmbedderError, RerankerError
from mmsearch.index.http_client import JsonClient
from mmsearch.index.inputs import Content
from mmsearch.index.media_encoding import image_data_url
from mmsearch.index.settings import EmbeddingSettings
from mmsearch.index.vllm_embedder import VLLMEmbedder
from mmsearch.search.settings import RerankerSettings
from mmsearch.search.vllm_reranker import VLLMReranker

UNTRUSTED = Launch(trust_request_mm_kwargs=False)


# --- vLLM 0.33.0: request-level multimodal kwargs need --trust-request-mm-kwargs -------------------------


def test_vllm_without_the_trust_flag_refuses_our_embedding_requests(tiny_models: Path) -> None:
    with FakeServer("vllm", tiny_models / "embedding", reranker=False, launch=UNTRUSTED) as server:
        settings = EmbeddingSettings(model=str(tiny_models / "embedding"), backend="vllm", url=server.url)
        with pytest.raises(EmbedderError, match="HTTP 400.*--trust-request-mm-kwargs"):
            VLLMEmbedder(settings).embed([Content(text="x")], "q")
        assert len(server.bodies) == 1  # a 400 is not retried


def test_vllm_without_the_trust_flag_refuses_our_rerank_requests(tiny_models: Path) -> None:
    with FakeServer("vllm", tiny_models / "reranker", reranker=True, launch=UNTRUSTED) as server:
        settings = RerankerSettings(model=str(tiny_models / "reranker"), backend="vllm", url=server.url)
        with pytest.raises(RerankerError, match="HTTP 400.*--trust-request-mm-kwargs"):
            VLLMReranker(settings).score(Content(text="q"), [Content(text="d")])


def test_vllm_without_the_trust_flag_takes_requests_without_mm_kwargs(tiny_models: Path) -> None:
    with FakeServer("vllm", tiny_models / "embedding", reranker=False, launch=UNTRUSTED) as server:
        client = JsonClient(
            server.url, server="vllm", setting="embedding.url", error=EmbedderError, retries=0
        )
        body = {"messages": [{"role": "user", "content": "hi"}], "add_generation_prompt": True}
        assert len(client.post("/v1/embeddings", body)["data"][0]["embedding"]) == 128
        for field, value in (
            ("media_io_kwargs", {"video": {"num_frames": -1}}),
            ("mm_processor_kwargs", {"a": 1}),
        ):
            with pytest.raises(EmbedderError, match=f"HTTP 400.*Per-request {field}"):
                client.post("/v1/embeddings", body | {field: value})
        assert client.post("/v1/embeddings", body | {"mm_processor_kwargs": {}})  # empty is allowed


def test_vllm_rerank_side_joins_placeholders_and_text_without_a_separator() -> None:
    """vllm 0.33.0 scoring/utils.py passes multimodal_content_part_separator="" (≤ 0.19 used "\n")."""
    image = ImagePart(type="image_url", image_url=ImageURL(url=image_data_url(Image.new("RGB", (64, 64)))))
    side = ScoreMultiModal(content=[TextPart(type="text", text="a"), image, TextPart(type="text", text="b")])
    assert vllm_score_side(side, Media()) == IMAGE_PLACEHOLDER + "a\nb"
    assert vllm_score_side(side, Media(), joiner="\n") == IMAGE_PLACEHOLDER + "\na\nb"


# --- SGLang 0.5.23 video: even frame counts, linspace picks, 28-multiple bilinear resize ---------------


@pytest.mark.parametrize(
    ("frames", "fps", "kept"),
    [
        (7, 1.0, [0, 1, 2, 3, 4, 6]),  # odd → rounded down, re-spread by linspace
        (8, 1.0, list(range(8))),  # even at ≤ 2 fps: every frame
        (3, 0.5, [0, 2]),
        (8, 4.0, [0, 2, 4, 7]),  # above 2 fps: re-sampled to 2 fps
        (2, 1.0, [0, 1]),
    ],
)
def test_sglang_picks_frames_like_smart_nframes(frames: int, fps: float, kept: list[int]) -> None:
    video = np.zeros((frames, 56, 56, 3), dtype=np.uint8)
    video[:, 0, 0, 0] = np.arange(frames)
    out, meta = sglang_preprocess_video(video, fps, {})
    assert meta["frames_indices"] == kept and out.shape[0] == len(kept)
    assert meta["fps"] == fps and meta["total_num_frames"] == frames


def test_sglang_refuses_a_single_frame_video() -> None:
    with pytest.raises(ValueError, match="nframes should in interval"):
        sglang_nframes({}, total_frames=1, video_fps=1.0)


@pytest.mark.parametrize(
    ("size", "config", "want"),
    [
        ((352, 640), {}, (364, 644)),  # the 32 grid is not the 28 grid: resampled
        ((448, 448), {}, (448, 448)),  # on both grids: kept
        ((64, 64), {}, (336, 336)),  # under 128·28² pixels: upscaled (default min_pixels)
        ((64, 64), {"min_pixels": 4096}, (84, 84)),  # --mm-process-config lowers the floor
        ((1120, 1120), {}, (756, 756)),  # over 768·28²: downscaled
    ],
)
def test_sglang_resizes_frames_to_28_multiples(
    size: tuple[int, int], config: dict[str, int], want: tuple[int, int]
) -> None:
    video = np.random.default_rng(0).integers(0, 255, (2, *size, 3), dtype=np.uint8)
    out, _ = sglang_preprocess_video(video, 1.0, config)
    assert tuple(out.shape[2:]) == want
    if want == size:
        assert torch.equal(out, torch.from_numpy(video).permute(0, 3, 1, 2))  # a true no-op


def test_sglang_smart_resize_refuses_extreme_aspect_ratios() -> None:
    with pytest.raises(ValueError, match="aspect ratio"):
        sglang_smart_resize(28, 28 * 201, 28, 100, 10**9)


# --- SGLang 0.5.23 reranker: p(yes), p(no) from the top-50 log-probabilities only ----------------------


def test_sglang_score_counts_a_label_outside_the_top_50_as_zero() -> None:
    logits = torch.zeros(640)
    logits[:60] = 5.0  # 60 tokens above both labels
    logits[100], logits[101] = 1.0, 0.5  # yes, no
    assert sglang_top_logprob_score(logits, 100, 101) == 0.0
    logits[100], logits[101] = 7.0, 6.0
    assert sglang_top_logprob_score(logits, 100, 101) == pytest.approx(1 / (1 + np.exp(-1.0)), abs=1e-6)
    logits[101] = 1.0  # no falls out: p_yes / (p_yes + 0)
    assert sglang_top_logprob_score(logits, 100, 101) == 1.0


# --- transformers 5.19 (both pinned servers): only the bare <|video_pad|> is expanded ---------------------


@pytest.mark.parametrize(
    ("placeholder", "outer_pair"), [(VIDEO_PLACEHOLDER, True), (VIDEO_PAD, False)], ids=["wrapped", "bare"]
)
def test_fakes_expand_video_as_the_pinned_transformers_does(
    placeholder: str, outer_pair: bool, tiny_models: Path
) -> None:
    """A template's ``<|vision_start|><|video_pad|><|vision_end|>`` keeps its pair around all the frames (the
    5.10–5.24 form); a bare ``<|video_pad|>`` becomes the model card's per-frame form. Whatever transformers
    the tests run on."""
    model = tiny_model(str(tiny_models / "embedding"), False)
    frames = np.full((4, 64, 64, 3), 128, dtype=np.uint8)
    kwargs = vllm_processor_kwargs(f"A{placeholder}B", Media(videos=[(frames, 1.0)]), do_resize=False)
    text = model.processor.tokenizer.decode(model.processor(**kwargs)["input_ids"][0])
    frame = "<|vision_start|>" + "<|video_pad|>" * 4 + "<|vision_end|>"
    card = f"<0.5 seconds>{frame}<2.5 seconds>{frame}"
    assert text == (f"A<|vision_start|>{card}<|vision_end|>B" if outer_pair else f"A{card}B")
