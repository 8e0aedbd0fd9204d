"""The HTTP edge: request and response bodies as pydantic models (they also write the OpenAPI schema).

Requests forbid unknown fields, so a misspelt option is a 422 naming it rather than silently ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mmsearch.index.store import Filters

# Something str.strip() leaves: Python's whitespace is JSON Schema's \s plus the separators \x1c-\x1f.
NOT_BLANK = r"[^\s\x1c-\x1f]"

# What a search may filter on: the fields of ``Filters``, the one list (``FiltersIn`` mirrors it, checked
# by tests/api/test_schemas.py; the search form takes each as a flat field, and the OpenAPI form says so).
FILTER_FIELDS: tuple[str, ...] = tuple(field.name for field in fields(Filters))


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FiltersIn(_Request):
    path_prefix: str | None = Field(
        None,
        max_length=4096,
        pattern=NOT_BLANK,
        description="Only files under this path (whole path components) on the server.",
    )
    modality: Literal["page", "image", "video"] | None = None
    doc_id: str | None = Field(None, max_length=64)
    ingested_after: datetime | None = Field(None, description="ISO date/time or unix seconds; naive = UTC.")
    ingested_before: datetime | None = None

    def to_filters(self) -> Filters | None:
        filters = Filters(
            path_prefix=self.path_prefix,
            modality=self.modality,
            doc_id=self.doc_id,
            ingested_after=_unix(self.ingested_after),
            ingested_before=_unix(self.ingested_before),
        )
        return None if filters.is_empty else filters


def _unix(moment: datetime | None) -> float | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


class SearchRequest(_Request):
    text: str | None = Field(None, description="Query text (with or without an image).")
    image: str | None = Field(
        None, description="Query image as base64 (a `data:image/...;base64,` URL is fine). "
        "Or POST multipart/form-data with an `image` file part."
    )  # fmt: skip
    top_k: int | None = Field(None, ge=1, le=1000, description="Hits to return (default search.top_k).")
    candidates: int | None = Field(
        None, ge=1, le=1000,
        description="Vector hits to rerank (default search.candidates, 50); raised to top_k when below it "
        "(the reply's `candidates` says how many were taken).",
    )  # fmt: skip
    rerank: bool = Field(True, description="false = keep the vector order (faster).")
    filters: FiltersIn | None = None
    inline_images: bool = Field(False, description="Put each hit's page/frame image in the reply as base64.")


class HitOut(BaseModel):
    rank: int
    point_id: str
    score: float = Field(
        description="What the ranking used: the rerank score if reranked, else the vector score."
    )
    vector_score: float
    rerank_score: float | None
    doc_id: str
    collection: str = Field(description="The collection the document belongs to.")
    name: str = Field(description="The document's name in its collection (never a server path).")
    file_name: str = Field(description="The last part of `name`.")
    groups: list[str] = Field(
        description="Who may read the document (empty: everyone who may use its collection)."
    )
    metadata: dict[str, Any] = Field(description="The document's metadata, as given at ingest.")
    modality: Literal["page", "image", "video"]
    page: int | None
    page_count: int | None
    t_start: float | None
    t_end: float | None
    snippet: str
    frames: int = Field(description="Stored images of this hit: 1, or the sampled frames of a video segment.")
    preview_frame: int
    image_url: str = Field(description="The page/frame image the models saw (`?frame=N` for other frames).")
    thumbnail_url: str
    file_url: str = Field(description="The original file (Range requests supported).")
    link: str = Field(description="Opens the hit in place: `file_url#page=N` or `file_url#t=SECONDS`.")
    image_base64: str | None = Field(None, description="JPEG bytes of the image, when inline_images was set.")


class SearchResponse(BaseModel):
    hits: list[HitOut]
    reranked: bool
    reranker: str | None
    candidates: int
    timings_ms: dict[str, float]


class DocumentOut(BaseModel):
    doc_id: str
    collection: str
    name: str = Field(description="The document's name in its collection (never a server path).")
    file_name: str = Field(description="The last part of `name`.")
    groups: list[str]
    metadata: dict[str, Any]
    modality: Literal["page", "image", "video"]
    units: int
    ingest_time: float
    source_sha256: str
    file_url: str


class DocumentsResponse(BaseModel):
    total: int
    documents: list[DocumentOut]


class FileResultOut(BaseModel):
    name: str = Field(description="The document's name (the uploaded file's name, normalised).")
    status: Literal["queued", "running", "indexed", "unchanged", "failed", "cancelled"]
    replaces: bool = Field(
        description="A document of this name is in the collection: this file replaces it (once indexed: it did)."
    )
    doc_id: str | None
    kind: str | None
    units: int = Field(description="Units indexed (while running: done so far).")
    seconds: float
    code: str | None = None
    message: str | None = None


class JobProgress(BaseModel):
    files_total: int
    files_done: int
    units_done: int = Field(description="Units (pages, images, segments) indexed so far by this job.")
    current: str | None = Field(description="The file being ingested now.")


class JobOut(BaseModel):
    job_id: str
    collection: str = Field(description="The collection the job's files go to.")
    state: Literal["queued", "running", "done", "cancelled", "failed"]
    created: float
    started: float | None
    finished: float | None
    progress: JobProgress
    files: list[FileResultOut]
    indexed: int
    unchanged: int
    failed: int
    error: str | None = Field(None, description="Why the job itself failed (not one file).")
    url: str = Field(description="Where to follow it: GET this URL.")


class JobsResponse(BaseModel):
    jobs: list[JobOut]


class DeleteResponse(BaseModel):
    doc_id: str
    collection: str
    name: str
    deleted_points: int


class InfoResponse(BaseModel):
    name: str
    version: str
    auth_required: bool
    embedding_model: str | None
    dim: int | None
    reranker: str | None
    max_upload_mb: float
    max_query_chars: int


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: list[dict[str, str]] | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


ERRORS = {
    status: {"model": ErrorResponse} for status in (400, 401, 403, 404, 409, 413, 415, 422, 500, 503, 507)
}


def with_errors(
    documented: dict[int, dict[str, Any]], statuses: Iterable[int] | None = None
) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: ``documented`` plus the error shape (for ``statuses``, default all)."""
    chosen = ERRORS if statuses is None else {status: ERRORS[status] for status in statuses}
    merged: dict[int | str, dict[str, Any]] = dict(documented.items())
    merged.update(chosen.items())
    return merged


def binary(media_types: Iterable[str], description: str) -> dict[str, Any]:
    """A response whose body is a file of one of ``media_types``."""
    schema = {"type": "string", "format": "binary"}
    return {"description": description, "content": {t: {"schema": schema} for t in media_types}}
