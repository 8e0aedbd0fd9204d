"""``POST /v1/search``: text, image and/or video clip in, ranked hits with image and file URLs out.

Two body types: JSON (``SearchRequest``; the image as base64) or multipart/form-data (an ``image`` file
part, a ``video`` file part, and the same fields as form fields; ``filters`` as a JSON string, or its
one-value fields flat: ``FORM_FILTER_FIELDS``). A video clip is sampled as ``mmsearch query --video``
samples it (:func:`inputs.query_clip`).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from mmsearch.api.edge.body import content_type, read_form, read_model
from mmsearch.api.errors import ApiError, describe_validation, invalid_request
from mmsearch.api.routes.links import hit_out, inline_image
from mmsearch.api.schemas import ERRORS, FORM_FILTER_FIELDS, SearchRequest, SearchResponse
from mmsearch.api.services.audit_trail import record_search
from mmsearch.api.services.context import ApiContext, Reader, caller
from mmsearch.api.services.parts import Services
from mmsearch.index.inputs import query_clip
from mmsearch.index.store import Filters
from mmsearch.ingest.image import load_query_image
from mmsearch.search.hits import SearchResult
from mmsearch.search.searcher import Query

router = APIRouter(tags=["search"])

SEARCH_LIMIT = "server.max_search_mb"
FORM_FIELDS = (
    "text", "top_k", "candidates", "rerank", "inline_images", "filters", *FORM_FILTER_FIELDS,
    "mode", "include_text",
)  # fmt: skip


@router.post(
    "/v1/search",
    response_model=SearchResponse,
    responses=ERRORS,  # type: ignore[arg-type]
    summary="Search pages, images and video segments",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                # Both schemas are written by mmsearch/api/openapi.py (with this server's limits).
                "application/json": {"schema": {"$ref": "#/components/schemas/SearchRequest"}},
                "multipart/form-data": {"schema": {"type": "object"}},
            },
        }
    },
)
async def search(request: Request, ctx: Reader) -> SearchResponse:
    """Embed the query, take the nearest candidates, rerank them, and return the top hits.

    Each hit has `image_url` (the page/frame the models saw), `thumbnail_url`, `file_url` (the
    original) and `link` (`#page=N` for PDFs, `#t=SECONDS` for videos). When auth is on these URLs
    are signed, so they work in `<img>`/`<video>` tags and for other programs until they expire.

    Each hit's `snippet` is the passage with the most query terms; `snippet_ranges` are the terms' offsets
    in it and `highlights` the matched words' boxes on the image at `image_url` (plain numbers: draw and
    mark them yourself). `include_text` adds the unit's whole `text`.
    """
    services = ctx.ready_services()
    async with ctx.searches.admit():  # before the body is read: at most running + queued bodies in memory
        body, image, video = await _read(request, ctx)
        try:
            text = _query_text(body.text, ctx.settings.server.max_query_chars)
            if text is None and image is None and video is None:
                raise ApiError(
                    400, "query_error", "empty query: give `text`, an `image`, a `video`, or a mix"
                )
            # The caller's scope is added to whatever it sent: nothing in the request can widen it.
            asked = (body.filters.to_filters() if body.filters else None) or Filters()
            filters = replace(asked, scope=caller(request).scope)
            stop = threading.Event()  # set once the client has gone: the search stops at its next model batch
            work = partial(_execute, services, ctx, body, text, image, filters, video, stop.is_set)
            result, inlined = await ctx.searches.work(work, gone=request.is_disconnected, stop=stop)
        finally:
            if video is not None:
                video.unlink(missing_ok=True)
    ctx.metrics.observe_search(result.timings_ms, result.reranked)
    kinds = [
        kind for kind, given in (("text", text), ("image", image), ("video", video)) if given is not None
    ]
    record_search(request, text, kinds, [hit.doc_id for hit in result.hits])
    return SearchResponse(
        hits=[
            hit_out(request, ctx, hit, inlined[i] if inlined else None) for i, hit in enumerate(result.hits)
        ],
        reranked=result.reranked,
        reranker=result.reranker,
        candidates=result.candidates,
        timings_ms=result.timings_ms,
        mode=result.mode,
    )


def _query_text(text: str | None, limit: int) -> str | None:
    if text and len(text) > limit:  # as sent, surrounding spaces included (as the OpenAPI maxLength)
        raise invalid_request(
            [{"field": "body.text", "message": f"longer than {limit} characters (server.max_query_chars)"}]
        )
    return (text or "").strip() or None


def _execute(
    services: Services,
    ctx: ApiContext,
    body: SearchRequest,
    text: str | None,
    image: bytes | None,
    filters: Filters | None,
    video: Path | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> tuple[SearchResult, list[str | None] | None]:
    """The search itself, in a worker thread: decode the image and clip, search, read inlined images."""
    settings = ctx.settings
    picture = clip = None
    if image is not None:  # on the decode threads: N hostile images take max_concurrent_decodes x, not N x
        picture = ctx.decoder.submit(load_query_image, image, settings.ingest, name="query image").result()
    if video is not None:
        clip = ctx.decoder.submit(query_clip, video, settings.ingest, name="query video").result()
    query = Query(text=text, image=picture, filters=filters, video=clip)
    result = services.searcher.search(
        query, top_k=body.top_k, candidates=body.candidates, rerank=body.rerank, cancelled=cancelled,
        mode=body.mode, include_text=body.include_text,
    )  # fmt: skip
    inlined = [inline_image(settings.data_dir, hit) for hit in result.hits] if body.inline_images else None
    return result, inlined


async def _read(request: Request, ctx: ApiContext) -> tuple[SearchRequest, bytes | None, Path | None]:
    """The body, the image bytes, and the video clip spooled to a temporary file (the caller removes it)."""
    limit = int(ctx.settings.server.max_search_mb * 2**20)
    kind = content_type(request)
    if kind in ("application/json", ""):
        body = await read_model(request, SearchRequest, limit, SEARCH_LIMIT)
        return body, _base64_image(body.image) if body.image else None, None
    if kind == "multipart/form-data":
        return await _read_form(request, limit)
    raise ApiError(
        415, "unsupported_media_type", f"send application/json or multipart/form-data, not {kind!r}"
    )


async def _read_form(request: Request, limit: int) -> tuple[SearchRequest, bytes | None, Path | None]:
    form = await read_form(request, limit, max_files=2, setting=SEARCH_LIMIT)
    unknown = sorted(set(form.keys()) - {*FORM_FIELDS, "image", "video"})
    if unknown:
        raise invalid_request([{"field": f"form.{name}", "message": "unknown field"} for name in unknown])
    fields: dict[str, Any] = {k: v for k, v in form.items() if k in FORM_FIELDS and isinstance(v, str)}
    flat = {k: fields.pop(k) for k in FORM_FILTER_FIELDS if k in fields}
    if "filters" in fields or flat:
        fields["filters"] = {**_json_object(fields.pop("filters", "{}")), **flat}
    try:
        body = SearchRequest.model_validate(fields)
    except ValidationError as exc:
        raise invalid_request(describe_validation(list(exc.errors()), prefix=("form",))) from exc
    upload = form.get("image")
    if upload is None or isinstance(upload, str):
        image = _base64_image(upload) if upload else None
    else:
        image = await _read_upload(upload)
    return body, image, await _spool_video(form.get("video"))  # last: nothing after it can raise


async def _spool_video(upload: UploadFile | str | None) -> Path | None:
    """The ``video`` part copied to a temporary file (decoders read files); ``None`` when absent/empty."""
    if upload is None or upload == "":
        return None
    if isinstance(upload, str):
        raise invalid_request([{"field": "form.video", "message": "must be a file part, not a text field"}])
    handle, name = tempfile.mkstemp(prefix="mmsearch-query-", suffix=".video")
    path = Path(name)
    try:
        await run_in_threadpool(_copy, upload, handle)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    finally:
        await upload.close()
    if path.stat().st_size == 0:
        path.unlink()
        return None
    return path


def _copy(upload: UploadFile, handle: int) -> None:
    with os.fdopen(handle, "wb") as out:
        upload.file.seek(0)
        shutil.copyfileobj(upload.file, out, length=1 << 20)


async def _read_upload(upload: UploadFile) -> bytes | None:
    data = await upload.read()
    await upload.close()
    return data or None


def _json_object(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise invalid_request([{"field": "form.filters", "message": f"not JSON: {exc.msg}"}]) from exc
    if not isinstance(value, dict):
        raise invalid_request([{"field": "form.filters", "message": "must be a JSON object"}])
    return value


def _base64_image(value: str) -> bytes:
    payload = value.split(",", 1)[1] if value.startswith("data:") and "," in value else value
    payload = "".join(payload.split())  # line-wrapped base64 is fine
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise invalid_request([{"field": "body.image", "message": "not valid base64"}]) from exc
    if not data:
        raise invalid_request([{"field": "body.image", "message": "empty image"}])
    return data
