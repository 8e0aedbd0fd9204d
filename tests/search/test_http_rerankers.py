"""The served reranker backends (vLLM ``/rerank``, SGLang ``/v1/rerank``) against loopback servers that speak
their protocols and score with the tiny reranker (tests/protocol_servers.py): same scores as the in-process
reranker, the documented request shapes, and every failure mode of the HTTP path."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw
from protocol_servers import FakeServer, Launch, Reply, closed_port_url

from mmsearch.errors import ConfigError, QueryError, RerankerError
from mmsearch.index.inputs import Content, VideoClip
from mmsearch.search.reranker import Reranker, make_reranker
from mmsearch.search.settings import RerankerSettings
from mmsearch.search.sglang_reranker import SGLangReranker
from mmsearch.search.transformers_reranker import TransformersReranker
from mmsearch.search.vllm_reranker import VLLMReranker

TOLERANCE = 1e-5
BACKENDS: dict[str, type[VLLMReranker | SGLangReranker]] = {
    "vllm": VLLMReranker,
    "sglang": SGLangReranker,
}
PATHS = {"vllm": "/rerank", "sglang": "/v1/rerank"}


def _page(w: int, h: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (w, h), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    for _ in range(10):
        x, y = int(rng.integers(0, w - 20)), int(rng.integers(0, h - 10))
        fill = tuple(int(v) for v in rng.integers(0, 200, 3))
        draw.rectangle([x, y, x + int(rng.integers(8, 60)), y + 6], fill=fill)
    return image


def _clip(n: int, fps: float = 1.0, t_start: float = 0.0, size: tuple[int, int] = (64, 48)) -> VideoClip:
    return VideoClip(frames=tuple(_page(*size, 40 + i) for i in range(n)), fps=fps, t_start=t_start)


# The clip has an even frame count and frames on both the 28 and the 32 grid, so SGLang's own video
# preprocessing keeps it as it is (tests/index/test_http_embedders.py measures the other cases).
DOCUMENTS = [
    Content(text="Paris is the capital of France."),
    Content(images=(_page(320, 256, 1),)),
    Content(text="Table 3 lists the results.", images=(_page(300, 250, 2),)),
    Content(images=(_page(256, 256, 3), _page(288, 256, 4))),  # one document with two images
    Content(video=_clip(4, size=(448, 448))),
    Content(),  # scored as "NULL", as the official code does
]
QUERIES = {
    "text": Content(text="a red car on a mountain road"),
    "image+text": Content(text="like this one", images=(_page(256, 288, 9),)),
}


@pytest.fixture(scope="module")
def settings(tiny_models: Path) -> RerankerSettings:
    return RerankerSettings(model=str(tiny_models / "reranker"), device="cpu", retries=2)


@pytest.fixture(scope="module")
def reference(settings: RerankerSettings) -> TransformersReranker:
    return TransformersReranker(settings)


# SGLang reads p(yes), p(no) from the top-50 log-probabilities only; the tiny random model seldom has
# them there (the trained one always does), so the client tests use a fake that finds every label.
ALL_LABELS = Launch(top_logprobs_num=640)


@pytest.fixture(scope="module")
def servers(tiny_models: Path) -> Iterator[dict[str, FakeServer]]:
    with (
        FakeServer("vllm", tiny_models / "reranker", reranker=True) as vllm,
        FakeServer("sglang", tiny_models / "reranker", reranker=True, launch=ALL_LABELS) as sglang,
    ):
        yield {"vllm": vllm, "sglang": sglang}


@pytest.fixture(params=sorted(BACKENDS))
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _client(kind: str, servers: dict[str, FakeServer], settings: RerankerSettings, **changes: Any) -> Any:
    server = servers[kind]
    server.reset()
    reranker = BACKENDS[kind](settings.model_copy(update={"backend": kind, "url": server.url, **changes}))
    reranker.client.backoff_s = 0.01
    return reranker


def _name(kind: str) -> str:
    return {"vllm": "vLLM", "sglang": "SGLang"}[kind]


# --- same scores as in process -------------------------------------------------------------------------


@pytest.mark.parametrize("query", sorted(QUERIES))
def test_scores_equal_the_in_process_reranker(
    kind: str,
    servers: dict[str, FakeServer],
    settings: RerankerSettings,
    reference: TransformersReranker,
    query: str,
) -> None:
    reranker = _client(kind, servers, settings)
    got = reranker.score(QUERIES[query], DOCUMENTS)
    want = reference.score(QUERIES[query], DOCUMENTS)
    assert isinstance(reranker, Reranker)
    assert np.abs(np.array(got) - np.array(want)).max() <= TOLERANCE, (got, want)
    assert len(set(np.round(got, 6))) > 1  # the documents really get different scores


# --- video in the model card's form (transformers 4.57), whatever the servers' transformers ---------------

CLIP = _clip(4, size=(448, 448))
VIDEO_DOCUMENTS = {
    "video": Content(video=CLIP),
    "video+text": Content(text="four pages filmed in a row", video=CLIP),
}


def outer_video_pairs(text: str) -> list[str]:
    """A vision pair around a whole video (the transformers 5.10–5.24 form): ``<|vision_start|>`` right
    before a frame's ``<t seconds>``, or two ``<|vision_end|>`` in a row. The card's form has neither."""
    return re.findall(r"<\|vision_start\|><[\d.]+ seconds>|<\|vision_end\|><\|vision_end\|>", text)


def in_process_ids(reference: TransformersReranker, query: Content, document: Content) -> list[int]:
    instruction = reference.settings.instruction
    draft = reference.draft(0, query, reference.media(query, "query", QueryError), document, instruction)
    ids: list[int] = reference.encode([draft]).rows[0].input_ids.tolist()
    return ids


@pytest.mark.parametrize("name", sorted(VIDEO_DOCUMENTS))
@pytest.mark.parametrize("query", sorted(QUERIES))
def test_video_documents_are_scored_on_the_model_cards_prompt(
    kind: str,
    servers: dict[str, FakeServer],
    settings: RerankerSettings,
    reference: TransformersReranker,
    name: str,
    query: str,
) -> None:
    """The fakes expand videos as the pinned servers' transformers (5.19) does, keeping an outer pair the
    prompt has; with the ``serving/*.jinja`` templates (a bare ``<|video_pad|>`` per video) the prompt is
    token for token the in-process one: one vision pair per frame pair, none around the video."""
    document = VIDEO_DOCUMENTS[name]
    got = _client(kind, servers, settings).score(QUERIES[query], [document])
    (ids,) = servers[kind].input_ids
    text = reference.processor.tokenizer.decode(ids)
    assert outer_video_pairs(text) == [] and re.search(
        r"<[\d.]+ seconds><\|vision_start\|><\|video_pad", text
    )
    assert ids == in_process_ids(reference, QUERIES[query], document)
    assert abs(got[0] - reference.score(QUERIES[query], [document])[0]) <= TOLERANCE


def test_the_servers_example_templates_double_wrap_video(
    kind: str, settings: RerankerSettings, reference: TransformersReranker, tiny_models: Path
) -> None:
    """Launched with the server project's example template (``<|vision_start|><|video_pad|><|vision_end|>``
    per video), the pinned servers keep that pair around all the frames: the video scores move, the image
    and text ones do not."""
    launch = Launch(rerank_template="upstream", top_logprobs_num=640)
    # a small clip, where the extra pair weighs more than around 4 frames of 448×448 (Δ 8e-5 there)
    documents = [Content(text="a short clip", video=_clip(2)), *DOCUMENTS[:3]]
    with FakeServer(kind, tiny_models / "reranker", reranker=True, launch=launch) as server:
        reranker = BACKENDS[kind](settings.model_copy(update={"backend": kind, "url": server.url}))
        got = reranker.score(QUERIES["text"], documents)
        decoded = [reference.processor.tokenizer.decode(ids) for ids in server.input_ids]
    want = reference.score(QUERIES["text"], documents)
    (text,) = [t for t in decoded if "<|video_pad|>" in t]
    assert len(outer_video_pairs(text)) == 2
    assert abs(got[0] - want[0]) > 100 * TOLERANCE, (got[0], want[0])
    assert np.abs(np.array(got[1:]) - np.array(want[1:])).max() <= TOLERANCE


def test_instruction_and_chunks_keep_the_document_order(
    kind: str, servers: dict[str, FakeServer], settings: RerankerSettings, reference: TransformersReranker
) -> None:
    reranker = _client(kind, servers, settings, max_batch_size=2)
    query, instruction = QUERIES["text"], "Find slides about cars"
    got = reranker.score(query, DOCUMENTS, instruction=instruction)
    want = reference.score(query, DOCUMENTS, instruction=instruction)
    assert np.abs(np.array(got) - np.array(want)).max() <= TOLERANCE
    assert sorted(len(body["documents"]) for body in servers[kind].bodies) == [2, 2, 2]
    assert np.abs(np.array(got) - np.array(reference.score(query, DOCUMENTS))).max() > 1e-6


def test_configured_instruction_is_the_default(
    kind: str, servers: dict[str, FakeServer], settings: RerankerSettings, reference: TransformersReranker
) -> None:
    tuned = settings.model_copy(update={"instruction": "Retrieve pages that answer the question."})
    got = _client(kind, servers, tuned).score(QUERIES["text"], DOCUMENTS[:3])
    want = reference.score(QUERIES["text"], DOCUMENTS[:3], instruction=tuned.instruction)
    assert np.abs(np.array(got) - np.array(want)).max() <= TOLERANCE


def test_no_documents_sends_nothing(
    kind: str, servers: dict[str, FakeServer], settings: RerankerSettings
) -> None:
    assert _client(kind, servers, settings).score(QUERIES["text"], []) == []
    assert servers[kind].bodies == []


# --- what goes over the wire ---------------------------------------------------------------------------


def test_vllm_request_shape(servers: dict[str, FakeServer], settings: RerankerSettings) -> None:
    reranker = _client("vllm", servers, settings, served_model="qwen-rerank", api_key="k3y")
    reranker.score(QUERIES["image+text"], [DOCUMENTS[3], DOCUMENTS[0]], instruction="be strict")
    (body,) = servers["vllm"].bodies
    assert set(body) == {"model", "query", "documents", "top_n", "instruction", "mm_processor_kwargs"}
    assert body["model"] == "qwen-rerank" and body["top_n"] == 2 and body["instruction"] == "be strict"
    assert [p["type"] for p in body["query"]["content"]] == ["image_url", "text"]
    two_images, text = body["documents"]
    assert [p["type"] for p in two_images["content"]] == ["image_url", "image_url"]  # one document
    assert text == {"content": [{"type": "text", "text": "Paris is the capital of France."}]}
    assert body["mm_processor_kwargs"] == {"do_resize": False}
    assert servers["vllm"].headers[0]["authorization"] == "Bearer k3y"


def test_sglang_request_shape(servers: dict[str, FakeServer], settings: RerankerSettings) -> None:
    _client("sglang", servers, settings).score(QUERIES["text"], [DOCUMENTS[4], DOCUMENTS[5]])
    (body,) = servers["sglang"].bodies
    assert set(body) == {"query", "documents", "instruct", "return_documents"}
    assert body["return_documents"] is False
    assert body["instruct"] == settings.instruction
    assert body["query"] == [{"type": "text", "text": "a red car on a mountain road"}]
    video, empty = body["documents"]
    assert video[0]["type"] == "video_url" and video[0]["video_url"]["url"].startswith(
        "data:video/x-matroska"
    )
    assert empty == [{"type": "text", "text": "NULL"}]


def test_sglang_would_fail_to_echo_multimodal_documents(
    servers: dict[str, FakeServer], settings: RerankerSettings
) -> None:
    """Why return_documents is false: the server cannot put a part list in RerankResponse.document."""
    reranker = _client("sglang", servers, settings)
    body = reranker.request([{"type": "text", "text": "q"}], [DOCUMENTS[1]], "i") | {"return_documents": True}
    with pytest.raises(RerankerError, match="document"):
        reranker.client.post("/v1/rerank", body)


def test_registry_builds_the_http_backends(settings: RerankerSettings) -> None:
    for kind, cls in BACKENDS.items():
        built = make_reranker(settings.model_copy(update={"backend": kind, "url": "http://127.0.0.1:9"}))
        assert type(built) is cls


# --- failures ------------------------------------------------------------------------------------------


def test_server_down_names_the_url(kind: str, settings: RerankerSettings) -> None:
    url = closed_port_url()
    reranker = BACKENDS[kind](settings.model_copy(update={"url": url, "retries": 1}))
    reranker.client.backoff_s = 0.01
    with pytest.raises(RerankerError, match=f"(?s){_name(kind)} reranker server at {url}.*cannot be reached"):
        reranker.score(QUERIES["text"], DOCUMENTS[:1])


def test_503_then_success_is_retried(
    kind: str, servers: dict[str, FakeServer], settings: RerankerSettings, reference: TransformersReranker
) -> None:
    reranker = _client(kind, servers, settings)
    servers[kind].script(Reply(503, {"message": "loading"}))
    got = reranker.score(QUERIES["text"], DOCUMENTS[:2])
    assert (
        np.abs(np.array(got) - np.array(reference.score(QUERIES["text"], DOCUMENTS[:2]))).max() <= TOLERANCE
    )
    assert len(servers[kind].bodies) == 2


def test_400_is_not_retried(kind: str, servers: dict[str, FakeServer], settings: RerankerSettings) -> None:
    reranker = _client(kind, servers, settings)
    servers[kind].script(Reply(400, {"object": "error", "message": "prompt is longer than max_model_len"}))
    with pytest.raises(RerankerError, match=r"rejected the request \(HTTP 400\): prompt is longer"):
        reranker.score(QUERIES["text"], DOCUMENTS[:2])
    assert len(servers[kind].bodies) == 1


def _answer(kind: str, rows: list[tuple[int, float]]) -> Any:
    if kind == "vllm":
        results = [{"index": i, "relevance_score": s, "document": {"text": None}} for i, s in rows]
        return {"id": "x", "model": "m", "usage": {"prompt_tokens": 1, "total_tokens": 1}, "results": results}
    return [{"index": i, "score": s} for i, s in rows]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([(0, 0.9)], r"results for documents \[0\] but was sent 2"),
        ([(0, 0.9), (0, 0.8)], r"results for documents \[0, 0\] but was sent 2"),
        ([(0, 0.9), (1, 1.5)], r"score 1.5 for document 1"),
        ([(1, 0.2), (0, 0.7)], None),  # sorted by score, as the servers send it: fine
    ],
    ids=["missing", "duplicate", "out of range", "sorted"],
)
def test_answers_are_checked(
    kind: str,
    servers: dict[str, FakeServer],
    settings: RerankerSettings,
    rows: list[tuple[int, float]],
    message: str | None,
) -> None:
    reranker = _client(kind, servers, settings)
    servers[kind].script(Reply(200, _answer(kind, rows)))
    if message is None:
        assert reranker.score(QUERIES["text"], DOCUMENTS[:2]) == [0.7, 0.2]
        return
    with pytest.raises(RerankerError, match=message):
        reranker.score(QUERIES["text"], DOCUMENTS[:2])


@pytest.mark.parametrize(
    "reply",
    [
        Reply(200, text="not json"),
        Reply(200, {"results": "?"}),
        Reply(200, text='[{"index": 0, "score": NaN}]'),
    ],
    ids=["not json", "wrong shape", "NaN"],
)
def test_malformed_answers_name_the_server(
    kind: str, servers: dict[str, FakeServer], settings: RerankerSettings, reply: Reply
) -> None:
    reranker = _client(kind, servers, settings)
    servers[kind].script(reply)
    with pytest.raises(RerankerError, match=f"{_name(kind)} reranker server at {servers[kind].url}"):
        reranker.score(QUERIES["text"], DOCUMENTS[:1])


def test_timeout(kind: str, servers: dict[str, FakeServer], settings: RerankerSettings) -> None:
    reranker = _client(kind, servers, settings, timeout_s=0.2, retries=0)
    servers[kind].script(Reply(delay_s=1.0, passthrough=True))
    started = time.monotonic()
    with pytest.raises(RerankerError, match="(?s)no answer within 0.2 s.*reranker.url"):
        reranker.score(QUERIES["text"], DOCUMENTS[:1])
    assert time.monotonic() - started < 0.9


def test_bad_media_and_empty_query(
    kind: str, servers: dict[str, FakeServer], settings: RerankerSettings
) -> None:
    reranker = _client(kind, servers, settings)
    sliver = Content(images=(Image.new("RGB", (2, 600), "white"),))  # aspect ratio 300 > 200
    with pytest.raises(RerankerError, match=r"document 1 \(1 image \(2×600\)\).*cannot be prepared"):
        reranker.score(QUERIES["text"], [DOCUMENTS[0], sliver])
    with pytest.raises(QueryError, match="rerank query"):
        reranker.score(sliver, DOCUMENTS[:1])
    with pytest.raises(QueryError, match="empty rerank query"):
        reranker.score(Content(), DOCUMENTS[:1])
    assert servers[kind].bodies == []


@pytest.mark.parametrize(
    ("url", "message"), [(None, "reranker.url is not set"), ("localhost:8000", "not an http")]
)
def test_url_is_checked(kind: str, settings: RerankerSettings, url: str | None, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        BACKENDS[kind](settings.model_copy(update={"url": url}))
