"""What the models read: ``Content`` = optional text, images, and at most one video clip.

The embedder embeds one ``Content`` per item (a unit or a query); the reranker scores a query ``Content``
against document ``Content``s. Backends turn it into the official Qwen3-VL message layout
(videos, then images, then text) themselves; see ``qwen_prompt``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from mmsearch.ingest.settings import IngestSettings
from mmsearch.ingest.units import ImageUnit, PageUnit, SegmentUnit, Unit


@dataclass(frozen=True, eq=False)
class VideoClip:
    """Frames sampled from a video at ``fps``; the first frame is at ``t_start`` seconds.

    ``times`` are each frame's seconds from the clip's start as the model reads them (its ``<t seconds>``
    markers, computed as the official code does for the clip as a file of its own); empty = ``i / fps``.
    """

    frames: tuple[Image.Image, ...]
    fps: float
    t_start: float = 0.0
    times: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if not self.frames:
            raise ValueError("a VideoClip needs at least one frame")
        if self.fps <= 0:
            raise ValueError(f"VideoClip fps must be > 0, got {self.fps}")
        if self.times and len(self.times) != len(self.frames):
            raise ValueError(f"VideoClip has {len(self.frames)} frames but {len(self.times)} times")

    @property
    def frame_seconds(self) -> tuple[float, ...]:
        return self.times or tuple(i / self.fps for i in range(len(self.frames)))


@dataclass(frozen=True, eq=False)
class Content:
    text: str | None = None
    images: tuple[Image.Image, ...] = ()
    video: VideoClip | None = None

    @property
    def is_empty(self) -> bool:
        return not (self.text and self.text.strip()) and not self.images and self.video is None


def unit_content(unit: Unit, with_text: bool = False) -> Content:
    """The document side of a unit as the embedder sees it: the page/image, or the segment's frames.

    ``with_text`` adds a page's text layer (off by default: visual document retrieval embeds the
    screenshot alone, as the official ViDoRe evaluation does). OCR text is never added: the model reads
    the pixels it came from (it feeds the lexical stage, snippets and highlights only).
    """
    if isinstance(unit, SegmentUnit):
        clip = VideoClip(frames=unit.frames, fps=unit.fps, t_start=unit.t_start, times=unit.clip_times)
        return Content(video=clip)
    if isinstance(unit, PageUnit):
        layer = with_text and unit.text_source == "layer" and unit.text.strip()
        return Content(text=unit.text if layer else None, images=(unit.image,))
    if isinstance(unit, ImageUnit):
        return Content(images=(unit.image,))
    raise TypeError(f"not a unit: {type(unit).__name__}")


def query_clip(path: Path, settings: IngestSettings, *, name: str | None = None) -> VideoClip:
    """A query video clip: the file's first segment, sampled as ingest samples videos (the one code path of
    ``mmsearch query --video`` and ``POST /v1/search``). ``name`` labels the file in errors."""
    from mmsearch.errors import IngestError
    from mmsearch.ingest.reader import read_query_video

    try:
        clip = unit_content(read_query_video(path, settings)).video
    except IngestError as exc:
        if name is None:
            raise
        raise type(exc)(str(exc).replace(path.name, name, 1)) from exc
    assert clip is not None  # a SegmentUnit always becomes a clip
    return clip
