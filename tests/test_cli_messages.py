"""What a new user sees on bad input and in tables, without any model: the ``mmsearch`` command's entry
point (run in process) for the error shape, and the table printers on a narrow rich console."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from io import StringIO
from pathlib import Path

import pytest
from rich.console import Console

from mmsearch.cli.admin import print_documents
from mmsearch.cli.query import print_hits, short_names
from mmsearch.index.listing import ListedDocument
from mmsearch.ingest.units import doc_id_for, legacy_doc_id
from mmsearch.search.hits import Hit, SearchResult
from tests.support import run_cli


def bare_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MMSEARCH_")}
    env.update(MMSEARCH_DATA_DIR=str(data_dir), HF_HUB_OFFLINE="1", **extra)
    return env


def test_delete_of_an_unknown_path_or_id_is_the_one_error_shape(tmp_path: Path) -> None:
    (tmp_path / "cwd").mkdir()
    env = bare_env(tmp_path / "data")
    plain = run_cli(["delete", str(tmp_path / "never-ingested.pdf")], env, tmp_path / "cwd")
    assert plain.returncode == 1 and plain.stdout == ""
    assert plain.stderr.startswith("Error: not in the index: ") and "never-ingested.pdf" in plain.stderr
    assert "stats --documents" in plain.stderr and "Traceback" not in plain.stderr

    as_json = run_cli(["delete", "3f2c9a1e-0000-4000-8000-000000000000", "--json"], env, tmp_path / "cwd")
    assert as_json.returncode == 1
    error = json.loads(as_json.stdout)["error"]
    assert error["code"] == "not_found" and "3f2c9a1e-0000-4000-8000-000000000000" in error["message"]
    assert as_json.stderr.startswith("Error: not in the index")


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--candidates", "5", "--top-k", "10"], ["--candidates 5", "--top-k 10"]),
        (["--candidates", "3"], ["--candidates 3", "search.top_k 10", "--top-k"]),
    ],
)
def test_candidates_below_top_k_is_an_error_naming_both(
    tmp_path: Path, args: list[str], needles: list[str]
) -> None:
    (tmp_path / "cwd").mkdir()
    done = run_cli(["query", "anything", *args], bare_env(tmp_path / "data"), tmp_path / "cwd")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    for needle in needles:
        assert needle in done.stderr
    assert not (tmp_path / "data").exists()  # refused before any store was opened


def test_query_help_says_candidates_cover_top_k(tmp_path: Path) -> None:
    done = run_cli(["query", "--help"], bare_env(tmp_path / "data"), tmp_path)
    assert done.returncode == 0 and "at least --top-k" in done.stdout and "--server URL" in done.stdout


def test_short_names_tell_files_of_one_name_apart() -> None:
    paths = ["/talks/2023/talk.mp4", "/talks/2024/talk.mp4", "/docs/report.pdf", "/talks/2023/talk.mp4"]
    assert short_names(paths) == {
        "/talks/2023/talk.mp4": "2023/talk.mp4",
        "/talks/2024/talk.mp4": "2024/talk.mp4",
        "/docs/report.pdf": "report.pdf",
    }
    deep = ["/a/x/same/talk.mp4", "/b/x/same/talk.mp4", "/talk.mp4"]
    assert short_names(deep) == {
        "/a/x/same/talk.mp4": "a/x/same/talk.mp4",
        "/b/x/same/talk.mp4": "b/x/same/talk.mp4",
        "/talk.mp4": "/talk.mp4",
    }


def _hit(rank: int, path: str) -> Hit:
    return Hit(rank, f"p{rank}", 0.5, 0.5, None, legacy_doc_id(path), path, "video", None, None, 0.0, 30.0,
               "", ())  # fmt: skip  # a point stored before names: shown by its path


def test_query_table_shows_names_and_collections() -> None:
    named = [
        replace(_hit(1, "/srv/uploads/finance/q3/report.pdf"), collection="finance", name="q3/report.pdf"),
        replace(_hit(2, "/srv/uploads/default/memo.pdf"), name="memo.pdf"),
    ]
    text = _render(
        120, lambda console: print_hits(SearchResult(tuple(named), False, None, 2), False, console)
    )
    assert "finance:q3/report.pdf" in text and "memo.pdf" in text and "/srv/uploads" not in text


def _render(width: int, draw: object) -> str:
    out = StringIO()
    console = Console(file=out, width=width, color_system=None)
    draw(console)  # type: ignore[operator]
    return out.getvalue()


def test_query_table_shows_which_talk_mp4() -> None:
    hits = (_hit(1, "/media/conf-a/talk.mp4"), _hit(2, "/media/conf-b/talk.mp4"), _hit(3, "/m/[b]/talk.mp4"))
    result = SearchResult(hits, reranked=False, reranker=None, candidates=3)
    for width in (72, 120):
        text = _render(width, lambda console: print_hits(result, verbose=False, console=console))
        assert "conf-a/talk.mp4" in text and "conf-b/talk.mp4" in text, text
        assert "[b]/talk.mp4" in text  # a name is text, never rich markup


@pytest.mark.parametrize("width", [30, 60, 80, 200])
def test_stats_documents_never_cuts_ids(width: int) -> None:
    docs = [
        ListedDocument(doc_id_for("default", f"very/long/folder/[name]/number/{i}/report-{i}.pdf"), "default",
                       f"very/long/folder/[name]/number/{i}/report-{i}.pdf", "/srv/x.pdf", "page", 12, 0.0, "ab" * 32)
        for i in range(3)
    ]  # fmt: skip
    text = _render(width, lambda console: print_documents(console, docs))
    assert "…" not in text
    for doc in docs:
        assert doc.doc_id in text
    assert "[name]" in text  # a path is text, never rich markup
    if width < 60:  # the one-block-per-document layout: paths whole too (the terminal wraps them)
        assert all(doc.name in text for doc in docs)
