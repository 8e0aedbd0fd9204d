"""Benchmark the embedded store (Qdrant Edge) at scale against exact search in numpy.

Data: MRL-like unit vectors — a low-rank signal (``--rank`` directions with a decaying spectrum) plus
noise whose variance decays over the components (component j ∝ (j+1)^-alpha), normalised — so the
leading components carry most of the energy, as in Matryoshka-trained embeddings, and neighbours are
real structure, not flat random noise. Queries are fresh draws from the same distribution.

For each N it builds, through the ``Store`` API as ``mmsearch ingest`` does, two collections: ``full``
(the full vector only, the default layout) and ``prefetch`` (plus the ``--prefetch-dim`` MRL vector), each
upserted in batches and then ``optimize()``d (HNSW where N ≥ ``index.exact_below``). It prints one row per
search configuration, side by side:

- build: upsert seconds + optimize seconds; disk (MB) of the shard folder;
- open: a fresh process opens the store and runs its first search (``open_s``), then its RSS (MB) after
  the timed queries — the page cache is warm (dropping it would disturb other users of the machine);
- p50/p95 ms of full searches (top ``--limit``, payloads included) and recall@limit vs numpy exact, in a
  warm process: after one exact search (every vector read once) and ``--warm`` (1000) untimed searches
  with other queries — a freshly opened store answers its first several hundred searches up to 2x slower
  (its memory-mapped pages are being mapped in) — and 20 more before each configuration;
- the same for filtered searches (a path-prefix filter matching 10 % of the points);
- ``numpy-exact``: ``data @ q`` + ``argpartition`` in this process — the floor for exact search.

The lexical layout (issue 20; ``--layout lexical``, in the default run) builds a third collection, the
``full`` layout whose points carry synthetic page text — ``--page-words`` (300) words a page drawn from a
Zipf distribution (exponent ``--zipf`` 1.07) over a ``--vocabulary`` (50,000) of made-up words — in the
BM25 text index every collection has, and times in it, side by side: vector-only search (the baseline),
keyword search (BM25 over the page text: two or three words of middling frequency a query) and hybrid
search (both fused, RRF and DBSF), each unfiltered and filtered; ``vs_vector`` is each row's p50 over the
vector row's, the same collection in the same run (the target: hybrid ≤ 2× vector at 100k). Its build
and disk figures, against the ``full`` layout's, are what indexing the text costs. Recall is not
measured for these rows (no exact BM25 to compare with).

The row with ``"default": true`` is what ``mmsearch`` does with default settings. Timings are medians
over ``--queries`` queries; on a shared machine they are noisy — run twice and compare.

    .venv/bin/python bench/index.py                          # 10k and 100k, table
    .venv/bin/python bench/index.py --n 100000 --json        # one JSON object per line and configuration
    .venv/bin/python bench/index.py --million                # adds 1M (~17 GB RSS while building, 80 min)
    .venv/bin/python bench/index.py --n 100000 --layout full --layout lexical   # vector vs keyword/hybrid
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from mmsearch.index.edge_store import EdgeStore, build_edge_filter, search_request
from mmsearch.index.settings import IndexSettings, StoreSettings
from mmsearch.index.store import Filters, Fusion, Lexical, Payload, Point
from mmsearch.index.store_registry import open_store

log = logging.getLogger("bench.index")
MODEL = "bench/mrl-like"
CHUNK = 1000
GROUPS = 10  # the filter matches one group: 10 % of the points
WARM = 20  # fresh queries searched untimed before each timing


@dataclass(frozen=True)
class Row:
    config: str
    default: bool
    n: int
    dim: int
    p50_ms: float
    p95_ms: float
    recall_at_limit: float | None  # None: not measured (the lexical rows)
    filtered_p50_ms: float | None
    filtered_recall: float | None
    build_s: float | None  # upserts, through the Store API
    optimize_s: float | None
    disk_mb: float | None
    open_s: float | None  # a fresh process: open + first search
    rss_mb: float | None
    vs_vector: float | None = None  # the lexical layout: p50 over its vector-only row's p50


class MrlLike:
    """Low-rank signal + decaying noise, normalised; one fixed basis so queries share the structure."""

    def __init__(self, dim: int, rank: int, alpha: float, noise: float, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.decay = ((np.arange(dim) + 1.0) ** (-alpha / 2)).astype(np.float32)
        self.strength = ((np.arange(rank) + 1.0) ** -0.5).astype(np.float32)
        self.basis = (rng.standard_normal((rank, dim), dtype=np.float32) * self.decay).astype(np.float32)
        self.noise = noise
        self.rank, self.dim = rank, dim

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        out = np.empty((n, self.dim), dtype=np.float32)
        for start in range(0, n, 50_000):
            m = min(50_000, n - start)
            signal = (rng.standard_normal((m, self.rank), dtype=np.float32) * self.strength) @ self.basis
            noise = rng.standard_normal((m, self.dim), dtype=np.float32) * self.decay * self.noise
            block = signal + noise
            out[start : start + m] = block / np.linalg.norm(block, axis=1, keepdims=True)
        return out


def point_id(i: int) -> str:
    return str(uuid.UUID(int=i + 1))


class PageText:
    """Synthetic page text: words of a made-up vocabulary (4-10 letters, so no English stopword), drawn
    with Zipf frequencies (rank r ∝ r^-exponent), ``words`` a page; page ``i`` is always the same."""

    def __init__(self, vocabulary: int, exponent: float, words: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
        lengths = rng.integers(4, 11, size=vocabulary)
        self.vocab = np.array(["".join(rng.choice(letters, size=n)) for n in lengths])
        weights = np.arange(1, vocabulary + 1, dtype=np.float64) ** -exponent
        self.cdf = np.cumsum(weights / weights.sum())
        self.words, self.seed = words, seed

    def pages(self, start: int, n: int) -> list[str]:
        rng = np.random.default_rng((self.seed, start))
        ranks = np.searchsorted(self.cdf, rng.random((n, self.words)))
        return [" ".join(row) for row in self.vocab[np.minimum(ranks, len(self.vocab) - 1)]]

    def queries(self, rng: np.random.Generator, n: int) -> list[str]:
        """Two or three words of middling frequency (ranks 100-5000) a query."""
        top = min(5000, len(self.vocab))
        return [
            " ".join(self.vocab[rng.integers(min(100, top - 1), top, size=int(rng.integers(2, 4)))])
            for _ in range(n)
        ]


def points(batch: np.ndarray, offset: int, texts: list[str] | None = None) -> list[Point]:
    out = []
    for i, vector in enumerate(batch, start=offset):
        doc = i // 10
        text = texts[i - offset] if texts is not None else ""
        payload = Payload(
            doc_id=str(uuid.uuid5(uuid.NAMESPACE_OID, f"doc{doc}")),
            source_path=f"/bench/g{doc % GROUPS}/{doc}.pdf", modality="page", text=text, media_paths=(),
            content_hash=str(i), source_sha256="0" * 64, ingest_time=0.0, model_id=MODEL,
            dim=len(vector), page=i % 10 + 1, page_count=10,
        )  # fmt: skip
        out.append(Point(point_id(i), vector, payload))
    return out


def group_of(i: np.ndarray) -> np.ndarray:
    return (i // 10) % GROUPS


def disk_mb(folder: Path) -> float:
    total = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    return round(total / 2**20, 1)


@dataclass(frozen=True)
class Truth:
    full: list[set[str]]
    filtered: list[set[str]]
    groups: list[int]
    warm: np.ndarray  # queries searched untimed before each timing


def exact_truth(
    data: np.ndarray, queries: np.ndarray, limit: int, rng: np.random.Generator, warm: np.ndarray
) -> Truth:
    groups = [int(g) for g in rng.integers(0, GROUPS, size=len(queries))]
    member = group_of(np.arange(len(data)))
    full, filtered = [], []
    for q, g in zip(queries, groups, strict=True):
        scores = data @ q
        full.append({point_id(i) for i in np.argsort(-scores)[:limit]})
        inside = np.flatnonzero(member == g)
        filtered.append({point_id(i) for i in inside[np.argsort(-scores[inside])[:limit]]})
    return Truth(full, filtered, groups, warm)


def timed(search: Callable[[np.ndarray, Filters | None], list[str]], queries: np.ndarray,
          truth: list[set[str]], filters: list[Filters | None], warm: np.ndarray) -> tuple[float, float, float]:  # fmt: skip
    """p50 and p95 latency (ms) and mean recall of ``search`` against ``truth``, after untimed searches
    for the ``warm`` queries (other draws): the figures are a warm serving process's."""
    for q, f in zip(warm[:WARM], filters, strict=False):
        search(q, f)
    latencies, recalls = [], []
    for q, best, f in zip(queries, truth, filters, strict=True):
        started = time.perf_counter()
        found = search(q, f)
        latencies.append((time.perf_counter() - started) * 1000)
        recalls.append(len(best & set(found)) / len(best))
    p50, p95 = np.percentile(latencies, [50, 95])
    return round(float(p50), 2), round(float(p95), 2), round(float(np.mean(recalls)), 4)


