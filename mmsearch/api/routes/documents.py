"""``/v1/documents``: list, upload (an ingest job), delete (by id or by name), and serve the original file.

An upload streams its files into ``data_dir/uploads/.incoming/<job>/`` (``edge/upload_stream.py``) and
answers ``202`` with a job at once; the ingest worker (``services/worker.py``) ingests them in order with
the same ``Indexer`` as ``mmsearch ingest`` and moves each into ``data_dir/uploads/<collection>/<name>``
when it commits. A document is addressed by (collection, name): the name is the file name the client
sent (relative folders kept), normalised (``ingest.names``). Uploading a name already in the collection
replaces that document (its id is derived from the two; the reply says which files replace one, and
``replace=false`` makes it a 409 instead); until the new version is whole, the old one stays searchable
and served, and if the new one fails, it stays. The collection, groups, metadata and replace come as
form fields before the files, or as query parameters.

Listings show committed versions only (the manifest's), like searches, and only the documents of the
caller's scope (``access/principal.py``): a document outside it answers 404 to its file and to a
delete (by id or by name), as one that does not exist. An upload into a collection the caller may not
write is a 403 (the same answer whether that collection exists or not, so it says nothing about others'
collections). No answer carries a server path.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, JSONResponse

from mmsearch import components
from mmsearch.access.principal import Principal
from mmsearch.api.edge.body import content_type
from mmsearch.api.edge.file_types import MEDIA_TYPES, OPAQUE, served_type
from mmsearch.api.edge.headers import file_headers
from mmsearch.api.edge.upload_stream import Fields, receive_files
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
from mmsearch.api.services.job_store import Notify, new_job_id
from mmsearch.api.services.ledger import Claim, Limits
from mmsearch.api.services.parts import Services
from mmsearch.api.services.uploads import collection_of, staging_dir, uploads_dir
from mmsearch.config import Settings
from mmsearch.errors import InvalidLabel, InvalidName, NameTaken
from mmsearch.index.listing import ListedDocument, committed_documents
from mmsearch.index.store import Filters, Scope
from mmsearch.ingest.media import delete_media
from mmsearch.ingest.names import Labels, check_collection, normalise_name

router = APIRouter(tags=["documents"])

FILE_TYPES = sorted({*MEDIA_TYPES.values(), OPAQUE})
FILE_CACHE_S = 3600  # a versioned URL's bytes never change; a signed one: at most its life


@router.get("/v1/documents", response_model=DocumentsResponse, responses=ERRORS)  # type: ignore[arg-type]
async def list_documents(
    request: Request,
    ctx: Reader,
    limit: Annotated[int, Query(ge=1, le=10000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
    collection: Annotated[str | None, Query(max_length=256, description="Only this collection's.")] = None,
) -> DocumentsResponse:
    """Every ingested document (file) the caller may see, ordered by collection and name."""
    docs = await _documents(ctx, caller(request).scope)
    if collection is not None:
        docs = [d for d in docs if d.collection == collection]
    page = docs[offset : offset + limit]
    return DocumentsResponse(total=len(docs), documents=[_document_out(request, ctx, d) for d in page])


def _document_out(request: Request, ctx: ApiContext, doc: ListedDocument) -> DocumentOut:
    return DocumentOut(
        doc_id=doc.doc_id,
        collection=doc.collection,
        name=doc.name,
        file_name=PurePosixPath(doc.name).name,
        groups=list(doc.groups),
        metadata=dict(doc.metadata),
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
                            "collection": {"type": "string", "description": "Before the files."},
                            "groups": {"type": "string", "description": "Comma list (or repeated)."},
                            "metadata": {"type": "string", "description": "A JSON object."},
                            "replace": {"type": "boolean", "default": True},
                            "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                        },
                        "required": ["files"],
                    }
                }
            },
        }
    },
)
async def upload(
    request: Request,
    ctx: Writer,
    collection: Annotated[str | None, Query(description="The collection (default: default).")] = None,
    groups: Annotated[
        list[str] | None, Query(description="Access groups: a comma list, or repeated.")
    ] = None,
    metadata: Annotated[str | None, Query(description="Metadata: a flat JSON object.")] = None,
    replace: Annotated[bool | None, Query(description="false: a name already there is a 409.")] = None,
    notify_url: Annotated[
        str | None,
        Query(max_length=2048, description="A webhook that hears of the job's end: a signed POST "
              "(`X-Mmsearch-Signature`), to a host `server.webhook_hosts` allows (off by default)."),
    ] = None,
) -> JSONResponse:  # fmt: skip
    """Upload PDFs, images and videos as `files` parts. They are stored on the server and the reply,
    `202` with a job, comes at once; follow it at `GET /v1/jobs/{job_id}` (its `url`).

    Each file is a document named by its file name (normalised: NFKC, so NFC and NFD spellings and
    compatibility look-alikes are one name; invisible characters removed; a name that cannot be one is a
    422) in `collection` (default `default`), readable by `groups` (comma list; none: everyone who may
    use the collection), with `metadata` (a flat JSON object). These, and `replace` (default true;
    false: a name already in the collection is a 409), come as form fields BEFORE the files, or as query
    parameters. A file whose name is taken replaces that document: the job says so per file (`replaces`).
    The whole body may be at most `server.max_upload_mb` (413, checked while it streams); what the
    collection keeps at most its quota (`server.collection_quotas_mb`, `server.collection_quota_mb`),
    everything kept at most `server.uploads_quota_mb`, and `server.min_free_disk_mb` stays free on the
    disk (507 naming the quota, with its numbers in `error.quota`: parallel uploads reserve their bytes as
    they arrive, so together they cannot pass it either). A principal may have
    `server.max_queued_jobs_per_principal` jobs waiting or running, everyone `server.max_queued_jobs`
    (429 with `Retry-After`, before the body is read). The job lists every file: `indexed`,
    `unchanged` (same bytes already indexed), `failed` with an error `code` and `message`, or
    `cancelled`; one bad file does not stop the others.

    To learn of the job's end without polling: `GET /v1/jobs/{job_id}?wait=30` (a long poll),
    `GET /v1/jobs/{job_id}/events` (Server-Sent Events), or `notify_url` (a webhook, as a query
    parameter or a form field before the files): the server POSTs `{"event": "job.finished", "delivery",
    "sent", "job"}` there, signed with HMAC-SHA256 under `server.webhook_secret`
    (`X-Mmsearch-Signature: sha256=<hex>` of the raw body), retrying a failed delivery with backoff.
    A `notify_url` must be `http(s)` to a host `server.webhook_hosts` names, resolving to public
    addresses (or `server.webhook_private`); otherwise the upload is a 422.
    """
    services = ctx.ready_services()
    if content_type(request) != "multipart/form-data":
        raise ApiError(415, "unsupported_media_type", "upload files as multipart/form-data `files` parts")
    if notify_url is not None:
        ctx.webhooks.allowed(notify_url)  # 422 before the body is read
    server = ctx.settings.server
    principal = caller(request)
    runner = services.jobs
    caps = (server.max_queued_jobs_per_principal, server.max_queued_jobs)
    await anyio.to_thread.run_sync(runner.admit, principal.name, *caps)  # else 429, before the body is read
    limits = Limits.of(server)
    job_id = new_job_id()
    staging = staging_dir(uploads_dir(ctx.settings), job_id)
    query = {
        "collection": collection, "groups": groups, "metadata": metadata, "replace": replace,
        "notify_url": notify_url,
    }  # fmt: skip
    target: dict[str, tuple[Labels, bool]] = {}
    sent: Fields = {}

    def on_fields(fields: Fields) -> str:
        target["labels"] = upload_labels(query, fields)
        sent.update(fields)
        webhook = one_field(query, fields, "notify_url")
        if webhook is not None:
            ctx.webhooks.allowed(webhook)  # its form and host, before a byte of the files is stored
        return target["labels"][0].collection

    def claim_for(collection: str) -> Claim:
        writable(principal, collection)  # 403 before a byte of the files is stored
        return Claim(runner.ledger, collection, limits)

    try:
        upload = await receive_files(
            request, staging, max_bytes=int(server.max_upload_mb * 2**20), max_files=server.max_upload_files,
            claim_for=claim_for, on_fields=on_fields,
        )  # fmt: skip
    except BaseException:
        runner.withdraw(principal.name)
        raise
    files = [(f.name, f.size) for f in upload.files]
    try:
        labels, may_replace = target.get("labels") or upload_labels(query, {})
        writable(principal, labels.collection)  # claim_for checked it already, when a file came
        notify = await _notify(request, ctx, one_field(query, sent, "notify_url"), job_id)
        taken = await anyio.to_thread.run_sync(_taken, ctx.settings, labels.collection, [n for n, _ in files])
        if taken and not may_replace:
            raise NameTaken(
                f"already in {labels.collection}: {', '.join(sorted(taken)[:5])}; upload with replace=true to "
                "replace them, or under other names"
            )
        job = await anyio.to_thread.run_sync(
            lambda: runner.submit(
                job_id, files, labels, may_replace, frozenset(taken), principal=principal.name, notify=notify
            )
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


async def _notify(request: Request, ctx: ApiContext, url: str | None, job_id: str) -> Notify | None:
    """The job's webhook, its host resolved and checked (422 if it may not be reached), or None."""
    if url is None:
        return None
    await anyio.to_thread.run_sync(ctx.webhooks.check, url)
    return Notify(url, str(request.url_for("get_job", job_id=job_id)))


