"""The ``ingest:`` section of config.yaml."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mmsearch.ingest.pixels import MODEL_MAX_FRAMES, MODEL_MAX_PIXELS, MODEL_MIN_PIXELS, VIDEO_MAX_PIXELS

# Pillow's own decompression-bomb threshold (``Image.MAX_IMAGE_PIXELS``: 1 GiB / 4 bytes / 3 ≈ 89.5 M
# pixels, about 256 MiB as RGB); our limit may only be lower. Written out, since that global is mutable.
PILLOW_MAX_PIXELS = 1024 * 1024 * 1024 // 4 // 3


class IngestSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    pdf_dpi: float = Field(144.0, gt=0, le=1200, description="Rasterisation DPI before the pixel cap.")
    max_pixels: int = Field(
        MODEL_MAX_PIXELS,
        ge=MODEL_MIN_PIXELS,
        le=MODEL_MAX_PIXELS,
        description="Cap on width*height of a page/image (may only lower the model's 1800*32*32).",
    )
    image_quality: int = Field(92, ge=50, le=100, description="JPEG quality of stored page/frame images.")
    max_decode_pixels: int = Field(
        PILLOW_MAX_PIXELS,
        gt=0,
        le=PILLOW_MAX_PIXELS,
        description="Refuse images whose header claims more pixels (bomb guard; at most Pillow's 89478485).",
    )
    max_file_mb: float = Field(2048.0, gt=0, description="Files larger than this are skipped with an error.")
    max_pages_per_file: int = Field(
        2000, ge=1, description="PDFs with more pages are refused with an error (counted before rendering)."
    )
    max_video_seconds: float = Field(
        14400.0,
        gt=0,
        description="Videos longer than this are refused with an error (read from the container).",
    )
    render_workers: int | None = Field(
        None,
        ge=0,
        le=256,
        description="Processes that rasterise PDF pages; null = one per core but one, 0 = in the ingesting "
        "process (then render_timeout_s does not apply).",
    )
    render_timeout_s: float = Field(
        120.0,
        gt=0,
        description="A PDF page taking longer than this to render (and OCR) fails its file; an image "
        "whose OCR takes longer is kept without its text (ingest.ocr: auto) or fails (always).",
    )
    video_segment_seconds: float = Field(30.0, gt=0, description="Length of one video segment.")
    video_fps: float = Field(1.0, gt=0, le=30, description="Frames sampled per second of video.")
    video_max_frames: int = Field(
        MODEL_MAX_FRAMES, ge=2, le=MODEL_MAX_FRAMES, description="Frames per segment at most (model: 64)."
    )
    video_frame_max_pixels: int = Field(
        VIDEO_MAX_PIXELS,
        ge=MODEL_MIN_PIXELS,
        description="Cap on width*height of one video frame (model: 768*32*32).",
    )
    text_chars: int = Field(
        4000, ge=0, description="Characters of a page's or image's text (text layer or OCR) kept."
    )
    ocr: Literal["auto", "off", "always"] = Field(
        "auto",
        description="OCR with Tesseract (its text feeds keyword search, snippets and highlights, never "
        "the embedder). auto: PDF pages whose text layer is empty or nearly so, and images whose words "
        "a second reading confirms; always: every page and image (OCR text replaces a text layer); "
        "off: none. Needs Tesseract's language data (apt-get install tesseract-ocr tesseract-ocr-eng): "
        "without it auto warns and goes on, always is an error.",
    )
    ocr_languages: str = Field(
        "eng",
        pattern=r"^[A-Za-z0-9_]+(\+[A-Za-z0-9_]+)*$",
        description="Tesseract languages, joined by + (eng+deu); each needs its data "
        "(Debian: tesseract-ocr-<lang>).",
    )
    ocr_dpi: float = Field(
        200.0, ge=72, le=600, description="Resolution PDF pages are read at (300 helps small print)."
    )
    follow_symlinks: bool = Field(
        True,
        description="Follow symbolic links while walking folders, never out of the folders given (such a "
        "link is reported as skipped); loops are detected and reported.",
    )
    include_hidden: bool = Field(False, description="Also ingest dot-files and files in dot-folders.")

    @model_validator(mode="after")
    def _frame_budget(self) -> IngestSettings:
        if self.video_frame_max_pixels > self.max_pixels:
            raise ValueError("video_frame_max_pixels must not exceed max_pixels")
        return self