def numpy_row(data: np.ndarray, queries: np.ndarray, truth: Truth, limit: int) -> Row:
    member = group_of(np.arange(len(data)))
    masks = {g: member == g for g in set(truth.groups)}

    def search(q: np.ndarray, f: Filters | None) -> list[str]:
        scores = data @ q
        if f is not None:
            scores = np.where(masks[int(f.values("path_prefix")[0].rsplit("g", 1)[1])], scores, -np.inf)
        top = np.argpartition(-scores, limit)[:limit]
        return [point_id(i) for i in top[np.argsort(-scores[top])]]

    full = timed(search, queries, truth.full, [None] * len(queries), truth.warm)
    filtered = timed(search, queries, truth.filtered, group_filters(truth), truth.warm)
    rss = data.nbytes / 2**20
    return Row("numpy-exact", False, len(data), data.shape[1], *full, filtered[0], filtered[2],
               None, None, None, None, round(rss, 1))  # fmt: skip


def group_filters(truth: Truth) -> list[Filters | None]:
    return [Filters(path_prefix=f"/bench/g{g}") for g in truth.groups]


@dataclass(frozen=True)
class Variant:
    name: str
    index: IndexSettings
    exact: bool = False
    default: bool = False


def graph_settings(args: argparse.Namespace) -> IndexSettings:
    """The defaults, or another graph (``--hnsw-m``, ``--ef-construct``): then no row is the default."""
    base = IndexSettings()
    update = {"hnsw_m": args.hnsw_m, "hnsw_ef_construct": args.ef_construct}
    return base.model_copy(update={k: v for k, v in update.items() if v is not None})


