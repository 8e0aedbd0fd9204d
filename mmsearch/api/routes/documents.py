"""``/v1/documents``: list, upload (+ ingest), delete, and serve the original file of a document.

Uploads are saved as ``data_dir/uploads/<file name>`` (relative folders in the name are kept, cleaned
by ``paths.safe_upload_name``) and ingested with the same ``Indexer`` as
``mmsearch ingest``, one upload at a time. Uploading a file under a name already there replaces that
document (document ids are derived from the path); if the new version fails to ingest, the old file is
put back, so the index and the file on disk keep agreeing.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse
from starlette.datastructures import UploadFile

from mmsearch import components
from mmsearch.api.body import content_type, read_form
from mmsearch.api.context import ApiContext, Context, Reader, Writer, check_signed
from mmsearch.api.errors import ApiError, invalid_request, not_found
from mmsearch.api.headers import file_headers
from mmsearch.api.hits import file_path, file_url
from mmsearch.api.paths import safe_upload_name
from mmsearch.api.schemas import (
    ERRORS,
    DeleteResponse,
    DocumentOut,
    DocumentsResponse,
    FileResultOut,
    UploadResponse,
    binary,
    with_errors,
)
from mmsearch.api.served import MEDIA_TYPES, OPAQUE, served_type
from mmsearch.api.services import Services
from mmsearch.api.uploads import Saved, save_upload, uploads_dir
from mmsearch.config import Settings
from mmsearch.index.pipeline import FileResult, IngestReport
from mmsearch.index.store import DocumentInfo
from mmsearch.ingest.media import delete_media
from mmsearch.ingest.units import doc_id_for

router = APIRouter(tags=["documents"])

UPLOAD_FIELDS = ("files", "file")
DOCUMENTS_TTL_S = 30.0
FILE_TYPES = sorted({*MEDIA_TYPES.values(), OPAQUE})


@router.get("/v1/documents", response_model=DocumentsResponse, responses=ERRORS)  # type: ignore[arg-type]
async def list_documents(
    request: Request,
    ctx: Reader,
    limit: Annotated[int, Query(ge=1, le=10000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> DocumentsResponse:
    """Every ingested document (file), ordered by path."""
    docs = sorted(await _documents(ctx), key=lambda d: d.source_path)
    page = docs[offset : offset + limit]
    return DocumentsResponse(total=len(docs), documents=[_document_out(request, ctx, d) for d in page])


def _document_out(request: Request, ctx: ApiContext, doc: DocumentInfo) -> DocumentOut:
    return DocumentOut(
        doc_id=doc.doc_id,
        source_path=doc.source_path,
        file_name=Path(doc.source_path).name,
        modality=doc.modality,
        units=doc.units,
        ingest_time=doc.ingest_time,
        source_sha256=doc.source_sha256,
        file_url=file_url(request, ctx, doc.doc_id),
    )


@router.post(
    "/v1/documents",
    response_model=UploadResponse,
    responses=ERRORS,  # type: ignore[arg-type]
    summary="Upload and ingest files",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "files": {"type": "array", "items": {"type": "string", "format": "binary"}}
                        },
                        "required": ["files"],
                    }
                }
            },
        }
    },
)
async def upload(request: Request, ctx: Writer) -> UploadResponse:
    """Upload PDFs, images and videos as `files` parts; each is saved on the server and ingested.

    The whole body may be at most `server.max_upload_mb` (413 past that, checked while it streams).
    The reply lists every file: `indexed`, `unchanged` (same bytes already indexed) or `failed` with
    an error `code` and `message`; one bad file does not stop the others.
    """
    services = ctx.ready_services()
    if content_type(request) != "multipart/form-data":
        raise ApiError(415, "unsupported_media_type", "upload files as multipart/form-data `files` parts")
    server = ctx.settings.server
    form = await read_form(request, int(server.max_upload_mb * 2**20), server.max_upload_files)
    files = _uploads(form.multi_items())
    try:
        async with ctx.ingest_lock:
            report = await anyio.to_thread.run_sync(_ingest, ctx.settings, services, files)
    finally:
        for _, upload_file in files:
            await upload_file.close()
    ctx.metrics.observe_ingest([r.status for r in report], sum(r.units for r in report))
    return UploadResponse(
        files=report,
        indexed=sum(r.status == "indexed" for r in report),
        unchanged=sum(r.status == "unchanged" for r in report),
        failed=sum(r.status == "failed" for r in report),
    )


def _uploads(items: list[tuple[str, UploadFile | str]]) -> list[tuple[str, UploadFile]]:
    unknown = sorted({key for key, value in items if key not in UPLOAD_FIELDS or isinstance(value, str)})
    if unknown:
        raise invalid_request(
            [{"field": f"form.{k}", "message": "expected file parts named `files`"} for k in unknown]
        )
    files = [(safe_upload_name(v.filename), v) for _, v in items if isinstance(v, UploadFile)]
    if not files:
        raise invalid_request(
            [{"field": "form.files", "message": "no files: send one or more `files` parts"}]
        )
    names = [name for name, _ in files]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:  # a well-formed body whose parts claim one document twice: a conflict, not a bad field
        raise ApiError(
            409,
            "duplicate_name",
            f"file name sent twice: {', '.join(twice[:5])}; each part names its own document",
        )
    return files


def _ingest(
    settings: Settings, services: Services, files: list[tuple[str, UploadFile]]
) -> list[FileResultOut]:
    folder = uploads_dir(settings)
    saved: list[Saved | FileResultOut] = [_save_or_fail(folder, name, upload) for name, upload in files]
    stored = [item for item in saved if isinstance(item, Saved)]
    try:
        with components.build_manifest(settings) as manifest:
            indexer = components.build_indexer(settings, services.embedder, services.store, manifest, None)
            report = indexer.run([s.path for s in stored])
    except BaseException:
        for item in stored:
            item.settle(ok=False)
        raise
    return [_result(item, report) if isinstance(item, Saved) else item for item in saved]


def _save_or_fail(folder: Path, name: str, upload: UploadFile) -> Saved | FileResultOut:
    try:
        return save_upload(folder, name, upload.file)
    except OSError as exc:  # e.g. the name clashes with a folder of earlier uploads
        message = f"cannot store {name} on the server: {exc.strerror or exc}; upload it under another name"
        return FileResultOut(name=name, status="failed", doc_id=None, kind=None, units=0, seconds=0.0,
                             code="upload_error", message=message)  # fmt: skip


def _result(item: Saved, report: IngestReport) -> FileResultOut:
    result = next((r for r in report.files if Path(r.path) == item.path), None)
    if result is None:
        result = FileResult(
            str(item.path), "failed", code="ingest_error", message="the file was not ingested"
        )
    ok = result.status != "failed"
    item.settle(ok)
    return FileResultOut(
        name=item.name,
        status=result.status if result.status != "planned" else "indexed",
        doc_id=doc_id_for(str(item.path)) if ok else None,
        kind=result.kind,
        units=result.units,
        seconds=round(result.seconds, 3),
        code=result.code,
        message=_public_message(result.message, item),
    )


def _public_message(message: str | None, item: Saved) -> str | None:
    """Error messages name the server path; the uploader knows the file by its name."""
    return message.replace(str(item.path), item.name) if message else None


@router.delete("/v1/documents/{doc_id}", response_model=DeleteResponse, responses=ERRORS)  # type: ignore[arg-type]
async def delete_document(doc_id: str, ctx: Writer) -> DeleteResponse:
    """Remove a document: its points, its stored page/frame images, its manifest entry, and the
    uploaded original when it came through `POST /v1/documents`."""
    services = ctx.ready_services()
    async with ctx.ingest_lock:
        doc = await _find(ctx, doc_id)
        removed = await anyio.to_thread.run_sync(_delete, ctx.settings, services, doc)
        ctx.documents.pop(doc_id, None)
    ctx.metrics.deleted.inc()
    return DeleteResponse(doc_id=doc.doc_id, source_path=doc.source_path, deleted_points=removed)


def _delete(settings: Settings, services: Services, doc: DocumentInfo) -> int:
    removed = services.store.delete_document(doc.doc_id)
    delete_media(doc.doc_id, settings.data_dir)
    with components.build_manifest(settings) as manifest:
        manifest.forget(doc.source_path)
    original = Path(doc.source_path)
    if original.is_relative_to(uploads_dir(settings)):
        original.unlink(missing_ok=True)
    return removed


async def _find(ctx: ApiContext, doc_id: str) -> DocumentInfo:
    """The document ``doc_id``, from a recent listing (at most ``DOCUMENTS_TTL_S`` old) or a fresh one."""
    cached = ctx.documents.get(doc_id)
    if cached is not None and cached[1] > time.monotonic():
        return cached[0]
    for doc in await _documents(ctx):
        if doc.doc_id == doc_id:
            return doc
    raise not_found(f"no document {doc_id[:80]!r} in the index (GET /v1/documents lists them)")


async def _documents(ctx: ApiContext) -> list[DocumentInfo]:
    docs = await anyio.to_thread.run_sync(ctx.ready_services().store.documents)
    expires = time.monotonic() + DOCUMENTS_TTL_S
    ctx.documents = {d.doc_id: (d, expires) for d in docs}
    return docs


@router.get(
    "/v1/documents/{doc_id}/file",
    name="document_file",
    response_class=FileResponse,
    responses=with_errors(
        {
            200: binary(FILE_TYPES, "The file"),
            206: binary(FILE_TYPES, "The requested byte range (a `Range` request)"),
            416: {"description": "The range lies outside the file"},
        }
    ),
)
async def document_file(request: Request, doc_id: str, ctx: Context) -> FileResponse:
    """The original file, for viewing in place (`#page=N` for PDFs, `#t=SECONDS` for videos).
    Supports Range requests, so video players can seek. Needs a read key or a signed URL.

    Served as the type its content has (PDF, image or video), whatever its name says, with
    `X-Content-Type-Options: nosniff` and a sandboxing Content-Security-Policy; content that is none
    of those (changed since it was ingested) comes as `application/octet-stream`, to download."""
    check_signed(request, ctx, file_path(doc_id))
    doc = await _find(ctx, doc_id)
    path = Path(doc.source_path)
    if not path.is_file():
        raise not_found(f"the original of {path.name} is no longer on the server (moved or deleted?)")
    served = await anyio.to_thread.run_sync(served_type, path)
    return FileResponse(
        path,
        media_type=served.media_type,
        filename=path.name,
        content_disposition_type="inline" if served.inline else "attachment",
        headers=file_headers(served.media_type),
    )
