"""Reranking throughput: batched (left padding) vs one pair per forward pass, as the official code does.

    python bench/rerank.py                         # GPU: real 2B and 8B shapes, random bf16 weights
    python bench/rerank.py --model 8b --documents 50 --max-batch-size 8 16
    python bench/rerank.py --tiny                  # CPU smoke test on the tiny test model (seconds)

Nothing is downloaded. Qwen3-VL-Reranker-2B / -8B are ``Qwen3VLForConditionalGeneration`` checkpoints with
the Qwen3-VL-2B/8B-Instruct shapes; they are instantiated from those published config.json values (the
``ARCHES`` table of ``bench/embed.py``, checked against the config.json files of Qwen/Qwen3-VL-2B-Instruct
and Qwen/Qwen3-VL-8B-Instruct) with random weights in bf16. Tokenizer, chat template and processors come
from ``scripts/make_tiny_models.py``; every pair goes through the production path of
:class:`TransformersReranker` (qwen-vl-utils resize → Qwen3VLProcessor → truncation → ``Qwen3VLModel`` →
``sigmoid(h_last · w)``).

One text query against ``--documents`` page screenshots (A4 at 150 dpi, resized to model resolution
first, as ingest stores them). Reported: wall time and pairs/s for the whole ``score()`` call, batched and
pairwise (``max_batch_size=1``: one pair per forward, like the reference), their ratio, the model's share
(CUDA-event time inside ``Qwen3VLModel.forward``), and the largest score difference between the two.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.embed import ARCHES, arch_config, load_tiny_builder, page_images
from mmsearch.index.inputs import Content
from mmsearch.search.settings import RerankerSettings
from mmsearch.search.transformers_reranker import TransformersReranker

log = logging.getLogger("bench.rerank")

QUERY = Content(text="Which page shows the quarterly revenue table with the growth per region?")


@dataclass(frozen=True)
class Row:
    model: str
    mode: str  # "batched" or "pairwise"
    max_batch_size: int
    documents: int
    tokens_per_pair: float
    wall_s: float
    pairs_per_s: float
    forward_s: float
    speedup: float  # pairwise wall time / this row's wall time
    max_abs_diff: float  # largest |score − pairwise score|


@contextlib.contextmanager
def forward_timer(model: Any, seconds: list[float], tokens: list[int]) -> Iterator[None]:
    """Time every ``Qwen3VLModel.forward`` (CUDA events on a GPU) and record sequence lengths."""
    cuda = next(model.parameters()).device.type == "cuda"
    marks: list[tuple[Any, Any]] = []

    def before(module: Any, args: Any, kwargs: dict[str, Any]) -> None:
        tokens.extend(kwargs["attention_mask"].sum(dim=1).tolist())
        start: Any = torch.cuda.Event(enable_timing=True) if cuda else time.perf_counter()
        if cuda:
            start.record()
        marks.append((start, None))

    def after(module: Any, args: Any, kwargs: dict[str, Any], output: Any) -> None:
        end: Any = torch.cuda.Event(enable_timing=True) if cuda else time.perf_counter()
        if cuda:
            end.record()
        marks[-1] = (marks[-1][0], end)

    handles = [
        model.register_forward_pre_hook(before, with_kwargs=True),
        model.register_forward_hook(after, with_kwargs=True),
    ]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
        if cuda:
            torch.cuda.synchronize()
            seconds.append(sum(s.elapsed_time(e) for s, e in marks) / 1000.0)
        else:
            seconds.append(sum(e - s for s, e in marks))


def timed_score(
    reranker: TransformersReranker, documents: list[Content]
) -> tuple[list[float], float, float, float]:
    """(scores, wall seconds, forward seconds, mean tokens per pair) of one ``score()`` call."""
    seconds: list[float] = []
    tokens: list[int] = []
    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    sync()
    started = time.perf_counter()
    with forward_timer(reranker.model, seconds, tokens):
        scores = reranker.score(QUERY, documents)
    sync()
    return scores, time.perf_counter() - started, seconds[0], float(np.mean(tokens))


def run(
    reranker: TransformersReranker, label: str, documents: list[Content], batch_sizes: list[int]
) -> list[Row]:
    base = reranker.settings
    reranker.settings = base.model_copy(update={"max_batch_size": 1})
    reranker.score(QUERY, documents[:2])  # warm-up: kernels, allocator
    pairwise, pair_wall, pair_fwd, pair_tokens = timed_score(reranker, documents)
    rows = [
        Row(
            label,
            "pairwise",
            1,
            len(documents),
            pair_tokens,
            pair_wall,
            len(documents) / pair_wall,
            pair_fwd,
            1.0,
            0.0,
        )
    ]
    for size in batch_sizes:
        reranker.settings = base.model_copy(update={"max_batch_size": size})
        reranker.score(QUERY, documents[: min(size, len(documents))])  # warm-up at this batch shape
        scores, wall, fwd, tokens = timed_score(reranker, documents)
        diff = float(np.abs(np.array(scores) - np.array(pairwise)).max())
        rows.append(
            Row(
                label,
                "batched",
                size,
                len(documents),
                tokens,
                wall,
                len(documents) / wall,
                fwd,
                pair_wall / wall,
                diff,
            )
        )
    reranker.settings = base
    return rows


def model_resolution(pages: list[Image.Image]) -> list[Content]:
    """Pages as ingest stores them: already within the model's pixel budget, sides multiples of 32."""
    from qwen_vl_utils import fetch_image

    from mmsearch.index import qwen_prompt

    resized = [
        fetch_image(qwen_prompt.image_item(page), image_patch_size=qwen_prompt.PATCH_SIZE) for page in pages
    ]
    return [Content(images=(page,)) for page in resized]


