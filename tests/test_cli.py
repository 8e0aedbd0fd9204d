"""The real ``mmsearch`` command, end to end: ingest, query, stats, delete through its entry point in this
process (``tests.support.run_cli``), and a real ``python -m mmsearch`` process for kill -9."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mmsearch.ingest.units import doc_id_for
from mmsearch.samples import make_bad_files, make_image, make_pdf, make_video
from tests.support import budget, run_cli, tiny_env

pytestmark = pytest.mark.slow


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "cwd").mkdir()
    return tmp_path


@pytest.fixture
def env(work: Path, tiny_models: Path) -> dict[str, str]:
    return tiny_env(work / "data", tiny_models)


@pytest.fixture
def corpus(work: Path) -> Path:
    folder = work / "corpus"
    make_pdf(folder / "finance.pdf", 3, topic="finance")
    make_pdf(folder / "birds.pdf", 2, topic="birds", with_tables=False)
    make_image(folder / "photo.jpg", "jpeg", (320, 240), text="photo")
    make_video(folder / "clip.mp4", 4, fps=4)
    return folder


def cli(args: list[str], env: dict[str, str], work: Path) -> subprocess.CompletedProcess[str]:
    return run_cli(args, env, work / "cwd")


def test_dry_run_lists_units_and_one_error_per_bad_file(
    work: Path, env: dict[str, str], corpus: Path
) -> None:
    expected = make_bad_files(corpus / "bad")
    done = cli(["ingest", str(corpus), "--dry-run", "--json"], env, work)
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    by_name = {Path(f["path"]).name: f for f in report["files"]}
    assert {n: f["code"] for n, f in by_name.items() if f["status"] == "failed"} == expected
    assert [u["page"] for u in by_name["finance.pdf"]["unit_list"]] == [1, 2, 3]
    assert by_name["clip.mp4"]["unit_list"][0]["t_start"] == 0.0
    assert report["summary"]["units"] == 3 + 2 + 1 + 1
    assert "Traceback" not in done.stderr
    for name in expected:
        assert f"{name}" in done.stderr  # one "Error: <file>: …" line each
    assert not (work / "data" / "qdrant").exists()  # a dry run stores nothing


def test_ingest_then_query_with_and_without_rerank(work: Path, env: dict[str, str], corpus: Path) -> None:
    done = cli(["ingest", str(corpus), "--json"], env, work)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["summary"]["indexed"] == 4

    reranked = json.loads(cli(["query", "finance table", "--json", "--top-k", "5"], env, work).stdout)
    assert reranked["reranked"] is True and len(reranked["hits"]) == 5
    scores = [h["rerank_score"] for h in reranked["hits"]]
    assert scores == sorted(scores, reverse=True) and all(0.0 < s < 1.0 for s in scores)
    assert all(h["vector_score"] is not None for h in reranked["hits"])
    assert set(reranked["timings_ms"]) >= {"embed", "search", "rerank", "total"}

    plain = json.loads(
        cli(["query", "finance table", "--json", "--no-rerank", "--top-k", "7"], env, work).stdout
    )
    assert plain["reranked"] is False and plain["reranker"] is None
    vector = [h["vector_score"] for h in plain["hits"]]
    assert vector == sorted(vector, reverse=True)  # --no-rerank order is the store's order
    assert {h["point_id"] for h in plain["hits"]} >= {h["point_id"] for h in reranked["hits"]}

    video = json.loads(cli(["query", "x", "--json", "--filter", "modality=video"], env, work).stdout)
    assert [h["modality"] for h in video["hits"]] == ["video"]

    table = cli(["-v", "query", "birds", "--top-k", "3"], env, work)
    assert table.returncode == 0, table.stderr
    assert "timings (ms)" in table.stdout and "reranked by" in table.stdout


def test_a_pages_unique_token_is_found_first_in_keyword_and_hybrid_mode(
    work: Path, env: dict[str, str]
) -> None:
    pages = [
        "Revenue grew in every region.",
        "The auditor flagged item quroroni1 twice.",
        "Outlook for next year.",
    ]
    make_pdf(work / "corpus" / "report.pdf", 3, texts=pages, topic="finance")
    assert cli(["ingest", str(work / "corpus")], env, work).returncode == 0
    for mode in ("keyword", "hybrid"):
        done = cli(["query", "quroroni1", "--mode", mode, "--no-rerank", "--json"], env, work)
        assert done.returncode == 0, done.stderr
        reply = json.loads(done.stdout)
        assert reply["mode"] == mode and reply["hits"][0]["page"] == 2
    keyword = json.loads(
        cli(["query", "quroroni1", "--mode", "keyword", "--json", "--no-rerank"], env, work).stdout
    )
    assert (
        len(keyword["hits"]) == 1 and "embed" not in keyword["timings_ms"]
    )  # one page holds it; nothing embedded
    phrase = json.loads(
        cli(["query", '"item quroroni1"', "--mode", "keyword", "--json", "--no-rerank"], env, work).stdout
    )
    assert [h["page"] for h in phrase["hits"]] == [2]
    assert (
        json.loads(
            cli(["query", '"quroroni1 item"', "--mode", "keyword", "--json", "--no-rerank"], env, work).stdout
        )["hits"]
        == []
    )
    table = cli(["query", "quroroni1", "--no-rerank"], env, work)  # search.mode: hybrid by default
    assert table.returncode == 0 and "hybrid search, not reranked" in table.stdout
    bad = cli(["query", "x", "--mode", "fuzzy"], env, work)
    assert bad.returncode == 2 and "fuzzy" in bad.stderr
    make_image(work / "query.jpg", "jpeg", (64, 48))
    no_words = cli(["query", "--image", str(work / "query.jpg"), "--mode", "keyword"], env, work)
    assert no_words.returncode == 1 and "keyword search needs words" in no_words.stderr


def test_query_by_image_and_stats_and_delete(work: Path, env: dict[str, str], corpus: Path) -> None:
    assert cli(["ingest", str(corpus)], env, work).returncode == 0
    by_image = cli(["query", "--image", str(corpus / "photo.jpg"), "--json", "--top-k", "2"], env, work)
    assert by_image.returncode == 0, by_image.stderr
    assert len(json.loads(by_image.stdout)["hits"]) == 2

    stats = json.loads(cli(["stats", "--json"], env, work).stdout)
    assert stats["points"] == 7 and stats["documents"] == 4

    deleted = cli(["delete", str(corpus / "finance.pdf"), "--json"], env, work)
    assert deleted.returncode == 0, deleted.stderr
    assert json.loads(deleted.stdout)["results"][0]["deleted"] == 3
    assert json.loads(cli(["stats", "--json"], env, work).stdout)["points"] == 4
    doc = doc_id_for("default", "finance.pdf")
    assert not list((work / "data" / "media").rglob(f"*{doc}*"))  # its page images went too
    assert cli(["delete", str(corpus / "finance.pdf")], env, work).returncode == 1  # already gone
    again = json.loads(cli(["ingest", str(corpus), "--json"], env, work).stdout)  # manifest forgot it
    assert {Path(f["path"]).name: f["status"] for f in again["files"]}["finance.pdf"] == "indexed"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["query", "anything"], "is empty"),
        (["query", "--image", "/no/such/file.png"], "does not exist"),
        (["query"], "give a query"),
        (["query", "x", "--filter", "colour=red"], "unknown key"),
        (["query", "x", "--filter", "after=yesterday"], "ISO date"),
    ],
)
def test_query_errors_are_clear(work: Path, env: dict[str, str], args: list[str], needle: str) -> None:
    done = cli(args, env, work)
    assert done.returncode != 0
    assert needle in done.stderr and "Traceback" not in done.stderr


def test_unreadable_query_image(work: Path, env: dict[str, str], corpus: Path) -> None:
    assert cli(["ingest", str(corpus / "photo.jpg")], env, work).returncode == 0
    bad = work / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    done = cli(["query", "--image", str(bad)], env, work)
    assert done.returncode == 1 and "broken.png" in done.stderr and "Traceback" not in done.stderr


def test_missing_model_is_a_clear_error(work: Path, env: dict[str, str], corpus: Path) -> None:
    env = dict(env, MMSEARCH_EMBEDDING__MODEL=str(work / "no-model-here"))
    done = cli(["ingest", str(corpus / "photo.jpg")], env, work)
    assert done.returncode == 1
    assert "no-model-here" in done.stderr and "embedding.model" in done.stderr
    assert "Traceback" not in done.stderr


def test_kill_9_mid_ingest_then_rerun_matches_a_clean_run(
    work: Path, env: dict[str, str], tiny_models: Path
) -> None:
    corpus = work / "big"
    for i in range(4):
        make_pdf(corpus / f"doc{i}.pdf", 6, topic=["finance", "birds", "chemistry", "finance"][i])
    # Pages at 72 dpi: a quarter of the visual tokens of the default 144, so the three ingests (killed,
    # resumed, clean) stay short on a loaded machine; 24 pages still leave time to kill in the second file.
    small = {"MMSEARCH_INGEST__PDF_DPI": "72"}
    env = dict(env, **small)
    killed_env = dict(env)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mmsearch", "ingest", str(corpus)],
        env=killed_env, cwd=work / "cwd", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    media = work / "data" / "media"
    deadline = time.monotonic() + budget(180)
    while time.monotonic() < deadline and proc.poll() is None:
        if media.exists() and sum(1 for _ in media.rglob("*.jpg")) >= 8:  # into the second file
            break
        time.sleep(0.05)
    assert proc.poll() is None, "ingest finished before it could be killed; make the corpus bigger"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    resumed = cli(["ingest", str(corpus), "--json"], env, work)
    assert resumed.returncode == 0, resumed.stderr
    statuses = [f["status"] for f in json.loads(resumed.stdout)["files"]]
    assert statuses.count("unchanged") >= 1 and statuses.count("indexed") >= 1  # finished files skipped

    clean_env = tiny_env(work / "clean", tiny_models, **small)
    assert cli(["ingest", str(corpus)], clean_env, work).returncode == 0
    resumed_stats = json.loads(cli(["stats", "--json", "--documents"], env, work).stdout)
    clean_stats = json.loads(cli(["stats", "--json", "--documents"], clean_env, work).stdout)
    assert resumed_stats["points"] == clean_stats["points"] == 24
    assert sorted(d["units"] for d in resumed_stats["documents_list"]) == [6, 6, 6, 6]


def test_unreachable_reranker_server_is_a_clear_failure(
    work: Path, env: dict[str, str], corpus: Path
) -> None:
    assert cli(["ingest", str(corpus / "photo.jpg")], env, work).returncode == 0
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    down = dict(
        env,
        MMSEARCH_RERANKER__BACKEND="vllm",
        MMSEARCH_RERANKER__URL=f"http://127.0.0.1:{port}",
        MMSEARCH_RERANKER__RETRIES="0",
    )
    done = cli(["query", "photo", "--json"], down, work)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"127.0.0.1:{port}" in done.stderr and "reranker" in done.stderr.lower()
    assert json.loads(done.stdout)["error"]["code"] == "reranker_error"
    fallback = cli(["query", "photo", "--json", "--no-rerank"], down, work)  # the vector stage still works
    assert fallback.returncode == 0 and json.loads(fallback.stdout)["reranked"] is False


def test_embed_prints_a_normalised_vector_at_the_asked_dimension(work: Path, env: dict[str, str]) -> None:
    image = make_image(work / "pic.png", "png", (200, 160))
    done = cli(["embed", "--text", "a red block", "--image", str(image), "--dim", "64", "--json"], env, work)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["dim"] == 64 == len(out["vector"]) and abs(out["norm"] - 1.0) < 1e-5
    full = json.loads(
        cli(["embed", "--text", "a red block", "--image", str(image), "--json"], env, work).stdout
    )
    head = full["vector"][:64]  # MRL: the 64-d vector is the renormalised head of the full one
    scale = sum(x * x for x in head) ** 0.5
    assert all(abs(a - b / scale) < 1e-5 for a, b in zip(out["vector"], head, strict=True))
    assert cli(["embed", "--dim", "64"], env, work).returncode == 2  # nothing to embed: usage error
    for bad in ("100000", "10"):  # above the model's size, below the MRL minimum
        refused = cli(["embed", "--text", "a red block", "--dim", bad], env, work)
        error = refused.stderr.partition("Error: ")[2]
        assert refused.returncode == 2 and "--dim" in error and bad in error, refused.stderr
        assert "Traceback" not in refused.stderr


def test_query_by_a_video_clip(work: Path, env: dict[str, str], corpus: Path) -> None:
    assert cli(["ingest", str(corpus)], env, work).returncode == 0
    clip = make_video(work / "query.mp4", 3, fps=4)
    done = cli(["query", "--video", str(clip), "--json", "--top-k", "3"], env, work)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["reranked"] is True and len(result["hits"]) == 3
    not_video = cli(["query", "--video", str(corpus / "photo.jpg")], env, work)
    assert not_video.returncode == 1 and "photo.jpg: not a video" in not_video.stderr
    assert "Traceback" not in not_video.stderr


def test_two_files_of_one_name_ids_and_unknown_deletes_as_a_user_sees_them(
    work: Path, env: dict[str, str]
) -> None:
    for conference in ("conf-a", "conf-b"):
        make_video(work / "talks" / conference / "talk.mp4", 2, fps=2)
    assert cli(["ingest", str(work / "talks")], env, work).returncode == 0

    table = cli(["query", "a talk", "--no-rerank"], dict(env, COLUMNS="100"), work)
    assert table.returncode == 0, table.stderr
    assert "conf-a/talk.mp4" in table.stdout and "conf-b/talk.mp4" in table.stdout

    ids = [doc_id_for("default", f"{c}/talk.mp4") for c in ("conf-a", "conf-b")]
    for columns in ("40", "70", "160"):
        listing = cli(["stats", "--documents"], dict(env, COLUMNS=columns), work)
        assert listing.returncode == 0, listing.stderr
        assert all(doc_id in listing.stdout for doc_id in ids), listing.stdout

    mixed = cli(["delete", ids[0], str(work / "talks" / "nowhere.mp4"), "--json"], env, work)
    assert mixed.returncode == 1 and json.loads(mixed.stdout)["error"]["code"] == "not_found"
    assert "nowhere.mp4" in mixed.stderr and "nothing was deleted" in mixed.stderr
    assert json.loads(cli(["stats", "--json"], env, work).stdout)["documents"] == 2
