"""``mmsearch eval`` end to end on the shipped generated set, with the tiny random models.

Random weights rank nothing meaningfully, except that identical input gives the identical vector: the
``exact`` group (each query is a corpus document, embedded with the document instruction) must have
recall@1 = 1.0 at the vector stage, through ingest, storage, MRL truncation, search and id mapping.
The other checks are about consistency: what rerank on/off and --compare must agree on.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mmsearch.samples import marker_word, scanned_word
from tests.ocr_support import needs_tesseract
from tests.support import run_cli, tiny_env

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("eval")
    (root / "cwd").mkdir()
    return root


@pytest.fixture(scope="module")
def env(work: Path, tiny_models: Path) -> dict[str, str]:
    return tiny_env(work / "data", tiny_models)


@pytest.fixture(scope="module")
def sample(work: Path, env: dict[str, str]) -> Path:
    done = run_cli(["eval", "--make-sample", str(work / "set")], env, work / "cwd")
    assert done.returncode == 0, done.stderr
    assert "11 exact" in done.stdout
    return work / "set"


def _eval(args: list[str], env: dict[str, str], work: Path) -> dict[str, Any]:
    done = run_cli(["eval", *args, "--json"], env, work / "cwd")
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def test_exact_copies_are_found_first_at_every_dimension(
    sample: Path, env: dict[str, str], work: Path
) -> None:
    report = _eval([str(sample), "--group", "exact", "--no-rerank", "--compare", "dim=64,128"], env, work)
    assert report["layout"] == "beir" and report["queries"] == 11 and report["corpus_rows"] == 12
    assert [r["config"]["dim"] for r in report["results"]] == [64, 128]
    for result in report["results"]:
        assert result["first_stage"]["recall@1"] == 1.0 and result["first_stage"]["MRR@10"] == 1.0
        assert result["reranked"] is None and set(result["latency_ms"]) == {"embed", "search"}
        assert result["latency_ms"]["search"]["p50_ms"] <= result["latency_ms"]["search"]["p95_ms"]


def test_rerank_on_and_off_agree_where_they_must(sample: Path, env: dict[str, str], work: Path) -> None:
    report = _eval(
        [str(sample), "--group", "text", "--candidates", "4", "--compare", "dim=64,128", "--compare", "rerank=on,off"],
        env,
        work,
    )  # fmt: skip
    assert report["corpus_reused"] is True  # the first test embedded the corpus; this run reuses it
    by = {(r["config"]["dim"], r["config"]["rerank"]): r for r in report["results"]}
    assert set(by) == {(64, True), (64, False), (128, True), (128, False)}
    assert report["reranker"] is not None
    for dim in (64, 128):
        on, off = by[(dim, True)], by[(dim, False)]
        assert on["first_stage"] == off["first_stage"]  # the same vector stage
        assert off["reranked"] is None and on["reranked"] is not None
        assert "rerank" in on["latency_ms"] and "rerank" not in off["latency_ms"]
        # reranking reorders the top 4 only: what is in the top 10 and top 50 cannot change
        for name in ("recall@10", "recall@50"):
            assert on["reranked"][name] == on["first_stage"][name]
    assert set(report["groups"]) == {"text"}


def test_the_keyword_group_asks_for_words_found_on_one_page_each(
    sample: Path, env: dict[str, str], work: Path
) -> None:
    needs_tesseract()  # one of its pages is a scan: its word is read by OCR
    report = _eval([str(sample), "--group", "keyword", "--no-rerank"], env, work)
    assert report["queries"] == 4 and set(report["groups"]) == {"keyword"}
    # the eval corpus is read as `mmsearch ingest` reads it: the scanned page's text came from OCR
    [cached] = {path.read_text() for path in (work / "data" / "eval").glob("set-*/corpus-*.json")}
    payloads = {p["name"] + f"#{p['page']}": p for p in json.loads(cached)["payloads"] if p["page"]}
    scan = payloads["scan.pdf#1"]
    assert scan["text_source"] == "ocr" and scanned_word(1) in scan["search_text"].split()
    for number in (1, 2, 3):
        page = payloads[f"report.pdf#{number}"]
        assert page["text_source"] == "layer" and marker_word("finance", number) + "." in page["text"]


def test_keyword_and_hybrid_find_each_keywords_page_first(
    sample: Path, env: dict[str, str], work: Path
) -> None:
    """Issue 20's bar, with random weights: a word on exactly one page (one of them only in a scan's
    pixels) is that page at rank 1 in keyword and hybrid mode, before reranking. Needs the lexical stage
    (``--compare mode=``, h20a): fails on a branch without it."""
    needs_tesseract()
    report = _eval(
        [str(sample), "--group", "keyword", "--no-rerank", "--compare", "mode=keyword,hybrid"], env, work
    )
    assert [r["config"]["mode"] for r in report["results"]] == ["keyword", "hybrid"]
    for result in report["results"]:
        assert result["first_stage"]["recall@1"] == 1.0, result["config"]
        assert result["first_stage"]["MRR@10"] == 1.0, result["config"]


def test_tables_for_people(sample: Path, env: dict[str, str], work: Path) -> None:
    args = ["eval", str(sample), "--group", "exact", "--candidates", "2"]
    one = run_cli(args, env, work / "cwd")
    assert one.returncode == 0, one.stderr
    assert "vector" in one.stdout and "reranked" in one.stdout and "rerank ms p95" in one.stdout
    assert "group exact: 11 queries, 12 documents" in one.stdout
    side = run_cli([*args, "--no-rerank", "--compare", "dim=64,128"], env, work / "cwd")
    assert side.returncode == 0, side.stderr
    assert "dim 64, no rerank" in side.stdout and "dim 128, no rerank" in side.stdout
    assert "recall@1 vector" in side.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--compare", "dim"], "expected KEY=V1,V2"),
        (["--compare", "colour=red"], "unknown key 'colour'"),
        (["--compare", "rerank=maybe"], "use on or off"),
        (["--compare", "dim=4096"], "choose 64 ≤ dim ≤ 128"),
        (["--compare", "prefetch=128"], "below the vector dimension"),
        (["--compare", "mode=fuzzy"], "use hybrid, vector, keyword"),
        (["--group", "nope"], "no query is in group 'nope'"),
    ],
)
def test_bad_options_are_refused_by_name(
    sample: Path, env: dict[str, str], work: Path, args: list[str], message: str
) -> None:
    done = run_cli(["eval", str(sample), "--no-rerank", *args], env, work / "cwd")
    assert done.returncode != 0 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_a_folder_that_is_no_dataset(work: Path, env: dict[str, str]) -> None:
    done = run_cli(["eval", str(work / "cwd"), "--json"], env, work / "cwd")
    assert done.returncode == 1 and json.loads(done.stdout)["error"]["code"] == "dataset_error"


@pytest.fixture(scope="module")
def labelled(work: Path) -> Path:
    """Three pictures with a year each; every query is an exact copy of one (as_document), so without
    a filter each finds its own picture first: a filter that keeps it keeps recall@1 at 1, one that
    leaves it out drops it to 0."""
    from PIL import Image

    root = work / "labelled"
    root.mkdir()
    rows, queries = [], []
    for i, (year, colour) in enumerate([(2022, (200, 30, 30)), (2023, (30, 200, 30)), (2024, (30, 30, 200))]):
        Image.new("RGB", (64, 48), colour).save(root / f"p{i}.png")
        rows.append({"_id": f"d{i}", "image": f"p{i}.png", "metadata": {"year": year}})
    queries = [
        {"_id": "q0", "image": "p0.png", "as_document": True, "group": "own", "filters": {"metadata": {"year": 2022}}},
        {"_id": "q1", "image": "p1.png", "as_document": True, "group": "own", "filters": {"not": {"metadata": {"year": 2023}}}},
        {"_id": "q2", "image": "p2.png", "as_document": True, "group": "own", "filters": {"metadata_ranges": {"year": {"gte": 2024}}}},
        {"_id": "q3", "image": "p2.png", "as_document": True, "group": "plain"},
    ]  # fmt: skip
    (root / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (root / "qrels").mkdir()
    (root / "qrels" / "test.tsv").write_text("q0\td0\t1\nq1\td1\t1\nq2\td2\t1\nq3\td2\t1\n")
    return root


def test_query_filters_and_the_filter_flag_restrict_the_eval(
    labelled: Path, env: dict[str, str], work: Path
) -> None:
    own = _eval([str(labelled), "--group", "own", "--no-rerank"], env, work)
    assert own["results"][0]["first_stage"]["recall@1"] == pytest.approx(2 / 3)  # q1 filtered its own out
    kept = _eval(
        [str(labelled), "--group", "plain", "--no-rerank", "--filter", "metadata.year>=2024"], env, work
    )
    assert kept["results"][0]["first_stage"]["recall@1"] == 1.0
    gone = _eval(
        [str(labelled), "--group", "plain", "--no-rerank", "--filter", "!metadata.year=2024"], env, work
    )
    assert gone["results"][0]["first_stage"]["recall@50"] == 0.0
    both = run_cli(["eval", str(labelled), "--no-rerank", "--filter", "modality=image"], env, work / "cwd")
    assert both.returncode == 1 and "not combined" in both.stderr
    bad = run_cli(["eval", str(labelled), "--filter", "metadata.year>=soon"], env, work / "cwd")
    assert bad.returncode == 2 and "--filter" in bad.stderr


@pytest.fixture(scope="module")
def tokens(work: Path) -> Path:
    """Six text rows that share their words but one token each; each query names one token alone."""
    root = work / "tokens"
    (root / "qrels").mkdir(parents=True)
    rows = [
        {"_id": f"d{i}", "text": f"quarterly report of the north office, page {i}: code zx{1000 + i}"}
        for i in range(6)
    ]
    queries = [{"_id": f"q{i}", "text": f"zx{1000 + i}"} for i in range(6)]
    (root / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (root / "qrels" / "test.tsv").write_text("".join(f"q{i}\td{i}\t1\n" for i in range(6)))
    return root


def test_compare_modes_keyword_and_hybrid_find_a_unique_token_first(
    tokens: Path, env: dict[str, str], work: Path
) -> None:
    """With random weights the vector stage ranks the six near-identical rows by chance; BM25 finds the
    one row holding the token, alone (keyword) or fused first with the vector list (hybrid, RRF)."""
    report = _eval([str(tokens), "--no-rerank", "--compare", "mode=vector,keyword,hybrid"], env, work)
    by = {r["config"]["mode"]: r for r in report["results"]}
    assert list(by) == ["vector", "keyword", "hybrid"]
    assert [r["config"]["label"] for r in report["results"]][1].startswith("keyword, dim")
    for mode in ("keyword", "hybrid"):
        assert by[mode]["first_stage"]["recall@1"] == 1.0 and by[mode]["first_stage"]["MRR@10"] == 1.0
    assert by["keyword"]["first_stage"]["recall@50"] == 1.0  # only the token's row scores at all
