"""Mmsearch's overhead over the bare engine on the query path, at 10k points (issue 22: ≤ 2 ms).

One embedded store (Qdrant Edge) of ``--n`` points with payloads as an ingest writes them (a page's text
layer of ``--text-chars`` characters, its media path, the document's labels), ten pages per document,
every document committed in a real manifest. Each query vector is searched, in turns, by:

- ``engine``: the bare engine — ``EdgeShard.query`` with the request mmsearch builds (``search_request``),
  payloads included, as the engine hands them to Python;
- ``store``: ``EdgeStore.search`` with the scope the API adds to every search (``Filters.scope``);
- ``searcher``: ``Searcher.search`` (reranker none) as ``mmsearch serve`` builds it (committed versions
  from the manifest, the scope), minus the query embedding: the query vector is given, not embedded;
- ``api``: ``searcher`` plus each hit made into the API's ``HitOut`` with its URLs (``routes/links.py``),
  through a real Starlette request on the API's own routes.

It prints p50/p95 ms of each and the overheads (``store``/``searcher``/``api`` minus ``engine``, medians of
per-query differences). Timings interleave (each query runs every path in turn), so the load of a shared
machine falls on all alike; compare ratios, and re-measure on a quiet machine.

    .venv/bin/python bench/search_overhead.py                  # 10k points, 300 queries
    .venv/bin/python bench/search_overhead.py --n 1000 --json  # one JSON object
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fastapi import FastAPI
from starlette.requests import Request

from mmsearch import components
from mmsearch.api.routes import documents, images
from mmsearch.api.routes.links import hit_out
from mmsearch.config import load_settings
from mmsearch.index.edge_store import EdgeStore, search_request
from mmsearch.index.inputs import Content
from mmsearch.index.store import Filters, Payload, Point, Scope
from mmsearch.index.store_registry import open_store
from mmsearch.ingest.manifest import Manifest
from mmsearch.ingest.units import Source
from mmsearch.search.searcher import Query, Searcher

MODEL = "bench/search-overhead"
PAGES = 10  # points per document
CHUNK = 1000
PATHS = ("engine", "store", "searcher", "api")


class GivenVectors:
    """The embedder seam answering with the query vectors the bench hands it, in turn: the searcher's
    path is timed without a model (the model's time is not mmsearch's overhead)."""

    model_id = MODEL

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.next: np.ndarray | None = None

    def embed(self, items: Sequence[Content], instruction: str) -> np.ndarray:
        assert self.next is not None and len(items) == 1
        return self.next[None, :]


def payload(i: int, dim: int, text: str) -> Payload:
    doc = i // PAGES
    return Payload(
        doc_id=doc_id(doc), source_path=f"/srv/mmsearch/uploads/default/reports/{doc:05d}.pdf", modality="page",
        text=text, media_paths=(f"media/{doc:05d}/page-{i % PAGES + 1:04d}.jpg",), content_hash=f"{i:064x}",
        source_sha256=sha(doc), ingest_time=1.7e9 + i, model_id=MODEL, dim=dim, page=i % PAGES + 1,
        page_count=PAGES, collection="default", name=f"reports/{doc:05d}.pdf", groups=(),
        metadata={"year": 2000 + doc % 25, "team": f"team-{doc % 7}"},
    )  # fmt: skip


def doc_id(doc: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_OID, f"bench-doc-{doc}"))


def sha(doc: int) -> str:
    return f"{doc:064x}"


def build(data_dir: Path, n: int, dim: int, text_chars: int, rng: np.random.Generator) -> EdgeStore:
    settings = load_settings(None, {"data_dir": str(data_dir)})
    store = open_store(settings.store, settings.index, settings.store_path)
    assert isinstance(store, EdgeStore)
    store.ensure_collection(MODEL, dim)
    words = [
        "the",
        "quarterly",
        "revenue",
        "grew",
        "across",
        "every",
        "region",
        "while",
        "costs",
        "held",
        "steady",
    ]
    text = " ".join(words[j % len(words)] for j in range(text_chars // 6))[:text_chars]
    for start in range(0, n, CHUNK):
        block = rng.standard_normal((min(CHUNK, n - start), dim)).astype(np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        store.upsert([Point(str(uuid.UUID(int=start + j + 1)), v, payload(start + j, dim, text))
                      for j, v in enumerate(block)])  # fmt: skip
    with Manifest(data_dir / "manifest.sqlite") as manifest:
        for doc in range(-(-n // PAGES)):
            name = f"reports/{doc:05d}.pdf"
            source = Source(f"/srv/mmsearch/uploads/default/{name}", sha(doc), 1, 1.0, "pdf", "default",
                            name, doc_id(doc))  # fmt: skip
            manifest.mark_done(source, "fp", [])
    return store


def api_request() -> Request:
    """A request as the search route gets one: on an app with the image and file routes, no auth."""
    app = FastAPI()
    app.include_router(images.router)
    app.include_router(documents.router)
    scope = {
        "type": "http", "method": "POST", "path": "/v1/search", "root_path": "", "scheme": "http",
        "server": ("127.0.0.1", 8000), "headers": [(b"host", b"127.0.0.1:8000")], "query_string": b"",
        "app": app, "router": app.router, "state": {},
    }  # fmt: skip
    return Request(scope)


def timed(fn: Callable[[np.ndarray], Any], q: np.ndarray) -> float:
    started = time.perf_counter()
    fn(q)
    return (time.perf_counter() - started) * 1000.0


def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory(prefix="mmsearch-overhead-") as tmp:
        data_dir = Path(tmp)
        started = time.perf_counter()
        store = build(data_dir, args.n, args.dim, args.text_chars, rng)
        build_s = time.perf_counter() - started
        try:
            return measure(args, store, data_dir, rng) | {"build_s": round(build_s, 1)}
        finally:
            store.close()


def measure(
    args: argparse.Namespace, store: EdgeStore, data_dir: Path, rng: np.random.Generator
) -> dict[str, Any]:
    settings = load_settings(None, {"data_dir": str(data_dir), "search": {"candidates": args.candidates}})
    embedder = GivenVectors(args.dim)
    searcher = components.build_searcher(settings, embedder, store, None)
    assert isinstance(searcher, Searcher)
    filters = Filters(scope=Scope(collections=frozenset({"default"})))  # as the API scopes a reader
    ctx = SimpleNamespace(auth=SimpleNamespace(required=False), signer=None)
    request = api_request()
    layout = store.layout()
    assert layout is not None
    queries = rng.standard_normal((args.warm + args.queries, args.dim)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)

    def engine(q: np.ndarray) -> None:
        store.query(search_request(store.index, layout, q, args.candidates, None))

    def via_store(q: np.ndarray) -> None:
        store.search(q, args.candidates, filters)

    def via_searcher(q: np.ndarray) -> Any:
        embedder.next = q
        return searcher.search(Query(text="revenue", filters=filters), top_k=args.top_k, rerank=False)

    def via_api(q: np.ndarray) -> None:
        result = via_searcher(q)
        [hit_out(request, ctx, hit, None) for hit in result.hits]  # type: ignore[arg-type]

    paths = {"engine": engine, "store": via_store, "searcher": via_searcher, "api": via_api}
    times: dict[str, list[float]] = {name: [] for name in PATHS}
    for i, q in enumerate(queries):
        for name in PATHS:
            elapsed = timed(paths[name], q)
            if i >= args.warm:
                times[name].append(elapsed)
    out: dict[str, Any] = {"n": args.n, "dim": args.dim, "candidates": args.candidates, "top_k": args.top_k,
                           "text_chars": args.text_chars, "queries": args.queries}  # fmt: skip
    for name in PATHS:
        out[f"{name}_p50_ms"] = round(statistics.median(times[name]), 3)
        out[f"{name}_p95_ms"] = round(float(np.percentile(times[name], 95)), 3)
    for name in PATHS[1:]:
        diffs = [t - e for t, e in zip(times[name], times["engine"], strict=True)]
        out[f"{name}_overhead_ms"] = round(statistics.median(diffs), 3)
    out["api_over_engine"] = round(out["api_p50_ms"] / out["engine_p50_ms"], 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=10_000, help="points in the store (default 10000)")
    parser.add_argument("--dim", type=int, default=128, help="vector size (default 128: the tiny test model)")
    parser.add_argument("--candidates", type=int, default=50, help="points asked of the store (default 50)")
    parser.add_argument("--top-k", type=int, default=10, help="hits returned (default 10)")
    parser.add_argument("--text-chars", type=int, default=2000, help="text layer per page (default 2000)")
    parser.add_argument("--queries", type=int, default=300, help="timed queries (default 300)")
    parser.add_argument("--warm", type=int, default=50, help="untimed queries first (default 50)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    args = parser.parse_args()
    out = run(args)
    if args.json:
        print(json.dumps(out))
        return
    print(f"{args.n} points, dim {args.dim}, {args.candidates} candidates, top {args.top_k}, "
          f"{args.queries} queries (build {out['build_s']} s)")  # fmt: skip
    print(f"{'path':<10} {'p50 ms':>8} {'p95 ms':>8} {'overhead ms':>12}")
    for name in PATHS:
        overhead = out.get(f"{name}_overhead_ms")
        print(f"{name:<10} {out[f'{name}_p50_ms']:>8.3f} {out[f'{name}_p95_ms']:>8.3f} "
              f"{'' if overhead is None else f'{overhead:.3f}':>12}")  # fmt: skip
    print(f"mmsearch's overhead over the bare engine (api - engine): {out['api_overhead_ms']:.3f} ms "
          f"(api/engine {out['api_over_engine']}x; target <= 2 ms at 10k)")  # fmt: skip


if __name__ == "__main__":
    main()
