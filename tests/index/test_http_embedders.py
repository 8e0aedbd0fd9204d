"""The served embedding backends (vLLM, SGLang) against loopback servers that speak their protocols and run
the tiny model (tests/protocol_servers.py): same vectors as the in-process embedder, and every failure mode
of the HTTP path. Also the shared HTTP client and the lossless media encoding they use."""

from __future__ import annotations

import base64
import io
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import pytest
from PIL import Image, ImageDraw
from protocol_servers import FakeServer, Launch, Reply, closed_port_url, decode_video
from pydantic import TypeAdapter

from mmsearch.errors import ConfigError, EmbedderError
from mmsearch.index import http_embed, qwen_prompt, sglang_embedder
from mmsearch.index.embedder import Embedder, make_embedder, mrl
from mmsearch.index.http_client import JsonClient, server_message
from mmsearch.index.http_embed import served_chat_template
from mmsearch.index.inputs import Content, VideoClip
from mmsearch.index.media_encoding import (
    VideoFrames,
    image_data_url,
    model_video,
    openai_parts,
    video_bytes,
    video_data_url,
)
from mmsearch.index.settings import EmbeddingSettings
from mmsearch.index.sglang_embedder import SGLangEmbedder
from mmsearch.index.transformers_embedder import TransformersEmbedder
from mmsearch.index.video_prompt import WRAPPED_VIDEO
from mmsearch.index.vllm_embedder import VLLMEmbedder

QUERY = "Find a document image that matches the given query."
TOLERANCE = 1e-5
BACKENDS: dict[str, type[VLLMEmbedder | SGLangEmbedder]] = {
    "vllm": VLLMEmbedder,
    "sglang": SGLangEmbedder,
}


