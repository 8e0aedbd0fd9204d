"""Per-stage latency of the query path: embed the query, vector search, rerank, over a generated corpus.

    python bench/query.py                    # the configured models (config.yaml / MMSEARCH_*), GPU if any
    python bench/query.py --tiny             # CPU smoke test on the tiny random test models (seconds)
    python bench/query.py --pdfs 20 --pages 10 --queries 20 --candidates 50 --json

The corpus (``mmsearch.samples``: PDFs with text, tables and charts on several topics, plus the sample
images and video) is generated and ingested into a temporary ``data_dir`` first; ingest is timed too
(units/s). Then each query runs through the production ``Searcher`` (``components.build_*``, exactly as
``mmsearch query`` and the API build it) and its ``timings_ms`` are collected: p50/p95 per stage. Text
queries use each page's marker word, so a real model has something to find. For batched vs
one-pair-at-a-time reranking of 50 page images on the real 2B/8B shapes, see ``bench/rerank.py``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.embed import load_tiny_builder
from mmsearch import components
from mmsearch.config import Settings, load_settings
from mmsearch.samples import TOPICS, make_pdf, make_sample_corpus, marker_word
from mmsearch.search.searcher import Query

STAGES = ("embed", "search", "rerank", "total")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def make_corpus(folder: Path, pdfs: int, pages: int) -> list[str]:
    """Sample corpus plus ``pdfs`` extra PDFs; returns one query per extra PDF page (its marker word)."""
    make_sample_corpus(folder)
    topics = sorted(TOPICS)
    queries = []
    for i in range(pdfs):
        topic = topics[i % len(topics)]
        make_pdf(folder / f"bench-{i:03d}.pdf", pages, topic=topic)
        queries += [f"{topic} page with keyword {marker_word(topic, p)}" for p in range(1, pages + 1)]
    return queries


def settings_for(args: argparse.Namespace, data_dir: Path) -> Settings:
    overrides: dict[str, Any] = {"data_dir": str(data_dir), "search": {"candidates": args.candidates}}
    if args.tiny:
        models = data_dir.parent / "tiny-models"
        load_tiny_builder().build_tiny_models(models)
        overrides["embedding"] = {"model": str(models / "embedding"), "device": "cpu"}
        overrides["reranker"] = {"model": str(models / "reranker"), "device": "cpu"}
    return load_settings(args.config, overrides)


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="mmsearch-bench-") as tmp:
        root = Path(tmp)
        queries = make_corpus(root / "corpus", args.pdfs, args.pages)[: args.queries]
        settings = settings_for(args, root / "data")
        store = components.build_store(settings)
        try:
            embedder = components.build_embedder(settings)
            with components.build_manifest(settings) as manifest:
                indexer = components.build_indexer(settings, embedder, store, manifest, None)
                started = time.perf_counter()
                report = indexer.run([root / "corpus"])
                ingest_s = time.perf_counter() - started
            reranker = components.build_reranker(settings)
            searcher = components.build_searcher(settings, embedder, store, reranker)
            searcher.search(Query(text="warm-up"), top_k=args.top_k)  # first call pays lazy set-up
            timings: dict[str, list[float]] = {stage: [] for stage in STAGES}
            for text in queries:
                result = searcher.search(Query(text=text), top_k=args.top_k)
                for stage in STAGES:
                    if stage in result.timings_ms:
                        timings[stage].append(result.timings_ms[stage])
        finally:
            store.close()
    return {
        "embedding_model": settings.embedding.model,
        "reranker_model": settings.reranker.model if reranker is not None else None,
        "units": report.units,
        "ingest_units_per_s": round(report.units / ingest_s, 2),
        "queries": len(queries),
        "candidates": args.candidates,
        "stages_ms": {
            stage: {"p50": round(statistics.median(v), 2), "p95": round(percentile(v, 0.95), 2)}
            for stage, v in timings.items()
            if v
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tiny", action="store_true", help="tiny random models on CPU (smoke test)")
    parser.add_argument("--config", type=Path, help="config file (default: as mmsearch finds it)")
    parser.add_argument("--pdfs", type=int, default=6, help="extra generated PDFs")
    parser.add_argument("--pages", type=int, default=5, help="pages per extra PDF")
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--candidates", type=int, default=50)
    parser.add_argument("--top-k", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    out = run(args)
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"corpus: {out['units']} units, ingest {out['ingest_units_per_s']} units/s")
    print(f"{out['queries']} queries, {out['candidates']} candidates, models: {out['embedding_model']}"
          f" + {out['reranker_model']}")  # fmt: skip
    for stage, row in out["stages_ms"].items():
        print(f"  {stage:<7} p50 {row['p50']:>9.2f} ms   p95 {row['p95']:>9.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
