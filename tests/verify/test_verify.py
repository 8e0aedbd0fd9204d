"""``mmsearch verify`` against the loopback fakes of the pinned servers: the correct fakes pass; a fake with
one deliberate deviation fails, and the message names the modality it breaks."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from protocol_servers import Deviation, FakeServer, Launch

from mmsearch.cli import cli
from mmsearch.config import Settings
from mmsearch.verify import record
from mmsearch.verify.compare import EmbeddingDiff, Report, VerifyFailed, check, run
from tests.support import run_cli, tiny_env, tiny_settings

# The tiny random reranker scores every pair near 0.5, so a deviation moves its scores by ~1e-3 where the
# trained one moves them far more: the reranker tolerance is tightened here (the fakes agree to ~2e-5).
TIGHT = {"rerank_max_abs": 5e-4}
# SGLang's top-50 label lookup misses on the tiny model (tests/test_protocol_servers.py); see ALL_LABELS
# in tests/search/test_http_rerankers.py.
ALL_LABELS = {"top_logprobs_num": 640}


def _settings(tmp_path: Path, tiny_models: Path, role: str, kind: str, url: str) -> Settings:
    section = "reranker" if role == "reranker" else "embedding"
    sections: dict[str, Any] = {section: {"backend": kind, "url": url}, "verify": TIGHT}
    return tiny_settings(tmp_path / "data", tiny_models, **sections)


def _serve(kind: str, tiny_models: Path, role: str, **launch: Any) -> FakeServer:
    folder = tiny_models / ("reranker" if role == "reranker" else "embedding")
    return FakeServer(kind, folder, reranker=role == "reranker", launch=Launch(**launch))


@pytest.mark.parametrize(
    ("kind", "role"),
    [("vllm", "embedder"), ("sglang", "embedder"), ("vllm", "reranker"), ("sglang", "reranker")],
)
def test_correct_fakes_pass(kind: str, role: str, tiny_models: Path, tmp_path: Path) -> None:
    launch = ALL_LABELS if (kind, role) == ("sglang", "reranker") else {}
    with _serve(kind, tiny_models, role, **launch) as server:
        settings = _settings(tmp_path, tiny_models, role, kind, server.url)
        report = run(settings, embedder=role == "embedder", reranker=role == "reranker")
    rows = report.embedding or report.rerank
    assert [r.modality for r in rows] == [
        "text",
        "page image",
        "small image",
        "image+text",
        "video",
        "video+text",
    ]
    assert report.failures == []
    check(report, settings)


@pytest.mark.parametrize(
    ("kind", "role", "deviation", "named", "spared"),
    [
        ("vllm", "reranker", "newline_joiner", "rerank score of image+text", "rerank score of text:"),
        ("sglang", "embedder", "upscaled_image", "embedding of small image", "embedding of text:"),
        ("sglang", "embedder", "dropped_frame", "embedding of video", "embedding of page image"),
        ("vllm", "embedder", "missing_instruction", "embedding of text", None),
        ("vllm", "reranker", "missing_instruction", "rerank score of text", None),
        ("sglang", "reranker", "dropped_frame", "rerank score of video", "rerank score of text:"),
        # a vision pair kept around the whole video (the pinned servers' transformers, sent the old prompts)
        ("vllm", "embedder", "outer_video_markers", "embedding of video+text", "embedding of image+text"),
        ("sglang", "embedder", "outer_video_markers", "embedding of video:", "embedding of image+text"),
        ("vllm", "reranker", "outer_video_markers", "rerank score of video:", "rerank score of image+text"),
        ("sglang", "reranker", "outer_video_markers", "rerank score of video+text", "rerank score of text:"),
    ],
)
def test_a_deviating_fake_fails_naming_the_modality(
    kind: str,
    role: str,
    deviation: Deviation,
    named: str,
    spared: str | None,
    tiny_models: Path,
    tmp_path: Path,
) -> None:
    with _serve(kind, tiny_models, role, deviation=deviation, **ALL_LABELS) as server:
        settings = _settings(tmp_path, tiny_models, role, kind, server.url)
        report = run(settings, embedder=role == "embedder", reranker=role == "reranker")
    with pytest.raises(VerifyFailed, match="differ from the in-process reference") as failed:
        check(report, settings)
    assert named in str(failed.value)
    if spared is not None:
        assert spared not in str(failed.value)


# --- the command ----------------------------------------------------------------------------------------


@pytest.fixture
def compose_stack(tiny_models: Path) -> Iterator[tuple[str, str]]:
    """SGLang embedder + vLLM reranker, as docker-compose.yml runs them."""
    with _serve("sglang", tiny_models, "embedder") as emb, _serve("vllm", tiny_models, "reranker") as rr:
        yield emb.url, rr.url


def _env(tmp_path: Path, tiny_models: Path, embedder: str, reranker: str) -> dict[str, str]:
    return tiny_env(
        tmp_path / "data",
        tiny_models,
        MMSEARCH_EMBEDDING__BACKEND="sglang",
        MMSEARCH_EMBEDDING__URL=embedder,
        MMSEARCH_RERANKER__BACKEND="vllm",
        MMSEARCH_RERANKER__URL=reranker,
    )


def test_command_passes_against_the_compose_stack(
    compose_stack: tuple[str, str], tiny_models: Path, tmp_path: Path
) -> None:
    (tmp_path / "cwd").mkdir()
    env = _env(tmp_path, tiny_models, *compose_stack)
    done = run_cli(["verify", "--json"], env, tmp_path / "cwd")
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout)
    assert out["failures"] == [] and len(out["embedding"]) == len(out["rerank"]) == 6
    video = next(d for d in out["embedding"] if d["modality"] == "video")
    assert 0 < video["max_abs"] < 0.01 and video["cosine"] > 0.9999  # SGLang's own video preprocessing
    table = run_cli(["verify"], env, tmp_path / "cwd")
    assert table.returncode == 0 and "embedder (sglang) vs in process" in table.stdout
    saved = json.loads((tmp_path / "data" / record.FILE).read_text())
    assert saved["passed"] is True and saved["embedding"] == {"backend": "sglang", "url": compose_stack[0]}


def test_command_exits_1_naming_the_modality(tiny_models: Path, tmp_path: Path) -> None:
    (tmp_path / "cwd").mkdir()
    with _serve("sglang", tiny_models, "embedder", deviation="dropped_frame") as emb:
        env = _env(tmp_path, tiny_models, emb.url, "http://127.0.0.1:9")
        done = run_cli(["verify", "--no-reranker"], env, tmp_path / "cwd")
    assert done.returncode == 1
    assert "Error: the served models differ" in done.stderr and "embedding of video" in done.stderr
    assert "video" in done.stdout and "NO" in done.stdout


def test_command_fails_naming_video_against_a_stack_that_keeps_the_outer_video_markers(
    tiny_models: Path, tmp_path: Path
) -> None:
    """Both servers keep a ``<|vision_start|>``/``<|vision_end|>`` pair around the whole video (what the
    pinned releases' transformers 5.19 makes of the template's placeholder): ``mmsearch verify`` exits 1
    naming the video canaries, and only them. At the default tolerances the embeddings fail (tiny model:
    max |Δ| 3e-2, cosine 0.98); the reranker's move (6e-3, 1.4e-2) is under the default 0.02, so the tight
    reranker bound of these tests is set to show it too."""
    with (
        _serve("sglang", tiny_models, "embedder", deviation="outer_video_markers") as emb,
        _serve("vllm", tiny_models, "reranker", deviation="outer_video_markers") as rr,
    ):
        env = _env(tmp_path, tiny_models, emb.url, rr.url)
        env["MMSEARCH_VERIFY__RERANK_MAX_ABS"] = str(TIGHT["rerank_max_abs"])
        done = CliRunner().invoke(cli, ["verify"], env=env)
    assert done.exit_code == 1, done.output
    message = str(done.exception) if done.exception and not isinstance(done.exception, SystemExit) else ""
    failed = done.output + message
    for named in ("embedding of video:", "embedding of video+text", "rerank score of video:"):
        assert named in failed, failed[-2000:]
    assert "rerank score of video+text" in failed
    for spared in ("embedding of text:", "embedding of image+text", "rerank score of image+text"):
        assert spared not in failed


def test_command_with_nothing_served_is_a_usage_error(tiny_models: Path, tmp_path: Path) -> None:
    (tmp_path / "cwd").mkdir()
    done = run_cli(["verify"], tiny_env(tmp_path / "data", tiny_models), tmp_path / "cwd")
    assert done.returncode == 2 and "nothing to verify" in done.stderr


# --- the record /readyz reports -------------------------------------------------------------------------


def _readyz(settings: Settings) -> dict[str, Any]:
    from mmsearch.api.app import create_app

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(settings), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            return await client.get("/readyz")  # a loopback Host: the server's allowed_hosts default

    body: dict[str, Any] = asyncio.run(get()).json()
    return body


def test_readyz_reports_the_last_verification(tiny_models: Path, tmp_path: Path) -> None:
    settings = _settings(tmp_path, tiny_models, "embedder", "sglang", "http://gpu:30000")
    assert _readyz(settings)["verification"] is None  # never ran
    failed = Report([EmbeddingDiff("video", 0.2, 0.8, ok=False)], [])
    record.save(settings, failed)
    seen = _readyz(settings)["verification"]
    assert seen["passed"] is False and seen["failures"] == ["embedding of video"] and seen["current"] is True
    moved = settings.model_copy(
        update={"embedding": settings.embedding.model_copy(update={"url": "http://b:1"})}
    )
    assert _readyz(moved)["verification"]["current"] is False  # made against other servers