def _page(w: int, h: int, seed: int) -> Image.Image:
    """A synthetic page: coloured blocks on white (compressible, like a screenshot)."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (w, h), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x, y = int(rng.integers(0, w - 20)), int(rng.integers(0, h - 10))
        draw.rectangle(
            [x, y, x + int(rng.integers(8, 60)), y + 6], fill=tuple(int(v) for v in rng.integers(0, 200, 3))
        )
    return image


def _clip(
    n: int, fps: float = 0.5, t_start: float = 0.0, seed: int = 20, size: tuple[int, int] = (72, 48)
) -> VideoClip:
    return VideoClip(frames=tuple(_page(*size, seed + i) for i in range(n)), fps=fps, t_start=t_start)


# SGLang re-samples and re-sizes video itself (sglang 0.5.23 qwen_vl.py preprocess_video): exact only for an
# even frame count whose model-size frames are on the 28 grid too (448×448 here); see the sglang video tests.
GRID_CLIP = _clip(4, fps=1.0, size=(448, 448))


# Images are large enough (≥ 256×256 px after the official resize) that SGLang's processor, which resizes
# with the checkpoint's bounds, leaves them alone; see test_small_images for the smaller case.
ITEMS = {
    "text": Content(text="quarterly revenue grew by twelve percent"),
    "image": Content(images=(_page(320, 256, 1),)),
    "image+text": Content(text="a scanned page", images=(_page(300, 250, 2),)),
    "two images+text": Content(text="two pages", images=(_page(288, 256, 3), _page(256, 320, 4))),
    "video": Content(video=_clip(3)),
    "video+image+text": Content(text="t", images=(_page(256, 256, 5),), video=_clip(2, fps=1.0)),
    "empty": Content(),
}


@pytest.fixture(scope="module")
def settings(tiny_models: Path) -> EmbeddingSettings:
    return EmbeddingSettings(model=str(tiny_models / "embedding"), device="cpu", retries=2)


@pytest.fixture(scope="module")
def reference(settings: EmbeddingSettings) -> TransformersEmbedder:
    return TransformersEmbedder(settings)


@pytest.fixture(scope="module")
def servers(tiny_models: Path) -> Iterator[dict[str, FakeServer]]:
    with (
        FakeServer("vllm", tiny_models / "embedding", reranker=False) as vllm,
        FakeServer("sglang", tiny_models / "embedding", reranker=False) as sglang,
    ):
        yield {"vllm": vllm, "sglang": sglang}


def _client(kind: str, servers: dict[str, FakeServer], settings: EmbeddingSettings, **changes: Any) -> Any:
    server = servers[kind]
    server.reset()
    embedder = BACKENDS[kind](settings.model_copy(update={"backend": kind, "url": server.url, **changes}))
    embedder.client.backoff_s = 0.01  # keep retry tests fast
    return embedder


@pytest.fixture(params=sorted(BACKENDS))
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# --- same vectors as in process ------------------------------------------------------------------------


def test_vectors_equal_the_in_process_embedder(
    kind: str, servers: dict[str, FakeServer], settings: EmbeddingSettings, reference: TransformersEmbedder
) -> None:
    embedder = _client(kind, servers, settings)
    names = [n for n, item in ITEMS.items() if kind == "vllm" or item.video is None] + ["grid video"]
    items = [ITEMS.get(name, Content(video=GRID_CLIP)) for name in names]
    got = embedder.embed(items, QUERY)
    want = reference.embed(items, QUERY)
    assert isinstance(embedder, Embedder)
    assert got.dtype == np.float32 and got.shape == want.shape == (len(items), 128)
    worst = np.abs(got - want).max(axis=1)
    assert (worst <= TOLERANCE).all(), dict(zip(names, worst.tolist(), strict=True))
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-6)


def test_document_instruction_and_batch_equals_single(
    kind: str, servers: dict[str, FakeServer], settings: EmbeddingSettings, reference: TransformersEmbedder
) -> None:
    embedder = _client(kind, servers, settings, max_batch_size=2)
    items = [ITEMS["text"], ITEMS["image"], ITEMS["image+text"]]
    batch = embedder.embed(items, settings.document_instruction)
    single = np.concatenate([embedder.embed([item], settings.document_instruction) for item in items])
    np.testing.assert_allclose(batch, single, atol=TOLERANCE)
    np.testing.assert_allclose(batch, reference.embed(items, settings.document_instruction), atol=TOLERANCE)


def test_mrl_is_cut_client_side(
    kind: str, servers: dict[str, FakeServer], settings: EmbeddingSettings, reference: TransformersEmbedder
) -> None:
    embedder = _client(kind, servers, settings, dim=64)
    items = [ITEMS["text"], ITEMS["image"]]
    got = embedder.embed(items, QUERY)
    assert embedder.dim == 64 and got.shape == (2, 64)
    np.testing.assert_allclose(got, mrl(reference.embed(items, QUERY), 64), atol=TOLERANCE)
    assert all("dimensions" not in body for body in servers[kind].bodies)


def test_full_dim_is_asked_of_the_server_once(
    kind: str, servers: dict[str, FakeServer], settings: EmbeddingSettings
) -> None:
    embedder = _client(kind, servers, settings)
    assert embedder.dim == 128 and embedder.dim == 128
    assert len(servers[kind].bodies) == 1
    assert embedder.embed([], QUERY).shape == (0, 128)


def test_video_frame_times_in_a_file(
    kind: str, servers: dict[str, FakeServer], settings: EmbeddingSettings, reference: TransformersEmbedder
) -> None:
    """Both number a clip's frames from 0 s (each segment reads as a file of its own), so an evenly
    sampled clip gives the in-process vector whatever its start; uneven picks are a documented
    difference (docs/serving.md): the server spaces the file's frames evenly."""
    clip = VideoClip(frames=GRID_CLIP.frames, fps=0.5, t_start=30.0)
    got = _client(kind, servers, settings).embed([Content(video=clip)], QUERY)
    np.testing.assert_allclose(got, reference.embed([Content(video=clip)], QUERY), atol=TOLERANCE)
    uneven = VideoClip(frames=GRID_CLIP.frames, fps=1.0, times=(0.0, 1.3, 2.6, 3.8))
    got = _client(kind, servers, settings).embed([Content(video=uneven)], QUERY)
    assert np.abs(got - reference.embed([Content(video=uneven)], QUERY)).max() > 1e-3


def test_small_images(
    servers: dict[str, FakeServer],
    settings: EmbeddingSettings,
    reference: TransformersEmbedder,
    tiny_models: Path,
) -> None:
    """vLLM is told do_resize=false and SGLang is launched with the official limits (--mm-process-config):
    both see the official pixels. An SGLang launched without that flag upscales images below the
    checkpoint's shortest_edge (65536 px here)."""
    item = [Content(images=(_page(96, 64, 9),))]
    want = reference.embed(item, QUERY)
    np.testing.assert_allclose(_client("vllm", servers, settings).embed(item, QUERY), want, atol=TOLERANCE)
    np.testing.assert_allclose(_client("sglang", servers, settings).embed(item, QUERY), want, atol=TOLERANCE)
    bare = Launch(mm_process_config=None)
    with FakeServer("sglang", tiny_models / "embedding", reranker=False, launch=bare) as server:
        got = SGLangEmbedder(settings.model_copy(update={"backend": "sglang", "url": server.url})).embed(
            item, QUERY
        )
    assert np.abs(got - want).max() > 1e-3


