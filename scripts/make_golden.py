"""Golden vectors from the official Qwen3-VL-Embedding code, for tests/index/test_official_golden.py.

The official code is not a dependency of mmsearch; it was run once, in a separate virtual environment,
and its vectors are stored in ``tests/data/official_golden.json``. How they were made (re-run this to
regenerate; it takes about a minute on 2 cores):

    python3 -m venv /tmp/refvenv
    /tmp/refvenv/bin/pip install torch==2.14.1 torchvision==0.29.1 transformers==5.24.0 \\
        qwen-vl-utils==0.0.14 decord==0.6.0 av==18.1.0 pillow==13.0.0 numpy tokenizers
    git -C <clone of QwenLM/Qwen3-VL-Embedding> show 8ce3aab:src/models/qwen3_vl_embedding.py \\
        > /tmp/official/qwen3_vl_embedding.py
    FORCE_QWENVL_VIDEO_READER=decord /tmp/refvenv/bin/python scripts/make_golden.py \\
        --official /tmp/official/qwen3_vl_embedding.py --out tests/data/official_golden.json

What it does:
1. builds the tiny embedding model with ``scripts/make_tiny_models.py`` (seeded: the same weights on
   every machine; the weights' sha256 is recorded and the test refuses to compare against another build);
2. writes the inputs with :func:`make_inputs` (the test calls the same function and checks each file's
   sha256 against the recorded one): a 333×517 and a 4000×3000 picture (shrunk onto the grid), a 40×30
   one (enlarged), a 6.5 s 10 fps 640×360 MPEG-4 clip (one segment), a 65 s 4 fps lossless FFV1 video
   (three segments) and its second segment cut into a file of its own (frames 120–239, bit-identical);
3. runs the official ``Qwen3VLEmbedder.process`` (fp32, CPU) on each input given as a file path, exactly
   as a user of the official code would: images as ``{"image": path}``, videos as ``{"video": path}``
   (so qwen-vl-utils ``fetch_video`` decodes the file with decord at fps 1, max 64 frames);
4. stores every vector in full (the tiny model's dimension is 128) with the versions used.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import sys
import tempfile
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
DOCUMENT = "Represent the user's input."
QUERY = "Find a document image that matches the given query."
LONG_FPS = 4
LONG_FRAMES = 260  # 65 s: segments [0, 30), [30, 60), [60, 65) at the default 30 s
SEGMENT_1 = (120, 240)  # frames of [30 s, 60 s)

# name → (file, instruction, text); each is embedded from the file alone, plus text when given
CASES: dict[str, tuple[str, str, str | None]] = {
    "image_333x517": ("shrunk_333x517.png", DOCUMENT, None),
    "image_333x517_query": ("shrunk_333x517.png", QUERY, None),
    "image_4000x3000": ("poster_4000x3000.png", DOCUMENT, None),
    "image_40x30": ("enlarged_40x30.png", DOCUMENT, None),
    "image_40x30_text": ("enlarged_40x30.png", DOCUMENT, "a small badge"),
    "video_short": ("short_640x360.mp4", DOCUMENT, None),
    "video_segment_1": ("long_segment_1.mkv", DOCUMENT, None),
}


def picture(width: int, height: int, seed: int) -> Image.Image:
    """Gradients, hard-edged blocks and seeded noise: every resampling filter leaves its mark."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :]
    y = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    rgb = np.stack(np.broadcast_arrays(40 + 180 * x, 200 - 150 * y, 120 + 100 * x * y), axis=-1)
    rgb = rgb + rng.normal(0.0, 18.0, size=(height, width, 3))
    for _ in range(12):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        w, h = int(rng.integers(1, max(2, width // 4))), int(rng.integers(1, max(2, height // 4)))
        rgb[y0 : y0 + h, x0 : x0 + w] = rng.integers(0, 256, size=3)
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")


def video_frame(index: int, size: tuple[int, int]) -> np.ndarray:
    """Frame ``index``: a drifting background, a moving block, a seeded texture."""
    w, h = size
    rng = np.random.default_rng(1000 + index)
    frame = np.empty((h, w, 3), dtype=np.uint8)
    frame[...] = (40 + (index * 7) % 180, 90, 200 - (index * 5) % 150)
    block = max(8, h // 4)
    x = (index * 9) % max(1, w - block)
    frame[h - block - 2 : h - 2, x : x + block] = (250, 220, 0)
    texture = rng.integers(0, 60, size=(h // 4, w // 4, 3), dtype=np.uint8)
    frame[: h // 4, : w // 4] = texture
    return frame


def write_video(path: Path, frames: range, fps: int, size: tuple[int, int], codec: str) -> None:
    import av
    from av.video.stream import VideoStream

    options = {"fflags": "+bitexact"}
    with av.open(str(path), mode="w", options=options) as out:
        stream = out.add_stream(codec, rate=Fraction(fps))
        assert isinstance(stream, VideoStream)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        if codec == "mpeg4":
            stream.bit_rate = 600_000
        stream.codec_context.thread_count = 1
        for i in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(video_frame(i, size), format="rgb24")))
        out.mux(stream.encode(None))


def make_inputs(folder: Path) -> dict[str, Path]:
    """Write every input file into ``folder``; return name → path."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "shrunk_333x517.png": lambda p: picture(333, 517, 1).save(p),
        "poster_4000x3000.png": lambda p: picture(4000, 3000, 2).save(p, compress_level=1),
        "enlarged_40x30.png": lambda p: picture(40, 30, 3).save(p),
        "short_640x360.mp4": lambda p: write_video(p, range(65), 10, (640, 360), "mpeg4"),
        "long_320x192.mkv": lambda p: write_video(p, range(LONG_FRAMES), LONG_FPS, (320, 192), "ffv1"),
        "long_segment_1.mkv": lambda p: write_video(p, range(*SEGMENT_1), LONG_FPS, (320, 192), "ffv1"),
    }
    out = {}
    for name, write in files.items():
        path = folder / name
        if not path.exists():
            _write(write, path)
        out[name] = path
    return out


def _write(write: Callable[[Path], None], path: Path) -> None:
    partial = path.with_name(path.name + ".part" + path.suffix)
    write(partial)
    partial.rename(path)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _load(path: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="golden vectors from the official Qwen3-VL-Embedding code")
    parser.add_argument("--official", type=Path, required=True, help="official qwen3_vl_embedding.py")
    parser.add_argument("--out", type=Path, default=REPO / "tests" / "data" / "official_golden.json")
    parser.add_argument(
        "--work", type=Path, help="folder for the tiny model and inputs (default: a temp dir)"
    )
    args = parser.parse_args(argv)
    import torch
    import transformers

    work = args.work or Path(tempfile.mkdtemp(prefix="golden-"))
    tiny = _load(REPO / "scripts" / "make_tiny_models.py", "make_tiny_models")
    if not (work / "models" / "RECIPE").is_file():
        tiny.build_tiny_models(work / "models")
    model_dir = work / "models" / "embedding"
    inputs = make_inputs(work / "inputs")
    official = _load(args.official, "qwen3_vl_embedding")
    embedder = official.Qwen3VLEmbedder(str(model_dir), dtype=torch.float32)
    cases = {}
    for case, (file, instruction, text) in CASES.items():
        item: dict[str, Any] = {"instruction": instruction}
        kind = "video" if file.endswith((".mp4", ".mkv")) else "image"
        item[kind] = str(inputs[file])
        if text is not None:
            item["text"] = text
        vector = embedder.process([item]).float().cpu().numpy()[0]
        cases[case] = {"file": file, "instruction": instruction, "text": text, "vector": vector.tolist()}
        print(f"{case}: norm {np.linalg.norm(vector):.6f}", file=sys.stderr)
    import decord
    import qwen_vl_utils

    golden = {
        "made_by": "scripts/make_golden.py (see its docstring)",
        "official_source": "QwenLM/Qwen3-VL-Embedding@8ce3aab src/models/qwen3_vl_embedding.py",
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "qwen_vl_utils": getattr(qwen_vl_utils, "__version__", "0.0.14"),
            "decord": decord.__version__,
        },
        "tiny_recipe": tiny.recipe_hash(),
        "tiny_weights_sha256": sha256(model_dir / "model.safetensors"),
        "inputs_sha256": {name: sha256(path) for name, path in sorted(inputs.items())},
        "cases": cases,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(golden, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
