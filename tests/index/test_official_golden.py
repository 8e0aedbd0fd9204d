"""mmsearch's vectors and scores against golden values from the official QwenLM/Qwen3-VL-Embedding code.

``tests/data/official_golden.json`` was made once by ``scripts/make_golden.py`` (its docstring says
exactly how): the official ``Qwen3VLEmbedder`` and ``Qwen3VLReranker`` in the model card's environment
(transformers 4.57.1, qwen-vl-utils 0.0.14, decord), on the same tiny seeded weights. Here the same
input files are regenerated, read through mmsearch's own ingest (what ``mmsearch ingest`` stores and
embeds) and embedded/scored by the in-process backends; every vector must match within 1e-4 (max abs,
unit vectors) and every reranker score within 1e-5.

Embedding cases: pictures shrunk onto the grid (333×517, 4000×3000: the resampling filter must be
qwen-vl-utils' bicubic), enlarged (40×30), with the query instruction and with text; a 6.5 s clip (one
segment: the official code's frame indices, timestamps, resize and decoder colours), alone and with
text; and the second 30 s segment of a 65 s video, alone and with text, against the official code run on
that segment cut into a file of its own. Reranker cases: a text query against an image, an image with
text, the clip, the clip with text and the segment.

The installed transformers decides how the processor expands a video placeholder (5.10–5.24 keep an
extra pair of vision markers around the whole video; ``mmsearch/index/video_prompt.py``), so the last
test runs the video cases in a subprocess under transformers 5.24.0 (installed beside ``.venv`` by
``scripts/test.sh`` into ``.cache/transformers-5.24.0``): they must still match the card's values.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from mmsearch.index.inputs import Content, unit_content
from mmsearch.index.settings import EmbeddingSettings
from mmsearch.index.transformers_embedder import TransformersEmbedder
from mmsearch.ingest.reader import read_file
from mmsearch.ingest.settings import IngestSettings
from mmsearch.ingest.units import SegmentUnit, Unit
from mmsearch.search.settings import RerankerSettings
from mmsearch.search.transformers_reranker import TransformersReranker
from tests.support import load_script

REPO = Path(__file__).resolve().parents[2]
GOLDEN = json.loads((REPO / "tests" / "data" / "official_golden.json").read_text(encoding="utf-8"))
TOLERANCE = 1e-4
SCORE_TOLERANCE = 1e-5
IMAGE_CASES = ["image_333x517", "image_333x517_query", "image_4000x3000", "image_40x30", "image_40x30_text"]
VIDEO_CASES = [
    "video_short",
    "video_short_text",
    "video_short_query_text",
    "video_segment_1",
    "video_segment_1_text",
]
RERANK_CASES = ["rerank_image", "rerank_image_text", "rerank_video", "rerank_video_text", "rerank_segment_1"]
WINDOW_VERSION = "5.24.0"  # inside 5.10–5.24, whose processors keep an outer pair of video markers
WINDOW = REPO / ".cache" / f"transformers-{WINDOW_VERSION}"  # scripts/test.sh installs it there

pytestmark = pytest.mark.slow


def _script() -> ModuleType:
    return load_script("make_golden")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_checked_inputs(folder: Path) -> dict[str, Path]:
    made: dict[str, Path] = _script().make_inputs(folder)
    for name, path in made.items():
        assert _sha256(path) == GOLDEN["inputs_sha256"][name], (
            f"{name} is not the file the golden values were made from (an encoder or Pillow change?); "
            "regenerate tests/data/official_golden.json with scripts/make_golden.py"
        )
    return made


def check_weights(tiny_models: Path, name: str) -> Path:
    folder = tiny_models / name
    assert _sha256(folder / "model.safetensors") == GOLDEN["tiny_weights_sha256"][name], (
        f"the tiny {name} weights differ from those the golden values were made with; "
        "regenerate tests/data/official_golden.json with scripts/make_golden.py"
    )
    return folder


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_checked_inputs(tmp_path_factory.mktemp("golden-inputs"))


@pytest.fixture(scope="module")
def embedder(tiny_models: Path) -> TransformersEmbedder:
    folder = check_weights(tiny_models, "embedding")
    return TransformersEmbedder(EmbeddingSettings(model=str(folder), device="cpu"))


@pytest.fixture(scope="module")
def reranker(tiny_models: Path) -> TransformersReranker:
    folder = check_weights(tiny_models, "reranker")
    return TransformersReranker(RerankerSettings(model=str(folder), device="cpu"))


def _units(path: Path) -> list[Unit]:
    _source, units = read_file(path, IngestSettings())
    return list(units)


def unit_of(inputs: dict[str, Path], file: str) -> Unit:
    """The unit mmsearch's ingest makes of ``file``; for the cut segment, the same segment of the
    whole 65 s video (the official code read the cut file; ingest reads the video it came from)."""
    if file == "long_segment_1.mkv":
        return _units(inputs["long_320x192.mkv"])[1]
    (unit,) = _units(inputs[file])
    return unit


def with_text(unit: Unit, text: str | None) -> Content:
    content = unit_content(unit)
    return content if text is None else Content(text=text, images=content.images, video=content.video)


def embedding_difference(embedder: TransformersEmbedder, inputs: dict[str, Path], case: str) -> float:
    golden: dict[str, Any] = GOLDEN["cases"][case]
    content = with_text(unit_of(inputs, golden["file"]), golden["text"])
    ours = embedder.embed([content], golden["instruction"])[0]
    return float(np.max(np.abs(ours - np.asarray(golden["vector"], dtype=np.float32))))


def score_difference(reranker: TransformersReranker, inputs: dict[str, Path], case: str) -> float:
    golden: dict[str, Any] = GOLDEN["rerank_cases"][case]
    document = with_text(unit_of(inputs, golden["file"]), golden["text"])
    (score,) = reranker.score(Content(text=golden["query"]), [document])
    return abs(score - float(golden["score"]))


def test_the_golden_values_come_from_the_model_cards_environment() -> None:
    assert GOLDEN["versions"]["transformers"].startswith("4.57."), GOLDEN["versions"]
    assert set(GOLDEN["cases"]) == set(IMAGE_CASES + VIDEO_CASES)
    assert set(GOLDEN["rerank_cases"]) == set(RERANK_CASES)


@pytest.mark.parametrize("case", IMAGE_CASES + VIDEO_CASES)
def test_embeddings_match_the_official_code(
    embedder: TransformersEmbedder, inputs: dict[str, Path], case: str
) -> None:
    difference = embedding_difference(embedder, inputs, case)
    assert difference <= TOLERANCE, f"{case}: max abs difference {difference:.2e} from the official vector"


@pytest.mark.parametrize("case", RERANK_CASES)
def test_reranker_scores_match_the_official_code(
    reranker: TransformersReranker, inputs: dict[str, Path], case: str
) -> None:
    difference = score_difference(reranker, inputs, case)
    assert difference <= SCORE_TOLERANCE, f"{case}: {difference:.2e} from the official score"


def test_each_segment_is_embedded_as_the_official_code_embeds_it_as_a_file(inputs: dict[str, Path]) -> None:
    """The golden segment cases were made from the cut file; ingest must cut the video the same way."""
    segments = _units(inputs["long_320x192.mkv"])
    assert [(s.t_start, s.t_end) for s in segments if isinstance(s, SegmentUnit)] == [
        (0.0, 30.0),
        (30.0, 60.0),
        (60.0, 65.0),
    ]
    assert isinstance(unit_of(inputs, "short_640x360.mp4"), SegmentUnit)


def test_under_transformers_5_24_video_vectors_still_match_the_cards(
    inputs: dict[str, Path], tiny_models: Path
) -> None:
    """transformers 5.24 keeps the template's vision markers around a whole video: a process running it
    must still produce the card's video vectors and scores (this process's transformers is another)."""
    if not (WINDOW / "transformers").is_dir():
        reason = f"transformers {WINDOW_VERSION} is not installed in {WINDOW} (scripts/test.sh installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(WINDOW), str(REPO)]),
        "HF_HUB_OFFLINE": "1",
    }
    args = [sys.executable, __file__, str(tiny_models), str(inputs["short_640x360.mp4"].parent)]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["transformers"] == WINDOW_VERSION
    assert report["collapse"] is True  # it double-wraps, and mmsearch corrects it
    for case, difference in report["embedding"].items():
        assert difference <= TOLERANCE, f"{case} under transformers {WINDOW_VERSION}: {difference:.2e}"
    for case, difference in report["rerank"].items():
        assert difference <= SCORE_TOLERANCE, f"{case} under transformers {WINDOW_VERSION}: {difference:.2e}"


def _differences_in_this_process(tiny_models: Path, folder: Path) -> dict[str, Any]:
    """The subprocess side of the test above: video cases embedded and scored here, as differences."""
    import transformers

    inputs = make_checked_inputs(folder)
    embedder = TransformersEmbedder(
        EmbeddingSettings(model=str(check_weights(tiny_models, "embedding")), device="cpu")
    )
    reranker = TransformersReranker(
        RerankerSettings(model=str(check_weights(tiny_models, "reranker")), device="cpu")
    )
    return {
        "transformers": transformers.__version__,
        "collapse": embedder.video_form.collapse,
        "embedding": {
            case: embedding_difference(embedder, inputs, case) for case in ("video_short", "video_short_text")
        },
        "rerank": {
            case: score_difference(reranker, inputs, case) for case in ("rerank_video", "rerank_video_text")
        },
    }


def test_embed_video_command_gives_the_official_vector(
    inputs: dict[str, Path], tiny_models: Path, tmp_path: Path
) -> None:
    """``mmsearch embed --video FILE`` (its first segment) with the document instruction."""
    from tests.support import run_cli, tiny_env

    golden = GOLDEN["cases"]["video_short"]
    env = tiny_env(tmp_path / "data", tiny_models)
    args = ["embed", "--video", str(inputs["short_640x360.mp4"]), "--as", "document", "--json"]
    done = run_cli(args, env, tmp_path)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["instruction"] == golden["instruction"] and out["dim"] == 128
    difference = float(np.max(np.abs(np.asarray(out["vector"]) - np.asarray(golden["vector"]))))
    assert difference <= TOLERANCE


if __name__ == "__main__":  # run by the transformers 5.24 test: argv = tiny models folder, inputs folder
    print(json.dumps(_differences_in_this_process(Path(sys.argv[1]), Path(sys.argv[2]))))