# --- video through SGLang (its own sampling and resizing; docs/serving.md) --------------------------------


def test_sglang_gets_odd_clips_padded_to_an_even_count(
    servers: dict[str, FakeServer], settings: EmbeddingSettings
) -> None:
    """SGLang rounds an odd frame count down (a 3-frame clip would lose a frame; a 1-frame clip is refused),
    so the client repeats the last frame as qwen-vl-utils does; vLLM gets the clip as sampled."""
    for kind, clip, frames in (("sglang", _clip(3), 4), ("vllm", _clip(3), 3), ("sglang", _clip(1), 2)):
        _client(kind, servers, settings).embed([Content(video=clip)], QUERY)
        body = servers[kind].bodies[0]
        parts = (
            body["video_data"][0] if kind == "sglang" else [body["messages"][1]["content"][0]["video_url"]]
        )
        url = parts[0] if kind == "sglang" else parts[0]["url"]
        decoded, _ = decode_video(url)
        assert len(decoded) == frames


@pytest.mark.parametrize(
    ("clip", "low", "high"),
    [
        (_clip(4, fps=1.0), 1e-5, 1e-3),  # even count off the 28 grid: SGLang's bilinear 28-multiple resize
        (
            _clip(3, fps=0.5),
            1e-3,
            5e-3,
        ),  # odd count: + the padded pair's timestamp (<5.0 seconds> vs <4.0 seconds>)
        (GRID_CLIP, 0.0, TOLERANCE),  # even count, frames on both grids: exact
    ],
    ids=["even-off-grid", "odd", "even-on-grid"],
)
def test_sglang_video_differs_only_by_its_own_preprocessing(
    servers: dict[str, FakeServer],
    settings: EmbeddingSettings,
    reference: TransformersEmbedder,
    clip: VideoClip,
    low: float,
    high: float,
) -> None:
    """Measured on the tiny model (docs/serving.md's table): how far SGLang's video vectors are from
    in-process ones when the client sends the official frames."""
    item = [Content(video=clip)]
    got = _client("sglang", servers, settings).embed(item, QUERY)
    diff = float(np.abs(got - reference.embed(item, QUERY)).max())
    assert low <= diff <= high, diff


# --- video prompts in the model card's form (transformers 4.57), whatever the servers' transformers ------

IMAGE_WRAPPER = "<|vision_start|><|image_pad|><|vision_end|>"
CARD_FORM_ITEMS = {
    "video": Content(video=GRID_CLIP),
    "video+text": Content(text="a clip of four pages", video=GRID_CLIP),
    "video+image+text": Content(text="t", images=(_page(256, 256, 5),), video=GRID_CLIP),
}


def outer_video_pairs(text: str) -> list[str]:
    """Where a decoded prompt has a vision pair around a whole video (the transformers 5.10–5.24 form): a
    ``<|vision_start|>`` right before a frame's ``<t seconds>``, or two ``<|vision_end|>`` in a row. The
    model card's form has neither: ``<t seconds><|vision_start|>…<|vision_end|>`` per frame pair."""
    return re.findall(r"<\|vision_start\|><[\d.]+ seconds>|<\|vision_end\|><\|vision_end\|>", text)


def in_process_ids(reference: TransformersEmbedder, item: Content) -> list[int]:
    ids: list[int] = reference.batch_inputs([reference.prepare(0, item, QUERY)])["input_ids"][0].tolist()
    return ids


