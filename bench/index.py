"""Benchmark the vector store: upsert throughput, and full-dimension search vs MRL prefetch + full rescore.

For each N and each vector spectrum it builds two collections through the ``Store`` API — ``exact``
(the full vector only) and ``prefetch`` (plus the ``--prefetch-dim`` MRL vector) — and then times the same
queries on both: latency p50/p95, and recall@limit of each against exact brute force (numpy).

Spectra: ``flat`` is plain random unit vectors, which have no energy concentrated in the leading
components and so make MRL truncation look much worse than it is on real embeddings; ``mrl`` gives
component j a variance ∝ (j+1)^-alpha, like Matryoshka-trained vectors (the printed ``head`` is the share
of energy in the first prefetch-dim components). Queries are stored vectors plus noise of the same spectrum.

Embedded mode (default) persists the ``prefetch`` collection in a temporary folder, as ``mmsearch`` does,
and times its upserts; the ``exact`` baseline lives in an in-memory local collection (local search never
reads the folder, so its latency is the same). ``--url`` runs both on a Qdrant server instead.

    .venv/bin/python bench/index.py --n 10000 --n 100000 --dim 1024
    .venv/bin/python bench/index.py --n 10000 --url http://localhost:6333 --quantization scalar
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from qdrant_client import QdrantClient

from mmsearch.index.qdrant_store import QdrantStore
from mmsearch.index.settings import IndexSettings, StoreSettings
from mmsearch.index.store import Payload, Point, Store, open_store

log = logging.getLogger("bench.index")
MODEL = "bench/random"
CHUNK = 1000


@dataclass(frozen=True)
class Row:
    n: int
    dim: int
    spectrum: str
    head: float  # share of energy in the first prefetch_dim components
    upsert_per_s: float  # points/s into the persisted (or server) prefetch collection
    full_p50_ms: float
    full_p95_ms: float
    full_recall: float
    prefetch_p50_ms: float
    prefetch_p95_ms: float
    prefetch_recall: float


def vectors(rng: np.random.Generator, n: int, dim: int, spectrum: str, alpha: float) -> np.ndarray:
    scale = np.ones(dim) if spectrum == "flat" else (np.arange(dim) + 1.0) ** (-alpha / 2)
    out = (rng.standard_normal((n, dim), dtype=np.float32) * scale.astype(np.float32)).astype(np.float32)
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def points(batch: np.ndarray, offset: int) -> list[Point]:
    out = []
    for i, vector in enumerate(batch, start=offset):
        doc = i // 10
        payload = Payload(
            doc_id=str(uuid.uuid5(uuid.NAMESPACE_OID, f"doc{doc}")), source_path=f"/bench/{doc}.pdf",
            modality="page", text="", media_paths=(), content_hash=str(i), source_sha256="0" * 64,
            ingest_time=0.0, model_id=MODEL, dim=len(vector), page=i % 10 + 1, page_count=10,
        )  # fmt: skip
        out.append(Point(str(uuid.UUID(int=i + 1)), vector, payload))
    return out


def fill(store: Store, data: np.ndarray) -> float:
    """Upsert in chunks; return points per second."""
    started = time.perf_counter()
    for start in range(0, len(data), CHUNK):
        store.upsert(points(data[start : start + CHUNK], start))
        log.info("upserted %d/%d", min(start + CHUNK, len(data)), len(data))
    return len(data) / (time.perf_counter() - started)


def measure(
    store: Store, queries: np.ndarray, truth: list[set[str]], limit: int
) -> tuple[float, float, float]:
    """p50 and p95 latency (ms) and mean recall@limit against ``truth``."""
    for query in queries[:3]:
        store.search(query, limit)  # warm-up
    latencies, recalls = [], []
    for query, best in zip(queries, truth, strict=True):
        started = time.perf_counter()
        hits = store.search(query, limit)
        latencies.append((time.perf_counter() - started) * 1000)
        recalls.append(len(best & {h.id for h in hits}) / len(best))
    p50, p95 = np.percentile(latencies, [50, 95])
    return float(p50), float(p95), float(np.mean(recalls))


@contextmanager
def stores(args: argparse.Namespace, n: int, spectrum: str) -> Iterator[tuple[Store, Store]]:
    exact_index = IndexSettings(prefetch_dim=None, upsert_batch=256, quantization=args.quantization)
    prefetch_index = exact_index.model_copy(
        update={"prefetch_dim": args.prefetch_dim, "prefetch_limit": args.prefetch_limit}
    )
    name = f"bench_{spectrum}_{n}"
    with tempfile.TemporaryDirectory(prefix="mmsearch-bench-") as folder:
        if args.url:
            server = {"url": args.url, "api_key": args.api_key}
            exact = open_store(StoreSettings(collection=name + "_exact", **server), exact_index, Path(folder))
            prefetch = open_store(
                StoreSettings(collection=name + "_prefetch", **server), prefetch_index, Path(folder)
            )
        else:
            client = QdrantClient(":memory:")
            exact = QdrantStore(
                client, collection=name, index=exact_index, mode="embedded", location=":memory:"
            )
            prefetch = open_store(StoreSettings(collection=name), prefetch_index, Path(folder))
        try:
            for store in (exact, prefetch):
                store.drop()
                store.ensure_collection(MODEL, args.dim)
            yield exact, prefetch
        finally:
            if args.url:
                exact.drop()
                prefetch.drop()
            exact.close()
            prefetch.close()


def run(args: argparse.Namespace, n: int, spectrum: str) -> Row:
    rng = np.random.default_rng(args.seed)
    data = vectors(rng, n, args.dim, spectrum, args.alpha)
    picks = rng.choice(n, size=args.queries, replace=False)
    noise = vectors(rng, args.queries, args.dim, spectrum, args.alpha)
    queries = data[picks] + args.noise * noise
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    ids = [str(uuid.UUID(int=i + 1)) for i in range(n)]
    truth = [{ids[i] for i in np.argsort(-(data @ q))[: args.limit]} for q in queries]
    head = float(np.mean(np.sum(data[:, : args.prefetch_dim] ** 2, axis=1)))
    with stores(args, n, spectrum) as (exact, prefetch):
        log.info("n=%d %s: filling the exact collection", n, spectrum)
        fill(exact, data)
        log.info("n=%d %s: filling the prefetch collection", n, spectrum)
        rate = fill(prefetch, data)
        full = measure(exact, queries, truth, args.limit)
        two_stage = measure(prefetch, queries, truth, args.limit)
    return Row(n, args.dim, spectrum, round(head, 3), round(rate, 1), *_rounded(full), *_rounded(two_stage))


def _rounded(values: tuple[float, float, float]) -> tuple[float, float, float]:
    return round(values[0], 2), round(values[1], 2), round(values[2], 4)


def table(rows: list[Row], args: argparse.Namespace) -> str:
    mode = f"server {args.url}" if args.url else "embedded (local mode)"
    setup = (
        f"mode: {mode}; prefetch {args.prefetch_dim}-d limit {args.prefetch_limit}, rescore limit {args.limit}; "
        f"{args.queries} queries; noise {args.noise}; mrl alpha {args.alpha}"
    )
    header = (
        f"{'n':>7} {'dim':>5} {'spectrum':>8} {'head':>5} {'upsert/s':>9} | {'full p50':>8} {'p95':>7} "
        f"{'recall':>6} | {'prefetch p50':>12} {'p95':>7} {'recall':>6}"
    )
    lines = [setup, header]
    for r in rows:
        lines.append(
            f"{r.n:>7} {r.dim:>5} {r.spectrum:>8} {r.head:>5.2f} {r.upsert_per_s:>9.0f} | "
            f"{r.full_p50_ms:>8.1f} {r.full_p95_ms:>7.1f} {r.full_recall:>6.3f} | "
            f"{r.prefetch_p50_ms:>12.1f} {r.prefetch_p95_ms:>7.1f} {r.prefetch_recall:>6.3f}"
        )
    return "\n".join(lines)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--n", type=int, action="append", help="Points (repeatable; default 10000 and 100000)."
    )
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--prefetch-dim", type=int, default=256)
    parser.add_argument("--prefetch-limit", type=int, default=200)
    parser.add_argument("--limit", type=int, default=50, help="Hits per query (recall@limit).")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--spectrum", choices=["flat", "mrl", "both"], default="both")
    parser.add_argument(
        "--alpha", type=float, default=1.0, help="mrl spectrum: variance of component j ∝ (j+1)^-alpha"
    )
    parser.add_argument("--noise", type=float, default=1.0, help="Query = stored vector + noise × this.")
    parser.add_argument("--url", help="Qdrant server URL (default: embedded local mode).")
    parser.add_argument("--api-key")
    parser.add_argument("--quantization", choices=["none", "scalar", "binary"], default="none")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="Print JSON rows instead of a table.")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    spectra = ["flat", "mrl"] if args.spectrum == "both" else [args.spectrum]
    rows = [run(args, n, spectrum) for n in args.n or [10_000, 100_000] for spectrum in spectra]
    print(json.dumps([asdict(r) for r in rows], indent=2) if args.json else table(rows, args))


if __name__ == "__main__":
    main()
