"""mmsearch's vectors against golden vectors from the official QwenLM/Qwen3-VL-Embedding code.

``tests/data/official_golden.json`` was made once by ``scripts/make_golden.py`` (its docstring says
exactly how: the official ``Qwen3VLEmbedder`` with qwen-vl-utils 0.0.14 and decord, in a separate
virtual environment, on the same tiny seeded weights). Here the same input files are regenerated, read
through mmsearch's own ingest (what ``mmsearch ingest`` stores and embeds) and embedded by the
in-process backend; every vector must match within 1e-4 (max abs, unit vectors).

Cases: pictures shrunk onto the grid (333×517, 4000×3000: the resampling filter must be qwen-vl-utils'
bicubic), enlarged (40×30), with the query instruction and with text; a 6.5 s clip (one segment: the
official code's frame indices, timestamps, resize and decoder colours); and the second 30 s segment of
a 65 s video against the official code run on that segment cut into a file of its own.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
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

REPO = Path(__file__).resolve().parents[2]
GOLDEN = json.loads((REPO / "tests" / "data" / "official_golden.json").read_text(encoding="utf-8"))
TOLERANCE = 1e-4

pytestmark = pytest.mark.slow


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_golden", REPO / "scripts" / "make_golden.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    made: dict[str, Path] = _script().make_inputs(tmp_path_factory.mktemp("golden-inputs"))
    for name, path in made.items():
        assert _sha256(path) == GOLDEN["inputs_sha256"][name], (
            f"{name} is not the file the golden vectors were made from (an encoder or Pillow change?); "
            "regenerate tests/data/official_golden.json with scripts/make_golden.py"
        )
    return made


@pytest.fixture(scope="module")
def embedder(tiny_models: Path) -> TransformersEmbedder:
    weights = tiny_models / "embedding" / "model.safetensors"
    assert _sha256(weights) == GOLDEN["tiny_weights_sha256"], (
        "the tiny embedding weights differ from those the golden vectors were made with; "
        "regenerate tests/data/official_golden.json with scripts/make_golden.py"
    )
    return TransformersEmbedder(EmbeddingSettings(model=str(tiny_models / "embedding"), device="cpu"))


def _units(path: Path) -> list[Unit]:
    _source, units = read_file(path, IngestSettings())
    return list(units)


def _check(embedder: TransformersEmbedder, case: str, unit: Unit) -> None:
    golden: dict[str, Any] = GOLDEN["cases"][case]
    content = unit_content(unit)
    if golden["text"] is not None:
        content = Content(text=golden["text"], images=content.images, video=content.video)
    ours = embedder.embed([content], golden["instruction"])[0]
    expected = np.asarray(golden["vector"], dtype=np.float32)
    difference = float(np.max(np.abs(ours - expected)))
    assert difference <= TOLERANCE, f"{case}: max abs difference {difference:.2e} from the official vector"


@pytest.mark.parametrize(
    "case", ["image_333x517", "image_333x517_query", "image_4000x3000", "image_40x30", "image_40x30_text"]
)
def test_images_match_the_official_code(
    embedder: TransformersEmbedder, inputs: dict[str, Path], case: str
) -> None:
    (unit,) = _units(inputs[GOLDEN["cases"][case]["file"]])
    _check(embedder, case, unit)


def test_a_one_segment_clip_matches_the_official_code_on_the_file(
    embedder: TransformersEmbedder, inputs: dict[str, Path]
) -> None:
    (segment,) = _units(inputs["short_640x360.mp4"])
    assert isinstance(segment, SegmentUnit)
    _check(embedder, "video_short", segment)


def test_each_segment_is_embedded_as_the_official_code_embeds_it_as_a_file(
    embedder: TransformersEmbedder, inputs: dict[str, Path]
) -> None:
    segments = _units(inputs["long_320x192.mkv"])
    assert [(s.t_start, s.t_end) for s in segments if isinstance(s, SegmentUnit)] == [
        (0.0, 30.0),
        (30.0, 60.0),
        (60.0, 65.0),
    ]
    _check(embedder, "video_segment_1", segments[1])


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
