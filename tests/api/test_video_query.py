"""POST /v1/search with a video clip (multipart ``video`` part), through a real uvicorn on a free loopback
port: sampled as ``mmsearch query --video`` samples it, alone or with text and filters; bad clips are clear
errors that never name the server's temporary file, which is removed after every request."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from api_support import READ_KEY, Indexed, LiveServer, client_for, live_server

from mmsearch.api.app import create_app
from mmsearch.index.inputs import query_clip
from mmsearch.samples import make_pdf, make_video
from mmsearch.search.searcher import Query

pytestmark = pytest.mark.slow

READ = {"Authorization": f"Bearer {READ_KEY}"}


@pytest.fixture(scope="module")
def server(indexed: Indexed) -> Iterator[LiveServer]:
    with live_server(indexed.app(read_keys=[READ_KEY])) as live:
        yield live


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("query") / "query clip.webm", 3, fps=5, size=(160, 120))


def _spooled() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("mmsearch-query-*"))


def _search(server: LiveServer, files: dict[str, tuple[str, bytes, str]], **data: str) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/search", headers=READ, files=files, data=data, timeout=120)


def test_a_video_clip_searches_as_the_cli_samples_it(
    server: LiveServer, indexed: Indexed, clip: Path
) -> None:
    before = _spooled()
    answer = _search(server, {"video": (clip.name, clip.read_bytes(), "video/webm")}, top_k="4")
    assert answer.status_code == 200, answer.text
    hits = answer.json()["hits"]
    want = indexed.services.searcher.search(Query(video=query_clip(clip, indexed.settings.ingest)), top_k=4)
    assert [h["point_id"] for h in hits] == [h.point_id for h in want.hits]
    for got, expected in zip(hits, want.hits, strict=True):
        assert got["score"] == pytest.approx(expected.score, abs=1e-5)
    assert _spooled() <= before  # the spooled clip is gone


def test_video_with_text_and_a_filter(server: LiveServer, clip: Path) -> None:
    answer = _search(
        server,
        {"video": (clip.name, clip.read_bytes(), "video/webm")},
        text="a moving block",
        modality="video",
    )
    assert answer.status_code == 200, answer.text
    hits = answer.json()["hits"]
    assert hits and {h["modality"] for h in hits} == {"video"}


def test_bad_clips_are_clear_errors(server: LiveServer, tmp_path: Path) -> None:
    before = _spooled()
    pdf = tmp_path / "not-a-video.pdf"
    make_pdf(pdf, 1)
    refused = _search(server, {"video": ("clip.mp4", pdf.read_bytes(), "video/mp4")})
    assert refused.status_code == 415, refused.text
    message = refused.json()["error"]["message"]
    assert "query video" in message and "not a video" in message and "mmsearch-query-" not in message
    broken = _search(server, {"video": ("clip.mp4", b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64, "video/mp4")})
    assert broken.status_code in (415, 422), broken.text
    assert "mmsearch-query-" not in broken.json()["error"]["message"]
    as_text = httpx.post(
        f"{server.url}/v1/search", headers=READ, data={"video": "clip.mp4"}, files={"x": ("", b"")}
    )
    assert as_text.status_code == 422
    assert _spooled() <= before


def test_an_empty_video_part_alone_is_an_empty_query(server: LiveServer) -> None:
    answer = _search(server, {"video": ("clip.mp4", b"", "video/mp4")})
    assert answer.status_code == 400 and "`video`" in answer.json()["error"]["message"]


@pytest.mark.anyio
async def test_a_clip_over_the_video_limit_is_413(indexed: Indexed, clip: Path) -> None:
    """``LimitExceeded`` raised by the real decode path answers 413 (it was a 500 while statuses were
    looked up by error code), naming the setting to raise."""
    ingest = indexed.settings.ingest.model_copy(update={"max_video_seconds": 1.0})
    app = create_app(indexed.settings.model_copy(update={"ingest": ingest}), indexed.services)
    async with client_for(app) as client:
        answer = await client.post(
            "/v1/search", files={"video": (clip.name, clip.read_bytes(), "video/webm")}
        )
    assert answer.status_code == 413, answer.text
    error = answer.json()["error"]
    assert error["code"] == "limit_exceeded" and "ingest.max_video_seconds" in error["message"]
