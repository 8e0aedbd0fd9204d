"""Embedding throughput: pages/s and MFU of the in-process embedder on page-sized screenshots.

    python bench/embed.py                          # GPU: real 2B and 8B shapes, random bf16 weights
    python bench/embed.py --model 8b --batch-sizes 1 8 32 --pages 64
    python bench/embed.py --tiny                   # CPU smoke test on the tiny test model (seconds)

Nothing is downloaded. The real architectures are instantiated from their published config values
(Qwen/Qwen3-VL-Embedding-2B and -8B ship the Qwen3-VL-2B/8B-Instruct shapes; values copied from those
config.json files, see ``ARCHES``) with random weights; the tokenizer, chat template and processors come
from ``scripts/make_tiny_models.py``, so every page goes through the production path (qwen-vl-utils
resize → Qwen3VLProcessor → model → last-token pooling) in ``TransformersEmbedder``.

Reported per batch size: pages/s end to end (CPU preprocessing included), the model's forward time alone
(CUDA events around ``Qwen3VLModel.forward``), sequence length per page, and MFU = useful FLOPs in the
forward passes / (forward time × peak dense bf16 FLOP/s). FLOPs count 2·params per token/patch for the
matmuls plus attention scores (causal in the LM, full per image in the vision tower); padding is not
counted as useful.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import logging
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mmsearch.index.inputs import Content
from mmsearch.index.settings import DEFAULT_DOCUMENT_INSTRUCTION, EmbeddingSettings
from mmsearch.index.transformers_embedder import TransformersEmbedder

log = logging.getLogger("bench.embed")

# Published shapes (config.json of Qwen/Qwen3-VL-2B-Instruct and Qwen/Qwen3-VL-8B-Instruct; the
# Qwen3-VL-Embedding-2B/8B checkpoints are fine-tunes of these and keep them; output dim = hidden_size).
ARCHES: dict[str, dict[str, Any]] = {
    "2b": {
        "text": {
            "hidden_size": 2048,
            "intermediate_size": 6144,
            "num_hidden_layers": 28,
            "num_attention_heads": 16,
            "num_key_value_heads": 8,
            "head_dim": 128,
        },
        "vision": {
            "depth": 24,
            "hidden_size": 1024,
            "intermediate_size": 4096,
            "num_heads": 16,
            "out_hidden_size": 2048,
            "deepstack_visual_indexes": [5, 11, 17],
        },
        "tie_word_embeddings": True,
    },
    "8b": {
        "text": {
            "hidden_size": 4096,
            "intermediate_size": 12288,
            "num_hidden_layers": 36,
            "num_attention_heads": 32,
            "num_key_value_heads": 8,
            "head_dim": 128,
        },
        "vision": {
            "depth": 27,
            "hidden_size": 1152,
            "intermediate_size": 4304,
            "num_heads": 16,
            "out_hidden_size": 4096,
            "deepstack_visual_indexes": [8, 16, 24],
        },
        "tie_word_embeddings": False,
    },
}
COMMON_TEXT = {
    "vocab_size": 151936,
    "max_position_embeddings": 262144,
    "rms_norm_eps": 1e-6,
    "hidden_act": "silu",
    "rope_parameters": {
        "rope_type": "default",
        "rope_theta": 5000000.0,
        "mrope_section": [24, 20, 20],
        "mrope_interleaved": True,
    },
}
COMMON_VISION = {
    "patch_size": 16,
    "spatial_merge_size": 2,
    "temporal_patch_size": 2,
    "in_channels": 3,
    "num_position_embeddings": 2304,
    "hidden_act": "gelu_pytorch_tanh",
}

# Dense bf16 peak FLOP/s (vendor datasheets, no sparsity).
PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "A10G": 125.0, "L4": 121.0}


@dataclass
class ForwardLog:
    """Filled by hooks around the model's forward: time on the GPU and useful FLOPs."""

    seconds: float = 0.0
    flops: float = 0.0
    tokens: list[int] = field(default_factory=list)
    _events: list[tuple[Any, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Row:
    model: str
    batch_size: int
    pages: int
    tokens_per_page: float
    pages_per_s: float
    forward_s: float
    forward_pages_per_s: float
    tflops: float
    mfu: float | None


def load_tiny_builder() -> Any:
    spec = importlib.util.spec_from_file_location(
        "make_tiny_models", REPO / "scripts" / "make_tiny_models.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def arch_config(name: str, tokenizer: Any) -> Any:
    from transformers import Qwen3VLConfig

    arch = ARCHES[name]
    ids = {
        t: tokenizer.convert_tokens_to_ids(t)
        for t in ("<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>")
    }
    return Qwen3VLConfig(
        text_config={**COMMON_TEXT, **arch["text"], "tie_word_embeddings": arch["tie_word_embeddings"]},
        vision_config={**COMMON_VISION, **arch["vision"]},
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=arch["tie_word_embeddings"],
    )


def build_model(config: Any, device: torch.device, dtype: torch.dtype, attn: str) -> Any:
    from transformers import Qwen3VLModel

    started = time.perf_counter()
    with torch.device(device):
        model = Qwen3VLModel._from_config(config, dtype=dtype, attn_implementation=attn)
    log.info(
        "built %s random weights on %s in %.1f s", type(model).__name__, device, time.perf_counter() - started
    )
    return model.eval()


def page_images(count: int, width: int, height: int) -> list[Image.Image]:
    """Deterministic page-like screenshots: white paper, lines of dark "text" blocks, a figure box."""
    rng = np.random.default_rng(0)
    pages = []
    for _ in range(count):
        page = Image.new("RGB", (width, height), "white")
        draw = ImageDraw.Draw(page)
        for y in range(height // 12, height - height // 12, max(height // 60, 8)):
            x = width // 10
            while x < width - width // 10:
                w = int(rng.integers(width // 40, width // 12))
                draw.rectangle([x, y, x + w, y + max(height // 160, 3)], fill=(30, 30, 30))
                x += w + width // 80
        fy = int(rng.integers(height // 4, height // 2))
        draw.rectangle([width // 6, fy, width * 5 // 6, fy + height // 5], outline=(0, 0, 160), width=4)
        pages.append(page)
    return pages


def split_params(model: Any) -> tuple[int, int, Any]:
    """(LM params without the token embedding, vision params without position embedding, configs)."""
    lm = sum(p.numel() for n, p in model.language_model.named_parameters() if "embed_tokens" not in n)
    vision = sum(p.numel() for n, p in model.visual.named_parameters() if "pos_embed" not in n)
    return lm, vision, model.config


def forward_flops(inputs: dict[str, Any], lm_params: int, vision_params: int, config: Any) -> float:
    text, vision = config.get_text_config(), config.vision_config
    lengths = inputs["attention_mask"].sum(dim=1).double()
    attn_width = text.num_attention_heads * text.head_dim
    flops = 2.0 * lm_params * float(lengths.sum())
    flops += 2.0 * text.num_hidden_layers * float((lengths**2).sum()) * attn_width  # causal QKᵀ + AV
    grids = [inputs.get("image_grid_thw"), inputs.get("video_grid_thw")]
    for grid in (g for g in grids if g is not None):
        for t, h, w in grid.tolist():
            patches = t * h * w
            per_window = h * w  # vision attention is full within each frame/image
            flops += 2.0 * vision_params * patches
            flops += 4.0 * vision.depth * t * per_window**2 * vision.hidden_size
    return flops


@contextlib.contextmanager
def timed_forward(model: Any, record: ForwardLog, lm_params: int, vision_params: int) -> Iterator[None]:
    cuda = next(model.parameters()).device.type == "cuda"

    def before(module: Any, args: Any, kwargs: dict[str, Any]) -> None:
        record.flops += forward_flops(kwargs, lm_params, vision_params, module.config)
        record.tokens.extend(kwargs["attention_mask"].sum(dim=1).tolist())
        if cuda:
            start = torch.cuda.Event(enable_timing=True)
            start.record()
            record._events.append((start, None))
        else:
            record._events.append((time.perf_counter(), None))

    def after(module: Any, args: Any, kwargs: dict[str, Any], output: Any) -> None:
        start, _ = record._events[-1]
        if cuda:
            end = torch.cuda.Event(enable_timing=True)
            end.record()
            record._events[-1] = (start, end)
        else:
            record._events[-1] = (start, time.perf_counter())

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
            record.seconds = sum(s.elapsed_time(e) for s, e in record._events) / 1000.0
        else:
            record.seconds = sum(e - s for s, e in record._events)


def peak_flops(device: torch.device, override_tflops: float | None) -> float | None:
    if override_tflops:
        return override_tflops * 1e12
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key, tflops in PEAK_TFLOPS.items():
        if key in name:
            return tflops * 1e12
    log.warning("unknown GPU %r: pass --peak-tflops to get MFU", name)
    return None


def run_one(
    embedder: TransformersEmbedder, label: str, batch: int, pages: list[Image.Image], peak: float | None
) -> Row:
    settings = embedder.settings.model_copy(update={"max_batch_size": batch, "batch_tokens": batch * 4096})
    embedder.settings = settings
    items = [Content(images=(page,)) for page in pages]
    embedder.embed(items[:batch], DEFAULT_DOCUMENT_INSTRUCTION)  # warm-up (kernels, allocator)
    lm, vision, _ = split_params(embedder.model)
    record = ForwardLog()
    started = time.perf_counter()
    with timed_forward(embedder.model, record, lm, vision):
        vectors = embedder.embed(items, DEFAULT_DOCUMENT_INSTRUCTION)
    wall = time.perf_counter() - started
    assert vectors.shape[0] == len(items) and np.isfinite(vectors).all()
    achieved = record.flops / record.seconds if record.seconds else 0.0
    return Row(
        model=label,
        batch_size=batch,
        pages=len(items),
        tokens_per_page=float(np.mean(record.tokens)),
        pages_per_s=len(items) / wall,
        forward_s=record.seconds,
        forward_pages_per_s=len(items) / record.seconds if record.seconds else 0.0,
        tflops=achieved / 1e12,
        mfu=achieved / peak if peak else None,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="CPU smoke test on the tiny random test model")
    parser.add_argument("--model", nargs="+", choices=sorted(ARCHES), default=sorted(ARCHES))
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 4, 8, 16])
    parser.add_argument("--pages", type=int, default=32, help="pages per measurement")
    parser.add_argument("--page-size", default="1240x1754", help="WxH of the screenshots (A4 at 150 dpi)")
    parser.add_argument("--attn", default="auto", choices=["auto", "sdpa", "flash_attention_2", "eager"])
    parser.add_argument(
        "--peak-tflops", type=float, help="peak dense bf16 TFLOP/s for MFU (default: by GPU name)"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per row instead of a table")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    if not args.tiny and not torch.cuda.is_available():
        print(
            "bench/embed.py measures GPU throughput and no CUDA device is visible.\n"
            "Run it on a GPU machine, or use --tiny for a CPU smoke test of the same code path.",
            file=sys.stderr,
        )
        return 2
    width, height = (int(v) for v in args.page_size.lower().split("x"))
    if args.tiny:
        args.model, args.pages = ["tiny"], min(args.pages, 8)
        args.batch_sizes = [b for b in args.batch_sizes if b <= args.pages] or [1]
        width, height = min(width, 310), min(height, 438)  # quarter-size pages keep CPU runs in seconds
    rows = []
    with tempfile.TemporaryDirectory(prefix="mmsearch-bench-") as tmp:
        builder = load_tiny_builder()
        builder.build_tiny_models(Path(tmp))
        for name in args.model:
            embedder = make_embedder(name, Path(tmp) / "embedding", args.attn)
            peak = peak_flops(embedder.placement.device, args.peak_tflops)
            pages = page_images(args.pages, width, height)
            for batch in args.batch_sizes:
                rows.append(run_one(embedder, name, batch, pages, peak))
            del embedder
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
    report(rows, args.json)
    return 0


def make_embedder(name: str, tiny_folder: Path, attn: str) -> TransformersEmbedder:
    if name == "tiny":
        settings = EmbeddingSettings(model=str(tiny_folder), device="cpu")
        return TransformersEmbedder(settings)
    from mmsearch.models import choose_placement, load_processor

    placement = choose_placement("cuda", "auto", attn, "embedding")
    processor = load_processor(tiny_folder, padding_side="right")
    config = arch_config(name, processor.tokenizer)
    model = build_model(config, placement.device, placement.dtype, placement.attn_implementation)
    settings = EmbeddingSettings(model=f"random Qwen3-VL-Embedding-{name.upper()} shape", device="cuda")
    return TransformersEmbedder.from_parts(settings, processor, model)


def report(rows: list[Row], as_json: bool) -> None:
    if as_json:
        for row in rows:
            print(json.dumps(asdict(row)))
        return
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    print(f"device: {device}")
    print(
        f"{'model':>5} {'batch':>5} {'pages':>5} {'tok/page':>8} {'pages/s':>8} {'fwd s':>7} "
        f"{'fwd pages/s':>11} {'TFLOP/s':>8} {'MFU':>6}"
    )
    for r in rows:
        mfu = f"{100 * r.mfu:5.1f}%" if r.mfu is not None else "   n/a"
        print(
            f"{r.model:>5} {r.batch_size:>5} {r.pages:>5} {r.tokens_per_page:>8.0f} {r.pages_per_s:>8.2f} "
            f"{r.forward_s:>7.2f} {r.forward_pages_per_s:>11.2f} {r.tflops:>8.1f} {mfu}"
        )


if __name__ == "__main__":
    sys.exit(main())