@pytest.mark.parametrize("name", sorted(CARD_FORM_ITEMS))
def test_video_prompts_are_the_model_cards_form(
    name: str,
    kind: str,
    servers: dict[str, FakeServer],
    settings: EmbeddingSettings,
    reference: TransformersEmbedder,
) -> None:
    """The fakes expand videos as the pinned servers' transformers (5.19) does, keeping any outer pair the
    prompt has; the clients send a bare ``<|video_pad|>``, so the prompt the model reads is token for token
    the in-process one, with one ``<|vision_start|>``…``<|vision_end|>`` per frame pair and none around the
    video (frames on both grids: SGLang's resize changes no token count)."""
    item = CARD_FORM_ITEMS[name]
    got = _client(kind, servers, settings).embed([item], QUERY)
    (ids,) = servers[kind].input_ids
    text = reference.processor.tokenizer.decode(ids)
    assert outer_video_pairs(text) == [] and re.search(
        r"<[\d.]+ seconds><\|vision_start\|><\|video_pad", text
    )
    assert ids == in_process_ids(reference, item)
    assert text.count(IMAGE_WRAPPER[:-14]) >= len(item.images)  # images keep their own pair
    np.testing.assert_allclose(got, reference.embed([item], QUERY), atol=TOLERANCE)