def _remove_tree(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def upload_labels(query: Mapping[str, object], fields: Fields) -> tuple[Labels, bool]:
    """The upload's labels and ``replace`` from its query parameters and its form fields (each given in
    one place at most, and a single field once), checked: ``InvalidLabel`` (422) names what is wrong."""

    def one(key: str) -> str | None:
        return one_field(query, fields, key)

    if fields.get("groups") and query.get("groups"):
        raise InvalidLabel("`groups` was sent both as a query parameter and as a form field; send it once")
    groups = fields.get("groups") or list(query.get("groups") or [])  # type: ignore[call-overload]
    try:
        metadata = json.loads(one("metadata") or "{}")
    except ValueError as exc:
        raise InvalidLabel(f'`metadata` is not JSON ({exc}); send an object like {{"year": 2024}}') from exc
    replace = (one("replace") or "true").strip().lower()
    if replace not in ("true", "false", "1", "0"):
        raise InvalidLabel(f"`replace` must be true or false, not {replace[:20]!r}")
    return Labels.checked(one("collection"), groups, metadata), replace in ("true", "1")


def one_field(query: Mapping[str, object], fields: Fields, key: str) -> str | None:
    """The value of ``key``, sent once, as a query parameter or a form field (``InvalidLabel`` if not)."""
    given = fields.get(key, [])
    if len(given) > 1:
        raise InvalidLabel(f"`{key}` was sent {len(given)} times; send it once")
    if given and query.get(key) is not None:
        raise InvalidLabel(f"`{key}` was sent both as a query parameter and as a form field; send it once")
    value = query.get(key)
    return given[0] if given else (None if value is None else str(value))


def _taken(settings: Settings, collection: str, names: Sequence[str]) -> set[str]:
    """Which of ``names`` are committed documents of ``collection`` now."""
    with components.build_manifest(settings) as manifest:
        return {n for n in names if (e := manifest.find(collection, n)) is not None and e.sha256 is not None}


@router.delete("/v1/documents/{doc_id}", response_model=DeleteResponse, responses=ERRORS)  # type: ignore[arg-type]
async def delete_document(request: Request, doc_id: str, ctx: Writer) -> DeleteResponse:
    """Remove a document: its points, its stored page/frame images, its manifest entry, and the
    uploaded original when it came through `POST /v1/documents`. A document that an ingest job is
    writing right now is refused (409): cancel the job first, or wait for it."""
    return await _delete_found(request, ctx, await _find(ctx, doc_id, caller(request).scope))


@router.delete("/v1/documents", response_model=DeleteResponse, responses=ERRORS)  # type: ignore[arg-type]
async def delete_by_name(
    request: Request,
    ctx: Writer,
    name: Annotated[str, Query(min_length=1, max_length=1024, description="The document's name.")],
    collection: Annotated[str | None, Query(description="Its collection (default: default).")] = None,
) -> DeleteResponse:
    """Remove the document `name` of `collection`, as `DELETE /v1/documents/{doc_id}` does. The name is
    normalised as uploads are, so the name as uploaded finds it; a name or collection that no document
    could have is simply not there (404)."""
    try:
        wanted = (check_collection(collection), normalise_name(name))
    except (InvalidName, InvalidLabel) as exc:
        raise not_found(f"no such document: {exc}") from exc
    for doc in await _documents(ctx, caller(request).scope):  # outside the scope: as absent (404)
        if (doc.collection, doc.name) == wanted:
            return await _delete_found(request, ctx, doc)
    raise not_found(
        f"no document {wanted[1][:80]!r} in collection {wanted[0]!r} (GET /v1/documents lists them)"
    )


async def _delete_found(request: Request, ctx: ApiContext, doc: ListedDocument) -> DeleteResponse:
    if not caller(request).may_write(doc.collection):  # it may read the collection (it found the document)
        raise ApiError(
            403, "forbidden", f"this principal may read collection {doc.collection!r} but not write it"
        )
    services = ctx.ready_services()
    removed = await anyio.to_thread.run_sync(_delete, ctx.settings, services, doc)
    ctx.documents.pop(doc.doc_id, None)
    ctx.metrics.deleted.inc()
    record_document(request, "delete", **_named(doc), points=removed)
    return DeleteResponse(doc_id=doc.doc_id, collection=doc.collection, name=doc.name, deleted_points=removed)


def _delete(settings: Settings, services: Services, doc: ListedDocument) -> int:
    """Forget it in the manifest first (the commit: it is gone from searches and listings at once),
    then remove the original, the points and the images; ``reconcile`` finishes a delete cut short."""
    with services.jobs.guard:  # the worker cannot start on this document meanwhile
        if services.jobs.current_doc == doc.doc_id:
            raise ApiError(409, "conflict", f"{doc.name} is being ingested by a job right "
                           "now (GET /v1/jobs); cancel the job or wait for it, then delete")  # fmt: skip
        with components.build_manifest(settings) as manifest:
            manifest.forget(doc.doc_id)
        original = Path(doc.path)
        uploads = uploads_dir(settings)
        if original.is_relative_to(uploads):
            size = original.stat().st_size if original.is_file() else 0
            original.unlink(missing_ok=True)
            services.jobs.ledger.release(collection_of(uploads, original), size)  # its quota is free again
        removed = services.store.delete_document(doc.doc_id)
        delete_media(doc.doc_id, settings.data_dir)
    return removed


async def _find(ctx: ApiContext, doc_id: str, scope: Scope | None) -> ListedDocument:
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


async def _documents(ctx: ApiContext, scope: Scope | None) -> list[ListedDocument]:
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
) -> list[ListedDocument]:
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
    path = Path(doc.path)
    if not path.is_file():
        raise not_found(f"the original of {doc.name} is no longer on the server (moved or deleted?)")
    served = await anyio.to_thread.run_sync(served_type, path)
    if _opens(request):
        record_document(request, "file", **_named(doc), signed_by=signed_by)
    versioned = "v" in request.query_params  # these bytes, for as long as the URL lives; else revalidate
    cache = cache_control(ctx, request, signed_by, FILE_CACHE_S) if versioned else "private, no-cache"
    return FileResponse(
        path,
        media_type=served.media_type,
        filename=PurePosixPath(doc.name).name,
        content_disposition_type="inline" if served.inline else "attachment",
        headers={**file_headers(served.media_type), "Cache-Control": cache},
    )


def _named(doc: ListedDocument) -> dict[str, str]:
    """What the audit trail names a document by."""
    return {"doc_id": doc.doc_id, "collection": doc.collection, "name": doc.name}


def _opens(request: Request) -> bool:
    """A request that opens the file (recorded once), not a player's next Range of it."""
    first = request.headers.get("range", "bytes=0-").partition("=")[2].split(",")[0].strip()
    return first.startswith("0-") or first == ""
