"""``/v1/documents``: list, upload (an ingest job), delete, and serve the original file of a document.

An upload streams its files into ``data_dir/uploads/.incoming/<job>/`` (``edge/upload_stream.py``) and
answers ``202`` with a job at once; the ingest worker (``services/worker.py``) ingests them in order with
the same ``Indexer`` as ``mmsearch ingest`` and moves each into ``data_dir/uploads/<file name>`` (relative
folders in the name are kept, cleaned by ``edge.paths.safe_upload_name``) when it commits. Uploading a
file under a name already there replaces that document (document ids are derived from the path); until
the new version is whole, the old one stays searchable and served, and if the new one fails, it stays.

Listings show committed versions only (the manifest's), like searches, and only the documents of the
caller's scope (``access/principal.py``): a document outside it answers 404 to its file and to a
delete, as one that does not exist. An upload into a collection the caller may not write is a 403 (the
same answer whether that collection exists or not, so it says nothing about others' collections).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, JSONResponse

from mmsearch import components
from mmsearch.access.principal import Principal
from mmsearch.api.edge.body import content_type
from mmsearch.api.edge.file_types import MEDIA_TYPES, OPAQUE, served_type
from mmsearch.api.edge.headers import file_headers
from mmsearch.api.edge.upload_stream import receive_files
from mmsearch.api.errors import ApiError, not_found
from mmsearch.api.routes.jobs import job_out
from mmsearch.api.routes.links import cache_control, check_version, file_path, file_url
from mmsearch.api.schemas import (
    ERRORS,
    DeleteResponse,
    DocumentOut,
    DocumentsResponse,
    JobOut,
    binary,
    with_errors,
)
from mmsearch.api.services.audit_trail import record_document, record_upload
from mmsearch.api.services.context import (
    ApiContext,
    Context,
    Reader,
    Writer,
    caller,
    check_signed,
    signed_scope,
)
from mmsearch.api.services.job_store import new_job_id
from mmsearch.api.services.ledger import Claim, Limits
from mmsearch.api.services.parts import Services
from mmsearch.api.services.uploads import collection_of, staging_dir, uploads_dir
from mmsearch.config import Settings
from mmsearch.index.listing import committed_documents
from mmsearch.index.store import DEFAULT_COLLECTION, DocumentInfo, Filters, Scope
from mmsearch.ingest.media import delete_media

router = APIRouter(tags=["documents"])

FILE_TYPES = sorted({*MEDIA_TYPES.values(), OPAQUE})
FILE_CACHE_S = 3600  # a versioned URL's bytes never change; a signed one: at most its life


@router.get("/v1/documents", response_model=DocumentsResponse, responses=ERRORS)  # type: ignore[arg-type]
async def list_documents(
    request: Request,
    ctx: Reader,
    limit: Annotated[int, Query(ge=1, le=10000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> DocumentsResponse:
    """Every ingested document (file) the caller may see, ordered by path."""
    docs = sorted(await _documents(ctx, caller(request).scope), key=lambda d: d.source_path)
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
        file_url=file_url(request, ctx, doc.doc_id, doc.source_sha256),
    )


@router.post(
    "/v1/documents",
    status_code=202,
    response_model=JobOut,
    responses=ERRORS,  # type: ignore[arg-type]
    summary="Upload files; they are ingested by a background job",
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
async def upload(request: Request, ctx: Writer) -> JSONResponse:
    """Upload PDFs, images and videos as `files` parts. They are stored on the server and the reply,
    `202` with a job, comes at once; follow it at `GET /v1/jobs/{job_id}` (its `url`).

    A `collection` field before the files names the collection they go to (`default` without one).
    The whole body may be at most `server.max_upload_mb` (413, checked while it streams); what the
    collection keeps at most its quota (`server.collection_quotas_mb`, `server.collection_quota_mb`),
    everything kept at most `server.uploads_quota_mb`, and `server.min_free_disk_mb` stays free on the
    disk (507 naming the quota, with its numbers in `error.quota`: parallel uploads reserve their bytes as
    they arrive, so together they cannot pass it either). A principal may have
    `server.max_queued_jobs_per_principal` jobs waiting or running, everyone `server.max_queued_jobs`
    (429 with `Retry-After`, before the body is read). The job lists every file: `indexed`,
    `unchanged` (same bytes already indexed), `failed` with an error `code` and `message`, or
    `cancelled`; one bad file does not stop the others.
    """
    services = ctx.ready_services()
    if content_type(request) != "multipart/form-data":
        raise ApiError(415, "unsupported_media_type", "upload files as multipart/form-data `files` parts")
    server = ctx.settings.server
    principal = caller(request)
    runner = services.jobs
    caps = (server.max_queued_jobs_per_principal, server.max_queued_jobs)
    await anyio.to_thread.run_sync(runner.admit, principal.name, *caps)  # else 429, before the body is read
    limits = Limits.of(server)
    job_id = new_job_id()
    staging = staging_dir(uploads_dir(ctx.settings), job_id)

    def claim_for(collection: str) -> Claim:
        writable(principal, collection)  # 403 before a byte of the files is stored
        return Claim(runner.ledger, collection, limits)

    try:
        upload = await receive_files(
            request, staging, max_bytes=int(server.max_upload_mb * 2**20), max_files=server.max_upload_files,
            claim_for=claim_for,
        )  # fmt: skip
    except BaseException:
        runner.withdraw(principal.name)
        raise
    files = [(f.name, f.size) for f in upload.files]
    try:
        writable(principal, upload.collection)  # claim_for checked it already, when a file came
        job = await anyio.to_thread.run_sync(
            lambda: runner.submit(job_id, files, principal=principal.name, collection=upload.collection)
        )
    except BaseException:
        runner.withdraw(principal.name)
        await anyio.to_thread.run_sync(_remove_tree, staging)
        upload.claim.give_back()
        raise
    upload.claim.keep(sum(size for _, size in files))
    record_upload(request, job_id=job_id, collection=upload.collection, names=[name for name, _ in files])
    out = job_out(request, job)
    return JSONResponse(out.model_dump(mode="json"), status_code=202, headers={"Location": out.url})


def writable(principal: Principal, collection: str) -> None:
    """403 unless the principal may write into ``collection`` (its role and its collections)."""
    if not principal.may_write(collection):
        raise ApiError(403, "forbidden", f"{principal.name} may not add documents to collection "
                       f"{collection!r}: upload into a collection this key or sign-in may write")  # fmt: skip


def _remove_tree(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


@router.delete("/v1/documents/{doc_id}", response_model=DeleteResponse, responses=ERRORS)  # type: ignore[arg-type]
async def delete_document(request: Request, doc_id: str, ctx: Writer) -> DeleteResponse:
    """Remove a document: its points, its stored page/frame images, its manifest entry, and the
    uploaded original when it came through `POST /v1/documents`. A document that an ingest job is
    writing right now is refused (409): cancel the job first, or wait for it."""
    services = ctx.ready_services()
    doc = await _find(ctx, doc_id, caller(request).scope)
    removed = await anyio.to_thread.run_sync(_delete, ctx.settings, services, doc)
    ctx.documents.pop(doc_id, None)
    ctx.metrics.deleted.inc()
    record_document(request, "delete", **_named(doc), points=removed)
    return DeleteResponse(doc_id=doc.doc_id, source_path=doc.source_path, deleted_points=removed)


def _delete(settings: Settings, services: Services, doc: DocumentInfo) -> int:
    """Forget it in the manifest first (the commit: it is gone from searches and listings at once),
    then remove the original, the points and the images; ``reconcile`` finishes a delete cut short."""
    with services.jobs.guard:  # the worker cannot start on this document meanwhile
        if services.jobs.current_doc == doc.doc_id:
            raise ApiError(409, "conflict", f"{Path(doc.source_path).name} is being ingested by a job right "
                           "now (GET /v1/jobs); cancel the job or wait for it, then delete")  # fmt: skip
        with components.build_manifest(settings) as manifest:
            manifest.forget(doc.source_path)
        original = Path(doc.source_path)
        uploads = uploads_dir(settings)
        if original.is_relative_to(uploads):
            size = original.stat().st_size if original.is_file() else 0
            original.unlink(missing_ok=True)
            services.jobs.ledger.release(collection_of(uploads, original), size)  # its quota is free again
        removed = services.store.delete_document(doc.doc_id)
        delete_media(doc.doc_id, settings.data_dir)
    return removed


async def _find(ctx: ApiContext, doc_id: str, scope: Scope | None) -> DocumentInfo:
    """The document ``doc_id`` if ``scope`` admits it (None: a signed URL, issued to a principal that
    could see it). Unscoped, from a recent listing (at most ``server.documents_cache_s`` old) or a fresh
    one; scoped, from the store, which adds the scope to the query."""
    missing = not_found(f"no document {doc_id[:80]!r} in the index (GET /v1/documents lists them)")
    if scope is not None and not scope.is_everything:
        found = await anyio.to_thread.run_sync(
            _committed_documents, ctx.settings, ctx.ready_services(), Filters(doc_id=doc_id, scope=scope)
        )
        for doc in found:
            if doc.doc_id == doc_id:
                return doc
        raise missing
    cached = ctx.documents.get(doc_id)
    if cached is not None and cached[1] > time.monotonic():
        return cached[0]
    for doc in await _documents(ctx, None):
        if doc.doc_id == doc_id:
            return doc
    raise missing


async def _documents(ctx: ApiContext, scope: Scope | None) -> list[DocumentInfo]:
    """The committed documents ``scope`` admits; an unscoped listing also refreshes the lookup cache."""
    if scope is not None and not scope.is_everything:
        scoped = Filters(scope=scope)
        return await anyio.to_thread.run_sync(
            _committed_documents, ctx.settings, ctx.ready_services(), scoped
        )
    docs = await anyio.to_thread.run_sync(_committed_documents, ctx.settings, ctx.ready_services(), None)
    expires = time.monotonic() + ctx.settings.server.documents_cache_s
    ctx.documents = {d.doc_id: (d, expires) for d in docs}
    return docs


def _committed_documents(
    settings: Settings, services: Services, filters: Filters | None
) -> list[DocumentInfo]:
    with components.build_manifest(settings) as manifest:
        return committed_documents(services.store, manifest, filters)


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
    signed_by = check_signed(request, ctx, file_path(doc_id))
    doc = await _find(ctx, doc_id, signed_scope(request, signed_by))
    check_version(request, doc.source_sha256, "this document")
    path = Path(doc.source_path)
    if not path.is_file():
        raise not_found(f"the original of {path.name} is no longer on the server (moved or deleted?)")
    served = await anyio.to_thread.run_sync(served_type, path)
    if _opens(request):
        record_document(request, "file", **_named(doc), signed_by=signed_by)
    versioned = "v" in request.query_params  # these bytes, for as long as the URL lives; else revalidate
    cache = cache_control(ctx, request, signed_by, FILE_CACHE_S) if versioned else "private, no-cache"
    return FileResponse(
        path,
        media_type=served.media_type,
        filename=path.name,
        content_disposition_type="inline" if served.inline else "attachment",
        headers={**file_headers(served.media_type), "Cache-Control": cache},
    )


def _named(doc: DocumentInfo) -> dict[str, str]:
    """What the audit trail names a document by."""
    collection = getattr(doc, "collection", DEFAULT_COLLECTION)
    name = getattr(doc, "name", "") or Path(doc.source_path).name
    return {"doc_id": doc.doc_id, "collection": collection, "name": name}


def _opens(request: Request) -> bool:
    """A request that opens the file (recorded once), not a player's next Range of it."""
    first = request.headers.get("range", "bytes=0-").partition("=")[2].split(",")[0].strip()
    return first.startswith("0-") or first == ""
