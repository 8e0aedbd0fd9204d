"""Dataset loading (both layouts, and every malformed input) and the metrics wrapper."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from PIL import Image

from mmsearch.errors import DatasetError
from mmsearch.eval.dataset import load_dataset
from mmsearch.eval.metrics import evaluate
from mmsearch.index.store import Filters


def _beir(root: Path, corpus: Sequence[object], queries: Sequence[object], qrels: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (64, 48), (10, 20, 30)).save(root / "a.png")
    (root / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in corpus))
    (root / "queries.jsonl").write_text("".join(json.dumps(r) + "\n" for r in queries))
    (root / "qrels").mkdir(exist_ok=True)
    (root / "qrels" / "test.tsv").write_text(qrels)
    return root


GOOD_CORPUS = [{"_id": "d1", "image": "a.png"}, {"_id": "d2", "title": "T", "text": "body"}]
GOOD_QUERIES = [
    {"_id": "q1", "text": "x", "group": "g"},
    {"_id": "q2", "image": "a.png", "as_document": True},
]


def test_beir_layout_reads_files_text_groups_and_judgements(tmp_path: Path) -> None:
    root = _beir(
        tmp_path / "set", GOOD_CORPUS, GOOD_QUERIES, "query-id\tcorpus-id\tscore\nq1\td2\t1\nq2\td1\t2\n"
    )
    data = load_dataset(root)
    assert data.layout == "beir" and [r.id for r in data.corpus] == ["d1", "d2"]
    assert data.corpus[0].file == (root / "a.png").resolve() and data.corpus[1].text == "T body"
    assert data.queries[1].as_document and data.queries[0].group == "g"
    assert data.qrels == {"q1": {"d2": 1}, "q2": {"d1": 2}}
    assert [q.id for q in data.only_group("g").queries] == ["q1"]
    with pytest.raises(DatasetError, match="no query is in group 'nope' \\(groups: g\\)"):
        data.only_group("nope")


def test_vidore_layout_one_document_per_image_and_shared_questions(tmp_path: Path) -> None:
    root = tmp_path / "vidore"
    (root / "images").mkdir(parents=True)
    for name in ("p1.png", "p2.png", "p3.png"):
        Image.new("RGB", (32, 32)).save(root / "images" / name)
    rows = [
        {"query": "revenue?", "image": "images/p1.png", "answer": "4"},
        {"query": "revenue?", "image": "images/p2.png"},
        {"query": None, "image": "images/p3.png"},
        {"query": "title?", "image": "images/p3.png"},
    ]
    (root / "vidore.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    data = load_dataset(root)
    assert data.layout == "vidore" and [r.id for r in data.corpus] == [f"images/p{i}.png" for i in (1, 2, 3)]
    assert [(q.id, q.text) for q in data.queries] == [("q1", "revenue?"), ("q2", "title?")]
    assert data.qrels == {"q1": {"images/p1.png": 1, "images/p2.png": 1}, "q2": {"images/p3.png": 1}}


@pytest.mark.parametrize(
    ("corpus", "queries", "qrels", "message"),
    [
        (
            [{"_id": "d1", "image": "missing.png"}],
            GOOD_QUERIES,
            "q1\td1\t1\n",
            r"missing\.png does not exist",
        ),
        ([{"_id": "d1"}], GOOD_QUERIES, "q1\td1\t1\n", 'has neither a "file"/"image" nor any "text"'),
        ([{"image": "a.png"}], GOOD_QUERIES, "q1\td1\t1\n", 'needs an "_id"'),
        (
            [{"_id": "d1", "image": "a.png", "page": 0}],
            GOOD_QUERIES,
            "q1\td1\t1\n",
            '"page" must be an integer ≥ 1',
        ),
        (
            GOOD_CORPUS + [{"_id": "d1", "text": "again"}],
            GOOD_QUERIES,
            "q1\td1\t1\n",
            "appears more than once",
        ),
        (GOOD_CORPUS, [{"_id": "q1"}], "q1\td1\t1\n", 'has no "text", "image" or "video"'),
        (GOOD_CORPUS, [{"_id": "q1", "text": "x", "as_document": "yes"}], "q1\td1\t1\n", "true or false"),
        (GOOD_CORPUS, GOOD_QUERIES, "q1\tzzz\t1\n", "corpus ids that corpus.jsonl does not have: zzz"),
        (GOOD_CORPUS, GOOD_QUERIES, "q1\td1\n", "expected query-id, corpus-id, score"),
        (GOOD_CORPUS, GOOD_QUERIES, "q1\td1\thigh\n", "score 'high' is not an integer"),
        (GOOD_CORPUS, GOOD_QUERIES, "q9\td1\t1\n", "no query in queries.jsonl has a relevant document"),
    ],
)
def test_malformed_beir_sets_name_the_problem(
    tmp_path: Path, corpus: list[object], queries: list[object], qrels: str, message: str
) -> None:
    root = _beir(tmp_path / "set", corpus, queries, qrels)
    with pytest.raises(DatasetError, match=message):
        load_dataset(root)


def test_unreadable_layouts(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not a folder"):
        load_dataset(tmp_path / "nowhere")
    with pytest.raises(DatasetError, match="neither corpus.jsonl .* nor vidore.jsonl"):
        load_dataset(tmp_path)
    root = _beir(tmp_path / "set", GOOD_CORPUS, GOOD_QUERIES, "q1\td1\t1\n")
    (root / "corpus.jsonl").write_text('{"_id": "d1", "image": "a.png"}\nnot json\n')
    with pytest.raises(DatasetError, match="corpus.jsonl:2: not valid JSON"):
        load_dataset(root)
    (root / "corpus.jsonl").write_text("[1, 2]\n")
    with pytest.raises(DatasetError, match="expected a JSON object, got list"):
        load_dataset(root)
    (root / "corpus.jsonl").write_text(json.dumps(GOOD_CORPUS[0]) + "\n")
    with pytest.raises(DatasetError, match=r"qrels/dev\.tsv: no qrels file \(splits here: test"):
        load_dataset(root, split="dev")


def test_metrics_come_from_trec_eval_in_our_order() -> None:
    qrels = {"q1": {"a": 1}, "q2": {"b": 1, "c": 1}}
    perfect = evaluate(qrels, {"q1": ["a", "x"], "q2": ["b", "c"]})
    assert perfect["recall@1"] == pytest.approx(0.75)  # q2 has two relevant documents: 1/2 at rank 1
    assert all(value == pytest.approx(1.0) for name, value in perfect.items() if name != "recall@1")
    second = evaluate({"q1": {"a": 1}}, {"q1": ["x", "a", "y"]})
    assert second["recall@1"] == 0.0 and second["recall@5"] == 1.0 and second["MRR@10"] == pytest.approx(0.5)
    assert second["nDCG@5"] == pytest.approx(1 / 1.5849625, rel=1e-6)  # 1 / log2(3)
    half = evaluate(qrels, {"q1": ["a"], "q2": ["z", "y"]})  # q2 finds nothing
    assert half["recall@1"] == pytest.approx(0.5) and half["recall@50"] == pytest.approx(0.5)
    assert evaluate(qrels, {"q1": [], "q2": ["b"]})["recall@10"] == pytest.approx(0.25)


def test_corpus_metadata_and_query_filters_are_read(tmp_path: Path) -> None:
    corpus = [
        {"_id": "d1", "image": "a.png", "collection": "finance", "metadata": {"year": 2024, "tags": ["a"]}},
        {"_id": "d2", "text": "body"},
    ]
    queries = [
        {"_id": "q1", "text": "x", "filters": {"collection": ["finance"], "not": {"metadata": {"year": 2023}}}},
        {"_id": "q2", "text": "y"},
    ]  # fmt: skip
    data = load_dataset(_beir(tmp_path / "set", corpus, queries, "q1\td1\t1\nq2\td2\t1\n"))
    assert (data.corpus[0].collection, data.corpus[0].metadata) == ("finance", {"year": 2024, "tags": ["a"]})
    assert (data.corpus[1].collection, data.corpus[1].metadata) == (None, {})
    assert data.queries[0].filters == Filters(collection="finance", not_=Filters(metadata={"year": 2023}))
    assert data.queries[1].filters is None
    with pytest.raises(DatasetError, match="not combined, and query q1 has its own"):
        data.with_filters(Filters(modality="page"))
    only_q2 = data.only_group(None)
    assert only_q2.with_filters(None) is only_q2


@pytest.mark.parametrize(
    ("corpus", "queries", "message"),
    [
        ([{"_id": "d1", "image": "a.png", "metadata": {"k": {"nested": 1}}}], GOOD_QUERIES, '"metadata" must be a flat'),
        ([{"_id": "d1", "text": "t", "metadata": ["x"]}], GOOD_QUERIES, '"metadata" must be a flat'),
        (GOOD_CORPUS, [{"_id": "q1", "text": "x", "filters": {"colour": "red"}}], 'bad "filters": colour: Extra'),
        (GOOD_CORPUS, [{"_id": "q1", "text": "x", "filters": {"modality": "audio"}}], "bad \"filters\": modality"),
        (
            GOOD_CORPUS,
            [{"_id": "q1", "text": "x", "filters": {"metadata_ranges": {"y": {"gte": 3, "lt": 1}}}}],
            "range is empty",
        ),
    ],
)  # fmt: skip
def test_bad_metadata_and_filters_name_the_row(
    tmp_path: Path, corpus: list[object], queries: list[object], message: str
) -> None:
    with pytest.raises(DatasetError, match=message):
        load_dataset(_beir(tmp_path / "set", corpus, queries, "q1\td1\t1\n"))
