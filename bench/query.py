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

``--serve``: throughput of a warm ``mmsearch serve`` (reranker none) under concurrent searches, with and
without query batching (``server.query_batching``) side by side in one run:

    python bench/query.py --tiny --serve --points 10000            # the issue's setting
    python bench/query.py --tiny --serve --points 1000 --requests 40 --concurrency 1 4 --json

The corpus is ingested as above, then padded to ``--points`` points (random unit vectors under the
ingested documents, so every one is a visible candidate). Then for each mode a server process is
started on its own copy of that data (``MMSEARCH_SERVER__QUERY_BATCHING``; both run at once, and the
levels alternate between them, so the load's drift on a shared machine stays out of the comparison),
warmed, and at each ``--concurrency`` level
``--requests`` text searches are sent by that many client threads: QPS, p50/p99 latency, and the
medians of the responses' ``embed`` (model) and ``embed_wait`` (queue) timings. Absolute figures depend
on the machine and its load; compare the modes within one run.

``--cold N``: the time of a cold ``mmsearch query --no-rerank`` (a fresh ``python -m mmsearch`` process:
imports, settings, model, store, one search, exit), N times, median and min of the wall time. With
``--against DIR`` (another mmsearch checkout, e.g. a ``git worktree`` of an older commit) each version
ingests the corpus into its own data folder with its own code, and the runs alternate between the two
(``PYTHONPATH`` picks the checkout), so the ratio is taken side by side:

    python bench/query.py --tiny --cold 8 --pdfs 50 --pages 20 --against ../old-main   # ~1k points
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.embed import load_tiny_builder
from mmsearch import components
from mmsearch.config import Settings, load_settings
from mmsearch.index.embedder import l2_normalize
from mmsearch.index.store import Point, Store
from mmsearch.ingest.manifest import Manifest
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
        models = tiny_models(data_dir.parent / "tiny-models")
        overrides["embedding"] = {"model": str(models / "embedding"), "device": "cpu"}
        overrides["reranker"] = {"model": str(models / "reranker"), "device": "cpu"}
    return load_settings(args.config, overrides)


def tiny_models(folder: Path) -> Path:
    """The tiny test models: ``$MMSEARCH_TINY_MODELS`` when it holds them, else built into ``folder``."""
    cached = os.environ.get("MMSEARCH_TINY_MODELS")
    if cached and (Path(cached) / "embedding").is_dir() and (Path(cached) / "reranker").is_dir():
        return Path(cached)
    load_tiny_builder().build_tiny_models(folder)
    return folder


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


def pad_store(store: Store, manifest: Manifest, dim: int, points: int, seed: int = 0) -> int:
    """Add random unit vectors under the ingested points' payloads until the store holds ``points``, and
    record them as their documents' committed units (else the server's start-up reconciliation would
    remove them as leftovers)."""
    have = store.count()
    found = store.search(l2_normalize(np.ones((1, dim)))[0], limit=max(have, 1))
    if not found or have >= points:
        return have
    rng = np.random.default_rng(seed)
    units: dict[str, list[str]] = {}
    for start in range(have, points, 1000):
        size = min(1000, points - start)
        vectors = l2_normalize(rng.standard_normal((size, dim)).astype(np.float32))
        batch = []
        for i in range(size):
            payload = found[(start + i) % len(found)].payload
            point_id = f"00000000-0000-4000-8000-{start + i:012d}"
            batch.append(Point(point_id, vectors[i], replace(payload, content_hash=f"pad-{start + i}")))
            units.setdefault(payload.doc_id, []).append(point_id)
        store.upsert(batch)
    for doc_id, extra in units.items():
        entry = manifest.get(doc_id)
        assert entry is not None, doc_id
        manifest._execute(  # the bench's own shortcut: no ingest path adds units to a committed version
            "UPDATE documents SET unit_ids = ? WHERE doc_id = ?",
            (json.dumps([*entry.unit_ids, *extra]), doc_id),
        )
    return store.count()


def mmsearch_env(settings: Settings, checkout: Path = REPO) -> dict[str, str]:
    """A clean environment for ``python -m mmsearch`` from ``checkout``: this environment without its
    ``MMSEARCH_`` settings, then the embedding model's (settings any version knows: an older one refuses
    settings it has not heard of)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MMSEARCH_")}
    env.update(
        PYTHONPATH=str(checkout),
        HF_HUB_OFFLINE="1",
        MMSEARCH_EMBEDDING__MODEL=settings.embedding.model,
        MMSEARCH_EMBEDDING__DEVICE=settings.embedding.device,
    )
    return env


def server_env(settings: Settings, port: int, batching: bool) -> dict[str, str]:
    env = mmsearch_env(settings)
    env.update(
        MMSEARCH_DATA_DIR=str(settings.data_dir),
        MMSEARCH_RERANKER__BACKEND="none",
        MMSEARCH_SEARCH__CANDIDATES=str(settings.search.candidates),
        MMSEARCH_SERVER__PORT=str(port),
        MMSEARCH_SERVER__LOG_LEVEL="warning",
        MMSEARCH_SERVER__QUERY_BATCHING="true" if batching else "false",
        MMSEARCH_SERVER__MAX_QUEUED_SEARCHES="256",
    )
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    settings: Settings, batching: bool, config: Path | None
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = [sys.executable, "-m", "mmsearch", *(["--config", str(config)] if config else []), "serve"]
    server = subprocess.Popen(command, env=server_env(settings, port, batching), cwd=REPO)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"mmsearch serve exited with {server.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                return server, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    server.terminate()
    raise RuntimeError("mmsearch serve did not become ready in 600 s")


def load(url: str, queries: list[str], concurrency: int, requests: int) -> dict[str, Any]:
    """``requests`` searches sent by ``concurrency`` client threads: QPS, latency, model and queue time."""
    latencies: list[float] = []
    embed: list[float] = []
    waits: list[float] = []
    errors: list[str] = []
    counter = iter(range(requests))
    guard = threading.Lock()

    def client() -> None:
        with httpx.Client(base_url=url, headers={"Origin": url}, timeout=300) as http:
            while True:
                with guard:
                    i = next(counter, None)
                if i is None:
                    return
                body = {"text": queries[i % len(queries)], "top_k": 10, "rerank": False}
                mark = time.perf_counter()
                reply = http.post("/v1/search", json=body)
                took = (time.perf_counter() - mark) * 1000
                with guard:
                    if reply.status_code != 200:
                        errors.append(f"{reply.status_code}: {reply.text[:200]}")
                        continue
                    timings = reply.json()["timings_ms"]
                    latencies.append(took)
                    embed.append(timings.get("embed", 0.0))
                    waits.append(timings.get("embed_wait", 0.0))

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{len(errors)} searches failed, first: {errors[0]}")
    return {
        "concurrency": concurrency,
        "requests": len(latencies),
        "qps": round(len(latencies) / wall, 2),
        "p50_ms": round(statistics.median(latencies), 1),
        "p99_ms": round(percentile(latencies, 0.99), 1),
        "embed_ms_p50": round(statistics.median(embed), 2),
        "embed_wait_ms_p50": round(statistics.median(waits), 2),
    }


def run_serve(args: argparse.Namespace) -> dict[str, Any]:
    """Concurrency 1/4/16 against a warm server, without and with query batching, in one run."""
    with tempfile.TemporaryDirectory(prefix="mmsearch-bench-") as tmp:
        root = Path(tmp)
        queries = make_corpus(root / "corpus", args.pdfs, args.pages)
        settings = settings_for(args, root / "data")
        store = components.build_store(settings)
        try:
            embedder = components.build_embedder(settings)
            with components.build_manifest(settings) as manifest:
                components.build_indexer(settings, embedder, store, manifest, None).run([root / "corpus"])
                points = pad_store(store, manifest, embedder.dim, args.points)
            del embedder
        finally:
            store.close()
        # Both servers run at once, each on its own copy of the data, and the levels alternate between
        # them: a shared machine's load drifts, and this keeps the drift out of the comparison.
        shutil.copytree(settings.data_dir, root / "data-batched")
        copies = {
            "unbatched": settings,
            "batched": settings.model_copy(update={"data_dir": root / "data-batched"}),
        }
        servers: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
        modes: dict[str, list[dict[str, Any]]] = {name: [] for name in copies}
        try:
            for name, copy in copies.items():
                servers[name] = start_server(copy, name == "batched", args.config)
            for c in args.concurrency:
                for name, (_, url) in servers.items():
                    load(url, queries, c, max(2 * c, args.requests // 4))  # warm-up: lazy set-up, shapes
                    modes[name].append(load(url, queries, c, args.requests))
        finally:
            for server, _ in servers.values():
                server.terminate()
                server.wait(60)
    out: dict[str, Any] = {"embedding_model": settings.embedding.model, "points": points, "modes": modes}
    for name, rows in modes.items():
        first = rows[0]["qps"]
        for row in rows:
            row["qps_vs_first"] = round(row["qps"] / first, 2) if first else None
    return out


def timed(command: list[str], env: dict[str, str], cwd: Path, what: str) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{what} exited with {done.returncode}: {done.stderr[-2000:]}")
    return took


def run_cold(args: argparse.Namespace) -> dict[str, Any]:
    """Cold ``mmsearch query --no-rerank`` of this checkout (and ``--against``'s), alternating."""
    checkouts = {"this": REPO}
    if args.against is not None:
        if not (args.against / "mmsearch" / "__main__.py").is_file():
            raise SystemExit(f"--against {args.against}: not an mmsearch checkout (no mmsearch/__main__.py)")
        checkouts["against"] = args.against.resolve()
    with tempfile.TemporaryDirectory(prefix="mmsearch-bench-") as tmp:
        root = Path(tmp)
        queries = make_corpus(root / "corpus", args.pdfs, args.pages)
        settings = settings_for(args, root / "data")
        mmsearch = [
            sys.executable,
            "-m",
            "mmsearch",
            *(["--config", str(args.config)] if args.config else []),
        ]
        envs = {}
        for name, checkout in checkouts.items():
            env = {
                **mmsearch_env(settings, checkout),
                "MMSEARCH_RERANKER__MODEL": settings.reranker.model,
                "MMSEARCH_DATA_DIR": str(root / f"data-{name}"),
            }
            ingest = [*mmsearch, "ingest", str(root / "corpus")]
            took = timed(ingest, env, checkout, f"{name}: mmsearch ingest")
            print(f"{name}: ingested in {took:.1f} s", file=sys.stderr)
            envs[name] = env
        store = components.build_store(settings.model_copy(update={"data_dir": root / "data-this"}))
        try:
            points = store.count()
        finally:
            store.close()
        walls: dict[str, list[float]] = {name: [] for name in checkouts}
        for i in range(args.cold):
            text = queries[i % len(queries)]
            for name, checkout in checkouts.items():
                command = [*mmsearch, "query", "--no-rerank", text]
                walls[name].append(timed(command, envs[name], checkout, f"{name}: mmsearch query"))
    out: dict[str, Any] = {
        "points": points,
        "runs": args.cold,
        "cold_query_s": {
            name: {
                "median": round(statistics.median(v), 3),
                "min": round(min(v), 3),
                "all": [round(x, 3) for x in v],
            }
            for name, v in walls.items()
        },
    }
    if "against" in walls:
        out["ratio_median"] = round(statistics.median(walls["this"]) / statistics.median(walls["against"]), 3)
    return out


def print_serve(out: dict[str, Any]) -> None:
    print(f"{out['points']} points, reranker none, model {out['embedding_model']}")
    print(f"{'mode':<10} {'c':>3} {'QPS':>8} {'xc1':>6} {'p50 ms':>9} {'p99 ms':>9} {'embed':>8} {'wait':>8}")
    for name, rows in out["modes"].items():
        for r in rows:
            print(f"{name:<10} {r['concurrency']:>3} {r['qps']:>8.2f} {r['qps_vs_first']:>6.2f} "
                  f"{r['p50_ms']:>9.1f} {r['p99_ms']:>9.1f} {r['embed_ms_p50']:>8.2f} {r['embed_wait_ms_p50']:>8.2f}")  # fmt: skip


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
    parser.add_argument("--serve", action="store_true", help="QPS of a warm server, batched vs not")
    parser.add_argument("--points", type=int, default=10000, help="--serve: points in the store")
    parser.add_argument("--requests", type=int, default=200, help="--serve: searches per level")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16], help="--serve: levels")
    parser.add_argument("--cold", type=int, metavar="N", help="N cold `mmsearch query --no-rerank` processes")
    parser.add_argument(
        "--against", type=Path, metavar="DIR", help="--cold: another mmsearch checkout, side by side"
    )
    args = parser.parse_args()
    if args.against is not None and not args.cold:
        parser.error("--against needs --cold N")
    if args.cold:
        cold = run_cold(args)
        if args.json:
            print(json.dumps(cold, indent=2))
            return 0
        for name, row in cold["cold_query_s"].items():
            print(
                f"cold mmsearch query --no-rerank on {cold['points']} points ({name}): median {row['median']:.2f} s, min {row['min']:.2f} s"
            )
        if "ratio_median" in cold:
            print(f"this / against (medians): {cold['ratio_median']:.2f}")
        return 0
    if args.serve:
        served = run_serve(args)
        if args.json:
            print(json.dumps(served, indent=2))
        else:
            print_serve(served)
        return 0
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
