"""The built-in canary set of ``mmsearch verify``: one small input per modality, made with
:mod:`mmsearch.samples` and read through ingest exactly as real files are."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from mmsearch.errors import MmsearchError
from mmsearch.index.inputs import Content, unit_content
from mmsearch.ingest.image import load_query_image
from mmsearch.ingest.reader import read_file, read_query_video
from mmsearch.ingest.settings import IngestSettings
from mmsearch.ingest.units import PageUnit

QUERY_TEXT = "quarterly revenue table on a finance page"
RERANK_INSTRUCTION = "Find the document that best matches the query, judging both pictures and words."


@dataclass(frozen=True, eq=False)
class Canary:
    """One input, named by its modality (the name ``mmsearch verify`` reports)."""

    modality: str
    content: Content


def make_canaries(settings: IngestSettings) -> list[Canary]:
    """text, a page image, a small image, image+text, a short video clip and the clip with text (videos in
    the model card's prompt form: a served stack whose processor keeps a vision pair around the whole video
    differs on the two video canaries; docs/serving.md)."""
    from mmsearch import samples

    with tempfile.TemporaryDirectory(prefix="mmsearch-verify-") as tmp:
        folder = Path(tmp)
        pdf = folder / "page.pdf"
        # An A6 page (≈ 600×840 px at the default 144 dpi): the page path, at a size a CPU reference runs fast.
        samples.make_pdf(pdf, 1, texts=[samples.page_text("finance", 0, words=40)], page_size=(298.0, 420.0))
        _, units = read_file(pdf, settings)
        page = next(u for u in units if isinstance(u, PageUnit))
        small = load_query_image(samples.make_image(folder / "small.png", size=(96, 64), text="7"), settings)
        scene = load_query_image(samples.make_landscape(folder / "scene.png", size=(320, 200)), settings)
        clip = unit_content(read_query_video(samples.make_video(folder / "clip.mp4", 3.0), settings))
    if clip.video is None:
        raise MmsearchError("the canary video has no frames")  # read_query_video would have raised
    return [
        Canary("text", Content(text="Revenue grew twelve percent in the third quarter.")),
        Canary("page image", unit_content(page)),
        Canary("small image", Content(images=(small,))),
        Canary("image+text", Content(text="a landscape photograph", images=(scene,))),
        Canary("video", clip),
        Canary("video+text", Content(text="a short clip of a scene", video=clip.video)),
    ]
