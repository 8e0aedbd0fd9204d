"""The things ingest produces: one unit per PDF page, image, or video segment.

Units are frozen and carry their media in memory (PIL images), so the embedding path never re-decodes
a file. Identity is content-based: ``content_hash`` = sha256(source bytes' sha256 + ":" + locator), and
``id`` is a UUID5 of the document id and that hash, so the same page of the same bytes in the same
document is always the same point. A document is addressed by (collection, name) and its id is a UUID5
of the two (``doc_id_for``), so a client can compute it, the same name in two collections is two
documents, and the same name in one collection replaces the document. Documents indexed before names
existed keep the id of their server path (``legacy_doc_id``; the manifest remembers it). The document id is
part of the point id on purpose: two byte-identical files under two names are two documents, and must
not overwrite (or, on delete, remove) each other.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass
from typing import Literal

from PIL import Image

from mmsearch.ingest.names import DEFAULT_COLLECTION

Modality = Literal["page", "image", "video"]
SourceKind = Literal["pdf", "image", "video"]
TextSource = Literal["layer", "ocr"]  # where a unit's ``text`` came from: the PDF's text layer, or OCR
# ``words`` of a unit: (start, end, x0, y0, x1, y1) per word, flattened: ``start:end`` slices the word out
# of the unit's ``text`` (code points), the box is in pixels of the stored image (``ingest/words.py``).
WORD_FIELDS = 6

# Fixed namespace for every id mmsearch derives (documents and units). Never change it: ids would move.
NAMESPACE = uuid.UUID("8f4b2a8e-5d0c-4c55-9a53-3f6a1f0e7b21")


def doc_id_for(collection: str, name: str) -> str:
    """A document's id from its collection and (normalised) name: stable across edits, so a changed file
    replaces its old points. A newline cannot occur in either, so no two pairs give one string."""
    return str(uuid.uuid5(NAMESPACE, f"document:{collection}\n{name}"))


def legacy_doc_id(path: str) -> str:
    """The id a document indexed before names existed has: a UUID5 of its absolute server path."""
    return str(uuid.uuid5(NAMESPACE, "doc:" + path))


@dataclass(frozen=True)
class Source:
    """One input file as it was read: where, which bytes, what kind of thing it is, and which document
    it is (collection, name, id: by default its file name in ``default``; the pipeline sets them)."""

    path: str  # absolute, symlinks resolved: where the bytes live, never shown to a client
    sha256: str  # hex digest of the file's bytes
    size: int
    mtime: float
    kind: SourceKind
    collection: str = DEFAULT_COLLECTION
    name: str = ""  # normalised (``names.normalise_name``); "" = the file name of ``path``
    doc_id: str = ""  # "" = ``doc_id_for(collection, name)``

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", os.path.basename(self.path))
        if not self.doc_id:
            object.__setattr__(self, "doc_id", doc_id_for(self.collection, self.name))


@dataclass(frozen=True, eq=False)
class _Unit:
    source: Source

    @property
    def locator(self) -> str:  # overridden by each unit type
        raise NotImplementedError

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(f"{self.source.sha256}:{self.locator}".encode()).hexdigest()

    @property
    def id(self) -> str:
        return str(uuid.uuid5(NAMESPACE, f"{self.doc_id}:{self.content_hash}"))

    @property
    def doc_id(self) -> str:
        return self.source.doc_id

    @property
    def media_dir(self) -> str:
        """Folder, relative to ``data_dir``, holding this unit's stored images."""
        return f"media/{self.doc_id[:2]}/{self.doc_id}"


@dataclass(frozen=True, eq=False)
class PageUnit(_Unit):
    """One PDF page rasterised within the pixel budget, plus its text (the text layer, or OCR where the
    page has none) and the box of each word of it on ``image``."""

    page: int  # 1-based
    page_count: int
    width_pt: float
    height_pt: float
    text: str
    image: Image.Image  # RGB, at model resolution

    modality: Modality = "page"
    words: tuple[int, ...] = ()  # WORD_FIELDS ints per word of ``text``
    text_source: TextSource | None = None  # None: no text

    @property
    def locator(self) -> str:
        return f"page={self.page}"

    @property
    def media_paths(self) -> tuple[str, ...]:
        return (f"{self.media_dir}/p{self.page:05d}-{self.id[:8]}.jpg",)


@dataclass(frozen=True, eq=False)
class ImageUnit(_Unit):
    """One image file: EXIF orientation applied, RGB, scaled down into the pixel budget; its text, when
    OCR found some (``ingest.ocr``), with the box of each word on ``image``."""

    image: Image.Image
    original_size: tuple[int, int]  # (width, height) before any scaling

    modality: Modality = "image"
    text: str = ""
    words: tuple[int, ...] = ()  # WORD_FIELDS ints per word of ``text``
    text_source: TextSource | None = None  # "ocr", or None: no text

    @property
    def locator(self) -> str:
        return "image"

    @property
    def media_paths(self) -> tuple[str, ...]:
        return (f"{self.media_dir}/image-{self.id[:8]}.jpg",)


@dataclass(frozen=True, eq=False)
class SegmentUnit(_Unit):
    """A stretch of video [t_start, t_end) seconds, sampled at ``fps`` into ``frames``."""

    index: int  # 0-based segment number
    t_start: float
    t_end: float
    fps: float  # the real sampling rate of ``frames`` (frames per second of video time)
    frames: tuple[Image.Image, ...]
    frame_times: tuple[float, ...]  # seconds from the start of the video, one per frame
    duration: float  # of the whole video

    modality: Modality = "video"
    # Seconds from the segment's start, one per frame, as the model's <t seconds> markers count them
    # (the segment read as a file of its own); empty = i / fps.
    clip_times: tuple[float, ...] = ()

    @property
    def locator(self) -> str:
        return f"segment={self.index}"

    @property
    def text(self) -> str:
        return ""

    @property
    def words(self) -> tuple[int, ...]:
        return ()

    @property
    def text_source(self) -> TextSource | None:
        return None

    @property
    def image(self) -> Image.Image:
        """The preview frame (the middle one) shown on result cards."""
        return self.frames[len(self.frames) // 2]

    @property
    def media_paths(self) -> tuple[str, ...]:
        """One stored JPEG per sampled frame; the reranker sees exactly these frames."""
        return tuple(
            f"{self.media_dir}/s{self.index:04d}-{self.id[:8]}/f{i:03d}.jpg" for i in range(len(self.frames))
        )


Unit = PageUnit | ImageUnit | SegmentUnit