def make_reranker(name: str, tiny_folder: Path, attn: str, batch_tokens: int) -> TransformersReranker:
    if name == "tiny":
        settings = RerankerSettings(model=str(tiny_folder), device="cpu", batch_tokens=batch_tokens)
        return TransformersReranker(settings)
    from transformers import Qwen3VLForConditionalGeneration

    from mmsearch.models import choose_placement, load_processor

    placement = choose_placement("cuda", "auto", attn, "reranker")
    processor = load_processor(tiny_folder, padding_side="left")
    config = arch_config(name, processor.tokenizer)
    started = time.perf_counter()
    with torch.device(placement.device):
        lm = Qwen3VLForConditionalGeneration._from_config(
            config, dtype=placement.dtype, attn_implementation=placement.attn_implementation
        )
    log.info(
        "built random Qwen3-VL-Reranker-%s on %s in %.1f s",
        name.upper(),
        placement.describe(),
        time.perf_counter() - started,
    )
    settings = RerankerSettings(
        model=f"random Qwen3-VL-Reranker-{name.upper()} shape", device="cuda", batch_tokens=batch_tokens
    )
    return TransformersReranker.from_parts(settings, processor, lm)


def report(rows: list[Row], as_json: bool) -> None:
    if as_json:
        for row in rows:
            print(json.dumps(asdict(row)))
        return
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    print(f"device: {device}")
    print(
        f"{'model':>5} {'mode':>8} {'batch':>5} {'docs':>4} {'tok/pair':>8} {'wall s':>7} {'pairs/s':>8} "
        f"{'fwd s':>6} {'speedup':>7} {'max|Δ|':>8}"
    )
    for r in rows:
        print(
            f"{r.model:>5} {r.mode:>8} {r.max_batch_size:>5} {r.documents:>4} {r.tokens_per_pair:>8.0f} "
            f"{r.wall_s:>7.2f} {r.pairs_per_s:>8.1f} {r.forward_s:>6.2f} {r.speedup:>6.1f}x {r.max_abs_diff:>8.1e}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="CPU smoke test on the tiny random test model")
    parser.add_argument("--model", nargs="+", choices=sorted(ARCHES), default=sorted(ARCHES))
    parser.add_argument("--documents", type=int, default=50, help="candidates to rerank (default 50)")
    parser.add_argument("--max-batch-size", nargs="+", type=int, default=[16], help="batched runs to time")
    parser.add_argument("--batch-tokens", type=int, default=65536, help="padded-token budget of a batch")
    parser.add_argument("--page-size", default="1240x1754", help="WxH of the screenshots (A4 at 150 dpi)")
    parser.add_argument("--attn", default="auto", choices=["auto", "sdpa", "flash_attention_2", "eager"])
    parser.add_argument("--json", action="store_true", help="one JSON object per row instead of a table")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    if not args.tiny and not torch.cuda.is_available():
        print(
            "bench/rerank.py measures GPU throughput and no CUDA device is visible.\n"
            "Run it on a GPU machine, or use --tiny for a CPU smoke test of the same code path.",
            file=sys.stderr,
        )
        return 2
    width, height = (int(v) for v in args.page_size.lower().split("x"))
    if args.tiny:
        args.model, args.documents = ["tiny"], min(args.documents, 12)
        width, height = min(width, 310), min(height, 438)  # quarter-size pages keep CPU runs in seconds
    documents = model_resolution(page_images(args.documents, width, height))
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="mmsearch-bench-") as tmp:
        load_tiny_builder().build_tiny_models(Path(tmp))
        for name in args.model:
            reranker = make_reranker(name, Path(tmp) / "reranker", args.attn, args.batch_tokens)
            rows.extend(run(reranker, name, documents, args.max_batch_size))
            del reranker
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
    report(rows, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
