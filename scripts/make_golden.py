"""Golden values from the official Qwen3-VL-Embedding code in the model card's environment.

The reference is the official code (QwenLM/Qwen3-VL-Embedding at commit ``8ce3aab``:
``src/models/qwen3_vl_embedding.py`` and ``src/models/qwen3_vl_reranker.py``) run under the model card's
``transformers>=4.57.0``, ``qwen-vl-utils>=0.0.14`` — concretely **transformers 4.57.1** — never under
whatever transformers mmsearch happens to install: transformers 5.10–5.24 render video prompts with an
extra ``<|vision_start|>``/``<|vision_end|>`` pair around all frames, so golden values made there would
hold mmsearch to the wrong prompt (see ``mmsearch/index/video_prompt.py``). The official code is not a
dependency of mmsearch; this script runs it once and stores its vectors and scores in
``tests/data/official_golden.json``. To regenerate (about a minute on 2 cores), beside mmsearch's own
``.venv`` (torch 2.14.1, torchvision, qwen-vl-utils 0.0.14, av, pillow, numpy, scipy are taken from it)::

    .venv/bin/python -m pip install --no-deps --target /tmp/t457 \\
        transformers==4.57.1 tokenizers==0.22.1 huggingface-hub==0.36.0 decord==0.6.0
    PYTHONPATH=/tmp/t457:$PWD FORCE_QWENVL_VIDEO_READER=decord HF_HUB_OFFLINE=1 \\
        .venv/bin/python scripts/make_golden.py --official-repo <clone of QwenLM/Qwen3-VL-Embedding>

(``/tmp/t457`` first on the path, so its transformers, tokenizers and huggingface-hub shadow the venv's;
the official files are taken from the clone with ``git show 8ce3aab:src/models/<file>``.)

What it does:
1. builds the tiny models with ``scripts/make_tiny_models.py`` (seeded: the same weights on every
   machine; the weights' sha256 are recorded and the tests refuse to compare against another build);
2. the tiny checkpoints are saved by transformers 5, which 4.57 cannot read as they are, so
   :func:`for_transformers_4` makes a copy with the same weights (hard links) and converted configs:
   in ``tokenizer_config.json`` ``extra_special_tokens`` becomes ``additional_special_tokens`` and the
   class ``Qwen2TokenizerFast``; ``processor_config.json``'s nested image and video processors become
   ``preprocessor_config.json`` and ``video_preprocessor_config.json``; in ``config.json``
   ``text_config.rope_parameters`` becomes ``rope_scaling`` (``rope_type``, ``mrope_section``,
   ``mrope_interleaved``) plus ``rope_theta`` (the layout of the released Qwen3-VL checkpoints);
3. writes the inputs with :func:`make_inputs` (the tests call the same function and check each file's
   sha256 against the recorded one): a 333×517 and a 4000×3000 picture (shrunk onto the grid), a 40×30
   one (enlarged), a 6.5 s 10 fps 640×360 MPEG-4 clip (one segment), a 65 s 4 fps lossless FFV1 video
   (three segments) and its second segment cut into a file of its own (frames 120–239, bit-identical);
4. runs the official ``Qwen3VLEmbedder.process`` (fp32, CPU) on each embedding case (:data:`CASES`:
   images, videos, and videos and images with text) given as a file path, exactly as a user of the
   official code would: images as ``{"image": path}``, videos as ``{"video": path}`` (so qwen-vl-utils
   ``fetch_video`` decodes the file with decord at fps 1, max 64 frames);
5. runs the official ``Qwen3VLReranker.process`` (fp32, CPU, default instruction) on each reranker case
   (:data:`RERANK_CASES`: a text query against an image, a video, and a video with text);
6. stores every vector in full (the tiny model's dimension is 128), every score, and the versions used.

``--check-prompts`` also prints each video case's prompt as the processor expanded it, to see the
form (one ``<|vision_start|>…<|vision_end|>`` per frame after its ``<t seconds>``, none around the
whole video). Run under another transformers (``PYTHONPATH`` with that version's target folder, plus
one holding ``decord==0.6.0`` alone, instead of ``/tmp/t457``), it writes the same file for that version,
which is how the differences between versions were measured (the official reranker needs one shim under
transformers 5, see :func:`rerank_cases`); only the 4.57.1 file belongs in ``tests/data``.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
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
OFFICIAL_COMMIT = "8ce3aab"
OFFICIAL_FILES = ("qwen3_vl_embedding.py", "qwen3_vl_reranker.py")
VIDEO_TEXT = "a yellow block slides along the bottom"
RERANK_QUERY = "a yellow block moving across a blue background"

# name → (file, instruction, text); each is embedded from the file alone, plus text when given
CASES: dict[str, tuple[str, str, str | None]] = {
    "image_333x517": ("shrunk_333x517.png", DOCUMENT, None),
    "image_333x517_query": ("shrunk_333x517.png", QUERY, None),
    "image_4000x3000": ("poster_4000x3000.png", DOCUMENT, None),
    "image_40x30": ("enlarged_40x30.png", DOCUMENT, None),
    "image_40x30_text": ("enlarged_40x30.png", DOCUMENT, "a small badge"),
    "video_short": ("short_640x360.mp4", DOCUMENT, None),
    "video_segment_1": ("long_segment_1.mkv", DOCUMENT, None),
    "video_short_text": ("short_640x360.mp4", DOCUMENT, VIDEO_TEXT),
    "video_short_query_text": ("short_640x360.mp4", QUERY, VIDEO_TEXT),
    "video_segment_1_text": ("long_segment_1.mkv", DOCUMENT, VIDEO_TEXT),
}

# name → (query text, document file, document text); the reranker's default instruction
RERANK_CASES: dict[str, tuple[str, str, str | None]] = {
    "rerank_image": (RERANK_QUERY, "shrunk_333x517.png", None),
    "rerank_image_text": (RERANK_QUERY, "enlarged_40x30.png", "a small badge"),
    "rerank_video": (RERANK_QUERY, "short_640x360.mp4", None),
    "rerank_video_text": (RERANK_QUERY, "short_640x360.mp4", VIDEO_TEXT),
    "rerank_segment_1": (RERANK_QUERY, "long_segment_1.mkv", None),
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


def is_video(file: str) -> bool:
    return file.endswith((".mp4", ".mkv"))


def for_transformers_4(source: Path, target: Path) -> Path:
    """A copy of the transformers-5 checkpoint ``source`` that transformers 4.57 reads: the same weights
    (hard-linked, or copied across file systems) and the configs converted to the 4.57 layout."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for path in source.iterdir():
        if path.name not in ("config.json", "tokenizer_config.json", "processor_config.json"):
            try:
                os.link(path, target / path.name)
            except OSError:
                shutil.copy2(path, target / path.name)
    config = json.loads((source / "config.json").read_text(encoding="utf-8"))
    text = config["text_config"]
    rope = text.pop("rope_parameters")
    text["rope_theta"] = rope.pop("rope_theta")
    text["rope_scaling"] = rope  # rope_type, mrope_section, mrope_interleaved
    _write_json(target / "config.json", config)
    tokenizer = json.loads((source / "tokenizer_config.json").read_text(encoding="utf-8"))
    tokenizer["additional_special_tokens"] = tokenizer.pop("extra_special_tokens")
    tokenizer["tokenizer_class"] = "Qwen2TokenizerFast"
    _write_json(target / "tokenizer_config.json", tokenizer)
    processor = json.loads((source / "processor_config.json").read_text(encoding="utf-8"))
    processor_class = processor["processor_class"]
    _write_json(
        target / "preprocessor_config.json",
        {**processor["image_processor"], "processor_class": processor_class},
    )
    _write_json(
        target / "video_preprocessor_config.json",
        {**processor["video_processor"], "processor_class": processor_class},
    )
    return target


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def official_sources(repo: Path, folder: Path) -> dict[str, Path]:
    """The official embedder and reranker files at :data:`OFFICIAL_COMMIT`, from a clone of the repo."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name in OFFICIAL_FILES:
        text = subprocess.run(
            ["git", "-C", str(repo), "show", f"{OFFICIAL_COMMIT}:src/models/{name}"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        (folder / name).write_text(text, encoding="utf-8")
        out[name] = folder / name
    return out


def embedding_cases(official: Any, model_dir: Path, inputs: dict[str, Path], show: bool) -> dict[str, Any]:
    import torch

    embedder = official.Qwen3VLEmbedder(str(model_dir), dtype=torch.float32)
    cases = {}
    for case, (file, instruction, text) in CASES.items():
        item: dict[str, Any] = {
            "instruction": instruction,
            "video" if is_video(file) else "image": str(inputs[file]),
        }
        if text is not None:
            item["text"] = text
        if show and is_video(file):
            _show_prompt(
                embedder.processor,
                embedder._preprocess_inputs(
                    [embedder.format_model_input(text=text, video=str(inputs[file]), instruction=instruction)]
                ),
                case,
            )
        vector = embedder.process([item]).float().cpu().numpy()[0]
        cases[case] = {"file": file, "instruction": instruction, "text": text, "vector": vector.tolist()}
        print(f"{case}: norm {np.linalg.norm(vector):.6f}", file=sys.stderr)
    return cases


def rerank_cases(official: Any, model_dir: Path, inputs: dict[str, Path]) -> dict[str, Any]:
    import torch

    reranker = official.Qwen3VLReranker(str(model_dir), dtype=torch.float32)
    tokenize = reranker.tokenize

    def tokenize_as_tensors(pairs: list[Any], **kwargs: Any) -> Any:
        # Only matters under transformers 5 (cross-version measurements): the official code pads only
        # input_ids, leaving mm_token_type_ids (new in 5) a list the model cannot index with; one pair
        # per call, so it needs no padding. Under 4.57 there is no such field and nothing changes.
        inputs = tokenize(pairs, **kwargs)
        if isinstance(inputs.get("mm_token_type_ids"), list):
            inputs["mm_token_type_ids"] = torch.tensor(inputs["mm_token_type_ids"])
        return inputs

    reranker.tokenize = tokenize_as_tensors
    cases = {}
    for case, (query, file, text) in RERANK_CASES.items():
        document: dict[str, Any] = {"video" if is_video(file) else "image": str(inputs[file])}
        if text is not None:
            document["text"] = text
        (score,) = reranker.process({"query": {"text": query}, "documents": [document]})
        cases[case] = {"query": query, "file": file, "text": text, "score": float(score)}
        print(f"{case}: score {score:.8f}", file=sys.stderr)
    return cases


def _show_prompt(processor: Any, inputs: Any, case: str) -> None:
    ids = inputs["input_ids"][0].tolist()
    pad = processor.tokenizer.convert_tokens_to_ids("<|video_pad|>")
    squeezed = [i for n, i in enumerate(ids) if i != pad or n == 0 or ids[n - 1] != pad]
    print(f"{case}: {processor.tokenizer.decode(squeezed)!r}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="golden values from the official Qwen3-VL-Embedding code")
    parser.add_argument(
        "--official-repo", type=Path, required=True, help="a git clone of QwenLM/Qwen3-VL-Embedding"
    )
    parser.add_argument("--out", type=Path, default=REPO / "tests" / "data" / "official_golden.json")
    parser.add_argument(
        "--work", type=Path, help="folder for the tiny models and inputs (default: a temp dir)"
    )
    parser.add_argument("--check-prompts", action="store_true", help="print each video prompt as expanded")
    args = parser.parse_args(argv)
    import torch
    import transformers

    work = args.work or Path(tempfile.mkdtemp(prefix="golden-"))
    tiny = _load(REPO / "scripts" / "make_tiny_models.py", "make_tiny_models")
    if not (work / "models" / "RECIPE").is_file():
        tiny.build_tiny_models(work / "models")
    models = {name: work / "models" / name for name in ("embedding", "reranker")}
    if int(transformers.__version__.split(".")[0]) < 5:
        models = {name: for_transformers_4(path, work / "models-4" / name) for name, path in models.items()}
    inputs = make_inputs(work / "inputs")
    sources = official_sources(args.official_repo, work / "official")
    embedding = _load(sources["qwen3_vl_embedding.py"], "qwen3_vl_embedding")
    reranker = _load(sources["qwen3_vl_reranker.py"], "qwen3_vl_reranker")
    cases = embedding_cases(embedding, models["embedding"], inputs, args.check_prompts)
    reranked = rerank_cases(reranker, models["reranker"], inputs)
    import decord
    import huggingface_hub
    import qwen_vl_utils
    import tokenizers

    golden = {
        "made_by": "scripts/make_golden.py (see its docstring)",
        "official_source": f"QwenLM/Qwen3-VL-Embedding@{OFFICIAL_COMMIT} "
        + " and ".join(f"src/models/{name}" for name in OFFICIAL_FILES),
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__,
            "huggingface_hub": huggingface_hub.__version__,
            "qwen_vl_utils": getattr(qwen_vl_utils, "__version__", "0.0.14"),
            "decord": decord.__version__,
        },
        "tiny_recipe": tiny.recipe_hash(),
        "tiny_weights_sha256": {
            name: sha256(work / "models" / name / "model.safetensors") for name in ("embedding", "reranker")
        },
        "inputs_sha256": {name: sha256(path) for name, path in sorted(inputs.items())},
        "cases": cases,
        "rerank_cases": reranked,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(golden, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