def variants(args: argparse.Namespace, layout: str) -> list[Variant]:
    base = graph_settings(args)
    if layout == "full":
        graph = f"HNSW m{base.hnsw_m}/efc{base.hnsw_ef_construct}"
        limit = f"exact under {base.exact_below} points"
        is_default = base == IndexSettings()
        name = f"edge {'default' if is_default else 'graph'}: {graph} ef {base.hnsw_ef}, {limit}"
        out = [Variant(name, base, default=is_default)]
        out += [
            Variant(f"edge hnsw_ef {ef}", base.model_copy(update={"hnsw_ef": ef}))
            for ef in args.ef
            if ef != base.hnsw_ef
        ]
        return [*out, Variant("edge exact (SearchParams exact, no payloads)", base, exact=True)]
    pre = base.model_copy(update={"prefetch_dim": args.prefetch_dim})
    return [
        Variant(
            f"edge prefetch {args.prefetch_dim}-d limit {k} + full rescore",
            pre.model_copy(update={"prefetch_limit": k}),
        )
        for k in args.prefetch_limit
    ]


def build(store: EdgeStore, data: np.ndarray, text: PageText | None = None) -> tuple[float, float]:
    store.ensure_collection(MODEL, data.shape[1])
    started = time.perf_counter()
    for start in range(0, len(data), CHUNK):
        chunk = data[start : start + CHUNK]
        pages = text.pages(start, len(chunk)) if text is not None else None
        store.upsert(points(chunk, start, pages))
        if (start // CHUNK) % 50 == 0:
            log.info("upserted %d/%d", min(start + CHUNK, len(data)), len(data))
    upserted = time.perf_counter() - started
    log.info("optimizing %d points", len(data))
    store.optimize()
    return round(upserted, 1), round(time.perf_counter() - started - upserted, 1)


def edge_search(
    store: EdgeStore, variant: Variant, limit: int
) -> Callable[[np.ndarray, Filters | None], list[str]]:
    layout = store.layout()
    assert layout is not None

    def search(q: np.ndarray, f: Filters | None) -> list[str]:
        if not variant.exact:
            return [h.id for h in store.search(q, limit, f)]  # the real path, payloads included
        request = search_request(variant.index, layout, q, limit, build_edge_filter(f), exact=True)
        return [str(p.id) for p in store.query(request)]

    return search


def warm_cache(store: EdgeStore, variant: Variant, query: np.ndarray, limit: int) -> None:
    """One exact search, which reads every stored vector once: the page cache then holds the collection,
    as it does in a server that has been answering for a while (a kept store, just opened, is on disk)."""
    layout = store.layout()
    assert layout is not None
    store.query(search_request(variant.index, layout, query, limit, None, exact=True, with_payload=False))


COLD = """
import json, resource, sys, time
t0 = time.perf_counter()
import numpy as np
from pathlib import Path
from mmsearch.index.settings import IndexSettings, StoreSettings
from mmsearch.index.store_registry import open_store
q = np.load(sys.argv[2])
with open_store(StoreSettings(), IndexSettings.model_validate_json(sys.argv[3]), Path(sys.argv[1])) as s:
    s.search(q[0], 50)
    opened = time.perf_counter() - t0
    for v in q:
        s.search(v, 50)
    rss = int(next(l for l in open("/proc/self/status") if l.startswith("VmRSS")).split()[1]) / 1024
print(json.dumps({"open_s": opened, "rss_mb": rss}))
"""


def cold_open(folder: Path, index: IndexSettings, queries: np.ndarray) -> tuple[float, float]:
    """A fresh process: seconds to import, open and answer the first search; RSS after the queries."""
    qfile = folder.parent / f"{folder.name}-queries.npy"
    np.save(qfile, queries)
    done = subprocess.run(
        [sys.executable, "-c", COLD, str(folder), str(qfile), index.model_dump_json()],
        capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    out = json.loads(done.stdout.strip().splitlines()[-1])
    return round(out["open_s"], 2), round(out["rss_mb"], 1)


def run_layout(
    args: argparse.Namespace, layout: str, data: np.ndarray, queries: np.ndarray, truth: Truth, root: Path
) -> Iterator[Row]:
    chosen = variants(args, layout)
    graph = chosen[0].index  # every variant of a layout searches one collection, built with these
    name = f"{layout}-{len(data)}-m{graph.hnsw_m}-efc{graph.hnsw_ef_construct}"
    kept = args.keep / name if args.keep else None
    folder = kept or root / layout
    with open_store(StoreSettings(), chosen[0].index, folder) as store:
        assert isinstance(store, EdgeStore)
        upsert_s = optimize_s = None
        if store.count() == len(data):  # kept from an earlier run (--keep): the same data, built
            log.info("n=%d %s: measuring the store kept at %s (no build figures)", len(data), layout, folder)
        else:
            log.info("n=%d %s: building", len(data), layout)
            upsert_s, optimize_s = build(store, data)
        warm_cache(store, chosen[0], truth.warm[0], args.limit)
        warm_up = edge_search(store, chosen[0], args.limit)
        log.info("n=%d %s: %d untimed searches to warm up", len(data), layout, len(truth.warm))
        for q in truth.warm:  # a freshly opened store's first several hundred searches are up to 2x slower
            warm_up(q, None)
        measured = []
        for variant in chosen:
            store.index = variant.index
            search = edge_search(store, variant, args.limit)
            log.info("n=%d %s: measuring %s", len(data), layout, variant.name)
            full = timed(search, queries, truth.full, [None] * len(queries), truth.warm)
            filtered = timed(search, queries, truth.filtered, group_filters(truth), truth.warm)
            measured.append((variant, full, filtered))
    size = disk_mb(folder)
    open_s, rss = cold_open(folder, chosen[0].index, queries[:20])
    for i, (variant, full, filtered) in enumerate(measured):
        first = i == 0  # build, disk and open figures belong to the collection: on its first row
        yield Row(
            variant.name, variant.default, len(data), data.shape[1], *full, filtered[0], filtered[2],
            upsert_s if first else None, optimize_s if first else None, size if first else None,
            open_s if first else None, rss if first else None,
        )  # fmt: skip


LEXICAL_SEARCHES: dict[str, tuple[bool, Fusion | None]] = {  # (vector?, fusion) of each lexical-layout row
    "edge vector only (the lexical collection)": (True, None),
    "edge keyword: BM25 over the page text": (False, None),
    "edge hybrid: vector + BM25, RRF": (True, Fusion("rrf")),
    "edge hybrid: vector + BM25, DBSF": (True, Fusion("dbsf")),
}


def run_lexical(
    args: argparse.Namespace, data: np.ndarray, queries: np.ndarray, truth: Truth, root: Path
) -> Iterator[Row]:
    """The ``full`` layout with page text: vector, keyword and hybrid searches in one collection."""
    text = PageText(args.vocabulary, args.zipf, args.page_words, args.seed)
    said = text.queries(np.random.default_rng(args.seed + 2), len(queries) + len(truth.warm))
    words = {q.tobytes(): w for q, w in zip([*queries, *truth.warm], said, strict=True)}  # each query's words
    folder = root / "lexical"
    with open_store(StoreSettings(), graph_settings(args), folder) as store:
        assert isinstance(store, EdgeStore)
        log.info("n=%d lexical: building (%d words a page)", len(data), args.page_words)
        upsert_s, optimize_s = build(store, data, text)
        warm_cache(store, variants(args, "full")[0], truth.warm[0], args.limit)
        measured = []
        for name, (vector, fusion) in LEXICAL_SEARCHES.items():

            def search(
                q: np.ndarray, f: Filters | None, vector: bool = vector, fusion: Fusion | None = fusion
            ) -> list[str]:
                lexical = Lexical(words[q.tobytes()]) if fusion is not None or not vector else None
                found = store.search(q if vector else None, args.limit, f, lexical=lexical, fusion=fusion)
                return [h.id for h in found]

            for q in truth.warm:
                search(q, None)
            log.info("n=%d lexical: measuring %s", len(data), name)
            full = timed(search, queries, truth.full, [None] * len(queries), truth.warm)
            filtered = timed(search, queries, truth.filtered, group_filters(truth), truth.warm)
            measured.append((name, full, filtered))
    size = disk_mb(folder)
    base = measured[0][1][0]
    for i, (name, full, filtered) in enumerate(measured):
        first = i == 0
        yield Row(
            name, False, len(data), data.shape[1], full[0], full[1], full[2] if i == 0 else None, filtered[0],
            filtered[2] if i == 0 else None, upsert_s if first else None, optimize_s if first else None,
            size if first else None, None, None, round(full[0] / base, 2) if base else None,
        )  # fmt: skip


def run(args: argparse.Namespace, n: int) -> Iterator[Row]:
    gen = MrlLike(args.dim, args.rank, args.alpha, args.noise, args.seed)
    rng = np.random.default_rng(args.seed + 1)
    data = gen.draw(rng, n)
    queries = gen.draw(rng, args.queries)
    truth = exact_truth(data, queries, args.limit, rng, gen.draw(rng, max(WARM, args.warm)))
    head = float(np.mean(np.sum(data[:, : args.prefetch_dim] ** 2, axis=1)))
    log.info("n=%d: share of energy in the first %d components %.3f", n, args.prefetch_dim, head)
    yield numpy_row(data, queries, truth, args.limit)
    with tempfile.TemporaryDirectory(prefix="mmsearch-bench-", dir=args.tmp) as folder:
        for layout in args.layouts:
            if layout == "lexical":
                yield from run_lexical(args, data, queries, truth, Path(folder))
            else:
                yield from run_layout(args, layout, data, queries, truth, Path(folder))


def table_line(r: Row) -> str:
    def num(v: float | None, fmt: str) -> str:
        return "-" if v is None else format(v, fmt)

    return (
        f"{r.n:>8} {r.config[:60]:<60}{'*' if r.default else ' '} {r.p50_ms:>7.1f} {r.p95_ms:>7.1f} "
        f"{num(r.recall_at_limit, '>6.3f')} | {num(r.filtered_p50_ms, '>7.1f')} {num(r.filtered_recall, '>6.3f')} | "
        f"{num(r.build_s, '>7.0f')} {num(r.optimize_s, '>7.0f')} {num(r.disk_mb, '>7.0f')} "
        f"{num(r.open_s, '>6.2f')} {num(r.rss_mb, '>7.0f')} {num(r.vs_vector, '>6.2f')}"
    )


HEADER = (
    f"{'n':>8} {'configuration (* = default)':<61} {'p50 ms':>7} {'p95':>7} {'recall':>6} | "
    f"{'filt p50':>7} {'recall':>6} | {'upsert s':>7} {'optim s':>7} {'disk MB':>7} {'open s':>6} {'RSS MB':>7} "
    f"{'x vec':>6}"
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, action="append", help="Points (repeatable; default 10k and 100k).")
    parser.add_argument("--million", action="store_true", help="Add N = 1,000,000 (~17 GB RSS, 80 min).")
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--prefetch-dim", type=int, default=256)
    parser.add_argument(
        "--prefetch-limit", type=int, action="append", help="Prefetch candidates (repeatable; 200, 800)."
    )
    parser.add_argument(
        "--ef", type=int, action="append", help="Extra hnsw_ef values (default 64, 128, 512)."
    )
    parser.add_argument("--hnsw-m", type=int, help="Graph links per node (default: index.hnsw_m).")
    parser.add_argument(
        "--ef-construct", type=int, help="Graph build candidates (default: index.hnsw_ef_construct)."
    )
    parser.add_argument("--layout", dest="layouts", action="append", choices=["full", "prefetch", "lexical"])
    parser.add_argument("--page-words", type=int, default=300, help="lexical layout: words a page.")
    parser.add_argument("--vocabulary", type=int, default=50_000, help="lexical layout: distinct words.")
    parser.add_argument("--zipf", type=float, default=1.07, help="lexical layout: Zipf exponent of words.")
    parser.add_argument("--limit", type=int, default=50, help="Hits per query (recall@limit).")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument(
        "--warm", type=int, default=1000, help="Untimed searches (other queries) before the timings."
    )
    parser.add_argument("--rank", type=int, default=64, help="Directions of the low-rank signal.")
    parser.add_argument("--alpha", type=float, default=1.0, help="Variance of component j ∝ (j+1)^-alpha.")
    parser.add_argument("--noise", type=float, default=0.5, help="Noise scale relative to the signal.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tmp", help="Folder for the temporary stores (default: the system's).")
    parser.add_argument(
        "--keep", type=Path,
        help="Build the stores in this folder and keep them; a later run with the same --keep, N and data "
        "options measures them again without building (to re-measure after a change to the search path).",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="One JSON object per line and configuration.")
    args = parser.parse_args(argv)
    args.n = args.n or [10_000, 100_000]
    if args.million and 1_000_000 not in args.n:
        args.n.append(1_000_000)
    args.prefetch_limit = args.prefetch_limit or [200, 800]
    args.ef = args.ef or [64, 128, 512]
    args.layouts = args.layouts or ["full", "prefetch", "lexical"]
    return args


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if not args.json:
        print(f"dim {args.dim}, top {args.limit}, {args.queries} queries, MRL-like rank {args.rank} "
              f"alpha {args.alpha} noise {args.noise}; filter = 10 % of the points")  # fmt: skip
        print(HEADER)
    for n in args.n:
        for row in run(args, n):
            print(json.dumps(asdict(row)) if args.json else table_line(row), flush=True)


if __name__ == "__main__":
    main()