def test_a_client_sending_the_outer_video_markers_gets_a_double_wrapped_prompt(
    kind: str,
    servers: dict[str, FakeServer],
    settings: EmbeddingSettings,
    reference: TransformersEmbedder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The old clients (the template's ``<|vision_start|><|video_pad|><|vision_end|>`` sent as is): the
    pinned servers keep the pair around all the frames, and the vectors leave the card's by far more than
    the tolerance. Images and text are not affected."""
    for module in (sglang_embedder, http_embed):
        monkeypatch.setattr(module, "bare_video_placeholders", lambda text: text)
    item = CARD_FORM_ITEMS["video+text"]
    embedder = _client(kind, servers, settings)
    got = embedder.embed([item, ITEMS["image+text"]], QUERY)
    want = reference.embed([item, ITEMS["image+text"]], QUERY)
    decoded = [reference.processor.tokenizer.decode(ids) for ids in servers[kind].input_ids]
    (text,) = [t for t in decoded if "<|video_pad|>" in t]  # vLLM: one request per item, any order
    assert len(outer_video_pairs(text)) == 2  # one pair around the whole video: its start and its end
    assert np.abs(got[0] - want[0]).max() > 1e-3
    np.testing.assert_allclose(got[1], want[1], atol=TOLERANCE)


def test_vllm_without_trust_request_chat_template_refuses_naming_the_flag(
    settings: EmbeddingSettings, tiny_models: Path
) -> None:
    """vLLM 0.33.0 refuses a request-level chat template unless launched with --trust-request-chat-template
    (entrypoints/pooling/base/io_processor.py): loud, never a silently other prompt."""
    launch = Launch(trust_request_chat_template=False)
    with FakeServer("vllm", tiny_models / "embedding", reranker=False, launch=launch) as server:
        embedder = VLLMEmbedder(settings.model_copy(update={"backend": "vllm", "url": server.url}))
        with pytest.raises(EmbedderError, match="HTTP 400.*--trust-request-chat-template"):
            embedder.embed([ITEMS["text"]], QUERY)


def test_served_chat_template_needs_the_qwen_video_placeholder() -> None:
    class Templater:
        chat_template = "{% for m in messages %}{{ m.content }}{% endfor %}"

    with pytest.raises(EmbedderError, match=r"other-model.*<\|vision_start\|><\|video_pad\|>"):
        served_chat_template(Templater(), "other-model")
    Templater.chat_template = "a<|vision_start|><|video_pad|><|vision_end|>b" + IMAGE_WRAPPER
    assert served_chat_template(Templater(), "m") == "a<|video_pad|>b" + IMAGE_WRAPPER


# --- what goes over the wire ---------------------------------------------------------------------------


def test_vllm_request_is_the_chat_form_with_the_official_messages(
    servers: dict[str, FakeServer], settings: EmbeddingSettings
) -> None:
    embedder = _client("vllm", servers, settings, served_model="qwen-emb", api_key="sekret")
    embedder.embed([ITEMS["video+image+text"]], "find the chart")
    (body,) = servers["vllm"].bodies
    assert set(body) == {
        "model",
        "messages",
        "add_generation_prompt",
        "add_special_tokens",
        "encoding_format",
        "mm_processor_kwargs",
        "chat_template",
    }
    assert body["model"] == "qwen-emb" and body["add_generation_prompt"] is True
    own = embedder.templater.chat_template  # the checkpoint's, with only its video placeholder reduced
    assert body["chat_template"] == own.replace(WRAPPED_VIDEO, "<|video_pad|>") != own
    assert IMAGE_WRAPPER in body["chat_template"]
    assert body["mm_processor_kwargs"] == {"do_resize": False}
    system, user = body["messages"]
    assert system == {"role": "system", "content": [{"type": "text", "text": "find the chart."}]}
    assert [p["type"] for p in user["content"]] == ["video_url", "image_url", "text"]
    assert user["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")
    assert user["content"][0]["video_url"]["url"].startswith("data:video/x-matroska;base64,")
    assert servers["vllm"].headers[0]["authorization"] == "Bearer sekret"


def test_sglang_batches_rendered_prompts_with_per_prompt_media(
    servers: dict[str, FakeServer], settings: EmbeddingSettings
) -> None:
    embedder = _client("sglang", servers, settings, max_batch_size=2, concurrency=1)  # bodies in order
    items = [ITEMS["text"], ITEMS["two images+text"], ITEMS["video"], ITEMS["empty"], ITEMS["image"]]
    embedder.embed(items, QUERY)
    bodies = servers["sglang"].bodies
    assert [len(b["text"]) for b in bodies] == [2, 2, 1]
    first = bodies[0]
    assert set(first) == {"text", "image_data"}
    assert first["image_data"][0] is None and len(first["image_data"][1]) == 2
    assert first["text"][0].startswith(
        "<|im_start|>system\nFind a document image that matches the given query."
    )
    assert first["text"][0].endswith("<|im_end|>\n<|im_start|>assistant\n")
    assert "image_data" not in bodies[1]
    assert bodies[1]["video_data"][0][0].startswith("data:video/x-matroska;base64,")
    assert "<|im_start|>user\nNULL<|im_end|>" in bodies[1]["text"][1]


def test_fakes_refuse_fields_the_real_servers_do_not_define(servers: dict[str, FakeServer]) -> None:
    """Guards the fakes themselves: an unknown field is a 400, like a malformed request."""
    for kind, path in (("vllm", "/v1/embeddings"), ("sglang", "/encode")):
        client = JsonClient(
            servers[kind].url, server=kind, setting="embedding.url", error=EmbedderError, retries=0
        )
        with pytest.raises(EmbedderError, match="(?s)rejected.*HTTP 400.*xtra"):
            client.post(path, {"text": ["x"], "input": "x", "messages": [], "bogus": 1})


def test_registry_builds_the_http_backends(settings: EmbeddingSettings) -> None:
    for kind, cls in BACKENDS.items():
        built = make_embedder(settings.model_copy(update={"backend": kind, "url": "http://127.0.0.1:9"}))
        assert type(built) is cls


# --- failures ------------------------------------------------------------------------------------------


def test_server_down_names_the_url(kind: str, settings: EmbeddingSettings) -> None:
    url = closed_port_url()
    embedder = BACKENDS[kind](settings.model_copy(update={"url": url, "retries": 1, "dim": 64}))
    embedder.client.backoff_s = 0.01
    with pytest.raises(EmbedderError, match=f"(?s){url}.*cannot be reached.*2 attempt.*embedding.url"):
        embedder.embed([ITEMS["text"]], QUERY)


def test_503_then_success_is_retried(
    kind: str, servers: dict[str, FakeServer], settings: EmbeddingSettings, reference: TransformersEmbedder
) -> None:
    embedder = _client(kind, servers, settings)
    servers[kind].script(Reply(503, {"message": "warming up"}), Reply(429, {"message": "busy"}))
    got = embedder.embed([ITEMS["text"]], QUERY)
    np.testing.assert_allclose(got, reference.embed([ITEMS["text"]], QUERY), atol=TOLERANCE)
    assert len(servers[kind].bodies) == 3


def test_persistent_5xx_gives_up_after_the_retries(
    kind: str, servers: dict[str, FakeServer], settings: EmbeddingSettings
) -> None:
    embedder = _client(kind, servers, settings, retries=1)
    servers[kind].script(*[Reply(500, {"object": "error", "message": "CUDA error: out of memory"})] * 2)
    with pytest.raises(EmbedderError, match="(?s)HTTP 500: CUDA error: out of memory, after 2 attempt"):
        embedder.embed([ITEMS["text"]], QUERY)
    assert len(servers[kind].bodies) == 2


def test_400_is_not_retried_and_carries_the_server_message(
    kind: str, servers: dict[str, FakeServer], settings: EmbeddingSettings
) -> None:
    embedder = _client(kind, servers, settings)
    servers[kind].script(Reply(400, {"error": {"message": "This model's maximum context length is 8192"}}))
    with pytest.raises(
        EmbedderError, match=f"{servers[kind].url}.*rejected.*HTTP 400.*maximum context length"
    ):
        embedder.embed([ITEMS["text"]], QUERY)
    assert len(servers[kind].bodies) == 1


MALFORMED = {
    "not json": Reply(200, text="<html>proxy error</html>"),
    "wrong shape": Reply(200, {"unexpected": True}),
    "missing embedding": Reply(200, text='{"data": [{"index": 0}]}'),
    "NaN": Reply(200, text='{"data": [{"index": 0, "embedding": [NaN, 0.5]}]}'),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_answers_are_clear_errors(
    kind: str, servers: dict[str, FakeServer], settings: EmbeddingSettings, case: str
) -> None:
    embedder = _client(kind, servers, settings)
    servers[kind].script(MALFORMED[case])
    with pytest.raises(EmbedderError, match=f"{kind_name(kind)} embedding server at {servers[kind].url}"):
        embedder.embed([ITEMS["text"]], QUERY)


def kind_name(kind: str) -> str:
    return {"vllm": "vLLM", "sglang": "SGLang"}[kind]


def test_wrong_counts_and_sizes(servers: dict[str, FakeServer], settings: EmbeddingSettings) -> None:
    vllm = _client("vllm", servers, settings)
    servers["vllm"].script(
        Reply(200, {"data": [{"index": 0, "embedding": [1.0]}, {"index": 1, "embedding": [1.0]}]})
    )
    with pytest.raises(EmbedderError, match="returned 2 embeddings for item 0"):
        vllm.embed([ITEMS["text"]], QUERY)
    sglang = _client("sglang", servers, settings)
    servers["sglang"].script(Reply(200, [{"embedding": [0.6, 0.8]}]))
    with pytest.raises(EmbedderError, match="returned 1 embeddings for a batch of 2"):
        sglang.embed([ITEMS["text"], ITEMS["image"]], QUERY)
    servers["sglang"].script(Reply(200, [{"embedding": [0.6, 0.8]}, {"embedding": [1.0, 0.0, 0.0]}]))
    with pytest.raises(EmbedderError, match=r"different sizes \[2, 3\]"):
        sglang.embed([ITEMS["text"], ITEMS["image"]], QUERY)


def test_timeout_names_the_limit(
    kind: str, servers: dict[str, FakeServer], settings: EmbeddingSettings
) -> None:
    embedder = _client(kind, servers, settings, timeout_s=0.2, retries=0)
    servers[kind].script(Reply(delay_s=1.0, passthrough=True))
    started = time.monotonic()
    with pytest.raises(EmbedderError, match="(?s)no answer within 0.2 s.*timeout_s"):
        embedder.embed([ITEMS["text"]], QUERY)
    assert time.monotonic() - started < 0.9


def test_bad_media_fails_before_any_request(
    kind: str, servers: dict[str, FakeServer], settings: EmbeddingSettings
) -> None:
    embedder = _client(kind, servers, settings)
    sliver = Content(images=(Image.new("RGB", (2, 600), "white"),))  # aspect ratio 300 > qwen-vl-utils' 200
    with pytest.raises(EmbedderError, match=r"item 1 \(1 image \(2×600\)\).*image cannot be prepared"):
        embedder.embed([ITEMS["text"], sliver], QUERY)
    assert servers[kind].bodies == []


@pytest.mark.parametrize(("url", "message"), [(None, "embedding.url is not set"), ("ftp://x", "not an http")])
def test_url_is_checked(kind: str, settings: EmbeddingSettings, url: str | None, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        BACKENDS[kind](settings.model_copy(update={"url": url}))


# --- the HTTP client on its own ------------------------------------------------------------------------


def test_backoff_is_exponential_jittered_capped_and_honours_retry_after() -> None:
    client = JsonClient(
        "http://x", server="s", setting="k", error=EmbedderError, backoff_s=1.0, max_backoff_s=5.0
    )
    for attempt, ceiling in ((1, 1.0), (2, 2.0), (3, 4.0), (4, 5.0), (9, 5.0)):
        delays = [client._delay(attempt, None) for _ in range(50)]
        assert min(delays) >= ceiling / 2 and max(delays) <= ceiling and len(set(delays)) > 1
    assert client._delay(1, 3.0) == 3.0 and client._delay(1, 60.0) == 5.0


def test_post_all_keeps_order_and_the_concurrency_limit() -> None:
    in_flight, peak, lock = 0, 0, threading.Lock()

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        time.sleep(0.02)
        with lock:
            in_flight -= 1
        return httpx.Response(200, json={"echo": request.read().decode()})

    client = JsonClient(
        "http://x",
        server="s",
        setting="k",
        error=EmbedderError,
        concurrency=3,
        transport=httpx.MockTransport(handler),
    )
    answers = client.post_all("/p", [{"i": i} for i in range(12)])
    assert [a["echo"] for a in answers] == [f'{{"i":{i}}}' for i in range(12)]
    assert peak == 3


def test_post_all_raises_the_first_failure() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400 if b'"i":2' in request.read() else 200, json={"message": "no"})

    client = JsonClient(
        "http://x",
        server="s",
        setting="k",
        error=EmbedderError,
        concurrency=2,
        transport=httpx.MockTransport(handler),
    )
    with pytest.raises(EmbedderError, match=r"rejected the request \(HTTP 400\): no"):
        client.post_all("/p", [{"i": i} for i in range(5)])


def test_answers_are_validated_against_a_shape() -> None:
    client = JsonClient("http://x", server="srv", setting="k", error=EmbedderError)
    assert client.check("/p", [1, 2], TypeAdapter(list[int])) == [1, 2]
    with pytest.raises(EmbedderError, match=r"srv at http://x \(POST /p\) answered with an unexpected shape"):
        client.check("/p", {"a": 1}, TypeAdapter(list[int]))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"error": {"message": "vllm says"}}, "vllm says"),
        ({"object": "error", "message": "sglang says"}, "sglang says"),
        ({"detail": "fastapi says"}, "fastapi says"),
        ("plain text", "plain text"),
        ("", "(empty body)"),
    ],
)
def test_server_messages_are_extracted(body: Any, message: str) -> None:
    response = httpx.Response(400, json=body) if isinstance(body, dict) else httpx.Response(400, text=body)
    assert server_message(response) == message


# --- media ---------------------------------------------------------------------------------------------


def test_image_data_url_is_lossless() -> None:
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)
    url = image_data_url(Image.fromarray(pixels))
    assert url.startswith("data:image/png;base64,")
    decoded = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB"))
    assert np.array_equal(decoded, pixels)


@pytest.mark.parametrize("fps", [0.5, 1.0, 2.5, 29.97])
def test_video_file_is_lossless_at_the_sampling_rate(fps: float) -> None:
    rng = np.random.default_rng(4)
    frames = rng.integers(0, 256, (5, 64, 96, 3), dtype=np.uint8)
    decoded, rate = decode_video(video_data_url(VideoFrames(frames, fps)))
    assert np.array_equal(decoded, frames)
    assert rate == pytest.approx(fps, rel=1e-3)
    with av.open(io.BytesIO(video_bytes(VideoFrames(frames, fps)))) as container:
        assert container.streams.video[0].codec_context.name == "ffv1"


def test_video_frames_are_the_in_process_ones_unpadded() -> None:
    item = qwen_prompt.video_item(_clip(3))
    video = model_video(item)
    in_process = qwen_prompt.video_tensor(list(item["video"]))  # padded to 4 frames
    assert in_process.shape[0] == 4 and video.frames.shape[0] == 3 and video.fps == 0.5
    assert np.array_equal(video.frames, in_process[:3].permute(0, 2, 3, 1).numpy().astype(np.uint8))
    assert video.frames.shape[1] % 32 == 0 and video.frames.shape[2] % 32 == 0
    sampled = model_video(qwen_prompt.video_item(_clip(65, fps=4.0)))
    # 64 kept frames spanning 0 … 16 s
    assert sampled.frames.shape[0] == 64 and sampled.fps == pytest.approx(63 / 16.0)


def test_video_bytes_refuses_non_rgb8() -> None:
    with pytest.raises(ValueError, match="uint8"):
        video_bytes(VideoFrames(np.zeros((2, 32, 32, 3), dtype=np.float32), 1.0))


def test_openai_parts_follow_the_official_items() -> None:
    items = qwen_prompt.user_content(ITEMS["video+image+text"])
    assert [p["type"] for p in openai_parts(items)] == ["video_url", "image_url", "text"]
    assert openai_parts(qwen_prompt.user_content(Content())) == [{"type": "text", "text": "NULL"}]
    with pytest.raises(ValueError, match="unknown content item type 'audio'"):
        openai_parts([{"type": "audio"}])
