"""``mmsearch query`` shows each hit's words: ``--include-text`` and the JSON fields (text, snippet ranges,
highlights, content hash, mode) end to end on a generated PDF; the table's bold terms only on a terminal,
never markup or control codes from the document; and a highlight box on the stored page image where
PyMuPDF itself puts the word."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pymupdf
import pytest
from PIL import Image
from rich.console import Console

from mmsearch.cli.query import print_hits
from mmsearch.cli.server_reader import as_local
from mmsearch.client.results import read_result
from mmsearch.samples import make_pdf
from mmsearch.search.hits import Hit, SearchResult
from tests.support import run_cli, tiny_env

TOKEN = "quroroni1"  # printed on page 1 of the finance sample only


@pytest.fixture(scope="module")
def work(tiny_models: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("cli-words")
    (root / "cwd").mkdir()
    make_pdf(root / "corpus" / "report.pdf", 2, topic="finance", with_tables=False, with_charts=False)
    env = tiny_env(root / "data", tiny_models)
    done = run_cli(["ingest", str(root / "corpus"), "--json"], env, root / "cwd")
    assert done.returncode == 0, done.stderr
    return root, env


def query(work: tuple[Path, dict[str, str]], *args: str) -> str:
    root, env = work
    done = run_cli(["query", *args, "--no-rerank"], env, root / "cwd")
    assert done.returncode == 0, done.stderr
    return done.stdout


def page_hit(reply: dict[str, Any], page: int) -> dict[str, Any]:
    (hit,) = [h for h in reply["hits"] if h["page"] == page]
    return hit


@pytest.mark.slow
def test_include_text_and_the_word_fields_in_json(work: tuple[Path, dict[str, str]]) -> None:
    root, _ = work
    with pymupdf.open(root / "corpus" / "report.pdf") as pdf:
        expected = pdf[0].get_text().strip()
    reply = json.loads(query(work, f"{TOKEN.upper()} Dividends", "--include-text", "--json"))
    assert reply["mode"] == "hybrid"  # search.mode's default
    hit = page_hit(reply, 1)
    assert hit["text"] == expected and hit["text_truncated"] is False and hit["content_hash"]
    assert {hit["snippet"][a:b].lower() for a, b in hit["snippet_ranges"]} == {TOKEN, "dividend"}
    plain = page_hit(json.loads(query(work, TOKEN, "--json")), 1)
    assert plain["text"] is None and plain["content_hash"] == hit["content_hash"]


@pytest.mark.slow
def test_the_table_on_a_pipe_has_no_styling_and_prints_the_text_when_asked(
    work: tuple[Path, dict[str, str]],
) -> None:
    table = query(work, TOKEN, "--include-text")
    assert "\x1b[" not in table and TOKEN in table
    assert "#1 report.pdf" in table and "Finance page" in table.split("candidates")[-1]


@pytest.mark.slow
def test_the_highlight_box_is_pymupdfs_word_box_on_the_stored_image(
    work: tuple[Path, dict[str, str]],
) -> None:
    root, _ = work
    hit = page_hit(json.loads(query(work, TOKEN, "--json")), 1)
    with pymupdf.open(root / "corpus" / "report.pdf") as pdf:
        page = pdf[0]
        size = page.rect.width, page.rect.height
        (word,) = [w[:4] for w in page.get_text("words") if TOKEN in w[4]]
    with Image.open(root / "data" / hit["image_path"]) as image:
        scale = image.width / size[0], image.height / size[1]
    expected = [word[0] * scale[0], word[1] * scale[1], word[2] * scale[0], word[3] * scale[1]]
    assert len(hit["highlights"]) == 1, hit["highlights"]
    assert hit["highlights"][0] == pytest.approx(expected, abs=2.0)


def a_hit(snippet: str, ranges: tuple[tuple[int, int], ...], text: str | None = None) -> Hit:
    return Hit(
        rank=1, point_id="p", score=0.5, vector_score=0.5, rerank_score=None, doc_id="d", source_path="/x",
        modality="page", page=1, page_count=1, t_start=None, t_end=None, snippet=snippet, media_paths=(),
        name="x.pdf", snippet_ranges=ranges, text=text,
    )  # fmt: skip


def printed(hit: Hit, terminal: bool) -> str:
    out = io.StringIO()
    if terminal:
        console = Console(file=out, force_terminal=True, width=200, color_system="standard")
    else:  # as the CLI's own Console() finds a pipe
        console = Console(file=out, width=200)
    print_hits(SearchResult((hit,), False, None, 1), verbose=False, console=console)
    return out.getvalue()


def test_matched_terms_are_bold_on_a_terminal_and_document_markup_stays_text() -> None:
    snippet = "[bold red]x[/] total \x1b[31m due"
    hit = a_hit(snippet, ((snippet.index("total"), snippet.index("total") + 5),), text="body \x07 [i]y[/i]")
    shown = printed(hit, terminal=True)
    assert "\x1b[1mtotal\x1b[0m" in shown  # bold, and only the term
    assert "[bold red]x[/]" in shown and "[i]y[/i]" in shown  # the document's brackets, printed as they are
    assert "\x1b[31m" not in shown and "\x07" not in shown and "\ufffd" in shown  # its control codes are not
    plain = printed(hit, terminal=False)
    assert "\x1b" not in plain and "total" in plain


def test_a_servers_reply_keeps_ranges_boxes_and_mode_for_the_table() -> None:
    reply: dict[str, Any] = {
        "reranked": False, "reranker": None, "candidates": 1, "timings_ms": {}, "mode": "vector",
        "hits": [{
            "rank": 1, "point_id": "p", "score": 0.5, "vector_score": 0.5, "rerank_score": None, "doc_id": "d",
            "collection": "default", "name": "x.pdf", "groups": [], "metadata": {}, "modality": "page",
            "page": 1, "page_count": 1, "t_start": None, "t_end": None, "snippet": "net total",
            "snippet_ranges": [[4, 9]], "highlights": [[1, 2, 3, 4]], "content_hash": "c", "text": "net total",
            "text_truncated": False, "image_url": "u",
        }],
    }  # fmt: skip
    result = as_local(read_result(reply))
    assert result.mode == "vector"
    (hit,) = result.hits
    assert hit.snippet_ranges == ((4, 9),) and hit.highlights == ((1, 2, 3, 4),) and hit.text == "net total"
    assert "\x1b[1mtotal\x1b[0m" in printed(hit, terminal=True)
