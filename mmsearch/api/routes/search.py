"""Search: text, image and/or video clip in, ranked hits with image and file URLs out.

Three operations, one request body type each (so a generated client has one typed call per operation):

- ``POST /v1/search``: JSON (``SearchRequest``; the image as base64);
- ``POST /v1/search/upload``: multipart/form-data: an ``image`` file part, a ``video`` file part, and the
  same fields as form fields; ``filters`` as a JSON string, or its one-value fields flat
  (``FORM_FILTER_FIELDS``). A video clip is sampled as ``mmsearch query --video`` samples it
  (:func:`inputs.query_clip`). ``POST /v1/search`` still takes this form too (the web page and older
  clients send it), undocumented: new clients use ``/v1/search/upload``;
- ``POST /v1/search/batch``: JSON, up to ``MAX_BATCH_QUERIES`` ``SearchRequest``s, their queries embedded
  in one model call (``Searcher.embed_queries``), each then searched as alone.

"At least one of text, image, video" is checked here (400 ``query_error``), not in the schema: a
top-level ``anyOf`` is what splits a generated client's request type in two.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from mmsearch.api.edge.body import content_type, read_form, read_model
from mmsearch.api.errors import ApiError, describe_validation, invalid_request
from mmsearch.api.routes.links import hit_out, inline_image
from mmsearch.api.schemas import (
    ERRORS,
    FORM_FILTER_FIELDS,
    MAX_BATCH_QUERIES,
    BatchSearchRequest,
    BatchSearchResponse,
    ScoreKind,
    SearchRequest,
    SearchResponse,
)
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
# The form's fields: the JSON body's (but the image, a file part here) and the flat filter fields.
FORM_FIELDS = (*(name for name in SearchRequest.model_fields if name != "image"), *FORM_FILTER_FIELDS)
# The JSON types each form field may take, and the words a form's booleans come as.
FORM_TYPES = {
    name: {branch.get("type") for branch in prop.get("anyOf", [prop])}
    for name, prop in SearchRequest.model_json_schema()["properties"].items()
}
FORM_BOOLEANS = {"true": True, "false": False, "1": True, "0": False, "on": True, "off": False,
                 "yes": True, "no": False}  # fmt: skip
SCORE_KINDS: dict[str, ScoreKind] = {"vector": "vector", "hybrid": "fusion", "keyword": "keyword"}
EMPTY_QUERY = "empty query: give `text`, an `image`, a `video`, or a mix"
QUERY_DOC = """Embed the query, take the nearest candidates, rerank them, and return the top hits.

A query is at least one of `text`, `image` and `video` (400 `query_error` when none has anything in it).
Each hit has `image_url` (the page/frame the models saw), `thumbnail_url`, `file_url` (the original) and
`link` (`#page=N` for PDFs, `#t=SECONDS` for videos). When auth is on these URLs are signed, so they work in
`<img>`/`<video>` tags and for other programs until they expire.

Each hit's `snippet` is the passage with the most query terms; `snippet_ranges` are the terms' offsets in it
and `highlights` the matched words' boxes on the image at `image_url` (plain numbers: draw and mark them
yourself). `include_text` adds the unit's whole `text`."""


def _body(schema: str) -> dict[str, Any]:
    """``openapi_extra`` for a body read by hand: its schema is written by ``mmsearch/api/openapi.py``
    (with this server's limits)."""
    return {"requestBody": {"required": True, "content": {schema: {"schema": {"type": "object"}}}}}


@dataclass
class _Asked:
    """One search as read from a request: its options, query text, image bytes, spooled clip."""

    body: SearchRequest
    text: str | None
    image: bytes | None
    video: Path | None
    filters: Filters

    @property
    def kinds(self) -> list[str]:
        given = (("text", self.text), ("image", self.image), ("video", self.video))
        return [kind for kind, value in given if value is not None]


@router.post(
    "/v1/search",
    response_model=SearchResponse,
    responses=ERRORS,  # type: ignore[arg-type]
    summary="Search pages, images and video segments",
    description=QUERY_DOC + "\n\nThe image comes as base64; to send files (an image, a video clip) use "
    "`POST /v1/search/upload`.",
    openapi_extra=_body("application/json"),
)
async def search(request: Request, ctx: Reader) -> SearchResponse:
    return await _search(request, ctx, _read)


@router.post(
    "/v1/search/upload",
    response_model=SearchResponse,
    responses=ERRORS,  # type: ignore[arg-type]
    summary="Search with an image or video file",
    description=QUERY_DOC + "\n\nA multipart form: the query image and video clip as file parts, the "
    "other fields of `POST /v1/search` as form fields (`filters` as JSON, or its one-value fields flat).",
    openapi_extra=_body("multipart/form-data"),
)
async def search_upload(request: Request, ctx: Reader) -> SearchResponse:
    return await _search(request, ctx, _read_upload_form)


@router.post(
    "/v1/search/batch",
    response_model=BatchSearchResponse,
    responses=ERRORS,  # type: ignore[arg-type]
    summary="Several searches at once",
    description=f"Up to {MAX_BATCH_QUERIES} searches, each as `POST /v1/search` takes it (at least one of "
    "`text` and `image` each); their queries are embedded together in one model call, then each is "
    "searched and reranked on its own. One bad query fails the whole batch (its field path names it).",
    openapi_extra=_body("application/json"),
)
async def search_batch(request: Request, ctx: Reader) -> BatchSearchResponse:
    services = ctx.ready_services()
    limit = int(ctx.settings.server.max_search_mb * 2**20)
    async with ctx.searches.admit():
        if content_type(request) not in ("application/json", ""):
            raise ApiError(415, "unsupported_media_type", "send the batch as application/json")
        batch = await read_model(request, BatchSearchRequest, limit, SEARCH_LIMIT)
        asked = [_asked_json(request, ctx, body, f"body.queries.{i}") for i, body in enumerate(batch.queries)]
        for i, one in enumerate(asked):
            if not one.kinds:
                raise ApiError(400, "query_error", f"queries[{i}]: {EMPTY_QUERY}")
        stop = threading.Event()
        work = partial(_execute_batch, services, ctx, asked, stop.is_set)
        results, timings = await ctx.searches.work(work, gone=request.is_disconnected, stop=stop)
    answers = [_answer(request, ctx, one, *result) for one, result in zip(asked, results, strict=True)]
    return BatchSearchResponse(results=answers, timings_ms=timings)


async def _search(
    request: Request, ctx: ApiContext, read: Callable[[Request, ApiContext], Awaitable[_Asked]]
) -> SearchResponse:
    services = ctx.ready_services()
    async with ctx.searches.admit():  # before the body is read: at most running + queued bodies in memory
        asked = await read(request, ctx)
        try:
            if not asked.kinds:
                raise ApiError(400, "query_error", EMPTY_QUERY)
            stop = threading.Event()  # set once the client has gone: the search stops at its next model batch
            work = partial(_execute, services, ctx, asked, stop.is_set)
            result, inlined = await ctx.searches.work(work, gone=request.is_disconnected, stop=stop)
        finally:
            if asked.video is not None:
                asked.video.unlink(missing_ok=True)
    return _answer(request, ctx, asked, result, inlined)


def _answer(
    request: Request, ctx: ApiContext, asked: _Asked, result: SearchResult, inlined: list[str | None] | None
) -> SearchResponse:
    ctx.metrics.observe_search(result.timings_ms, result.reranked)
    record_search(request, asked.text, asked.kinds, [hit.doc_id for hit in result.hits])
    urls = asked.body.images != "none"
    return SearchResponse(
        hits=[
            hit_out(request, ctx, hit, inlined[i] if inlined else None, urls=urls)
            for i, hit in enumerate(result.hits)
        ],
        reranked=result.reranked,
        reranker=result.reranker,
        candidates=result.candidates,
        timings_ms=result.timings_ms,
        mode=result.mode,
        score_kind="rerank" if result.reranked else SCORE_KINDS.get(result.mode, "vector"),
        next_offset=result.next_offset,
    )


def _asked(
    request: Request, ctx: ApiContext, body: SearchRequest, image: bytes | None, video: Path | None, at: str
) -> _Asked:
    """A search's parts checked, with the caller's scope added to whatever filters it sent: nothing in the
    request can widen it."""
    text = _query_text(body.text, ctx.settings.server.max_query_chars, at)
    asked = (body.filters.to_filters() if body.filters else None) or Filters()
    return _Asked(body, text, image, video, replace(asked, scope=caller(request).scope))


def _asked_json(request: Request, ctx: ApiContext, body: SearchRequest, at: str = "body") -> _Asked:
    image = _base64_image(body.image, f"{at}.image") if body.image else None
    return _asked(request, ctx, body, image, None, at)


def _query_text(text: str | None, limit: int, at: str = "body") -> str | None:
    if text and len(text) > limit:  # as sent, surrounding spaces included (as the OpenAPI maxLength)
        raise invalid_request(
            [{"field": f"{at}.text", "message": f"longer than {limit} characters (server.max_query_chars)"}]
        )
    return (text or "").strip() or None


def _query(ctx: ApiContext, asked: _Asked) -> Query:
    """The search's query, its image and clip decoded on the decode threads (N hostile images take
    max_concurrent_decodes x the memory of one, not N x)."""
    settings = ctx.settings
    picture = clip = None
    if asked.image is not None:
        picture = ctx.decoder.submit(
            load_query_image, asked.image, settings.ingest, name="query image"
        ).result()
    if asked.video is not None:
        clip = ctx.decoder.submit(query_clip, asked.video, settings.ingest, name="query video").result()
    return Query(text=asked.text, image=picture, filters=asked.filters, video=clip)


def _execute(
    services: Services,
    ctx: ApiContext,
    asked: _Asked,
    cancelled: Callable[[], bool] | None = None,
    vector: np.ndarray | None = None,
    query: Query | None = None,
) -> tuple[SearchResult, list[str | None] | None]:
    """The search itself, in a worker thread: decode the image and clip (unless ``query`` is given),
    search (with ``vector``, the query's embedding from a batch), read inlined images."""
    body = asked.body
    result = services.searcher.search(
        query or _query(ctx, asked), top_k=body.top_k, candidates=body.candidates, rerank=body.rerank,
        cancelled=cancelled, offset=body.offset, min_score=body.min_score, collapse=body.collapse,
        vector=vector, mode=body.mode, include_text=body.include_text,
    )  # fmt: skip
    data_dir = ctx.settings.data_dir
    inlined = [inline_image(data_dir, hit) for hit in result.hits] if body.images == "base64" else None
    return result, inlined


def _execute_batch(
    services: Services, ctx: ApiContext, batch: list[_Asked], cancelled: Callable[[], bool]
) -> tuple[list[tuple[SearchResult, list[str | None] | None]], dict[str, float]]:
    """A batch in one worker thread: every query embedded in one call, then each searched with its vector."""
    started = time.perf_counter()
    queries = [_query(ctx, asked) for asked in batch]
    mark = time.perf_counter()
    vectors = services.searcher.embed_queries(queries, cancelled)
    embed_ms = (time.perf_counter() - mark) * 1000.0
    results = [
        _execute(services, ctx, asked, cancelled, vector, query)
        for asked, vector, query in zip(batch, vectors, queries, strict=True)
    ]
    total_ms = (time.perf_counter() - started) * 1000.0
    return results, {"embed": round(embed_ms, 2), "total": round(total_ms, 2)}


async def _read(request: Request, ctx: ApiContext) -> _Asked:
    """``POST /v1/search``'s body: JSON, or (undocumented, kept for older clients) the upload form."""
    kind = content_type(request)
    if kind in ("application/json", ""):
        limit = int(ctx.settings.server.max_search_mb * 2**20)
        return _asked_json(request, ctx, await read_model(request, SearchRequest, limit, SEARCH_LIMIT))
    if kind == "multipart/form-data":
        return await _read_upload_form(request, ctx)
    raise ApiError(
        415,
        "unsupported_media_type",
        f"send application/json (or multipart/form-data to /v1/search/upload), not {kind!r}",
    )


async def _read_upload_form(request: Request, ctx: ApiContext) -> _Asked:
    kind = content_type(request)
    if kind != "multipart/form-data":
        raise ApiError(
            415, "unsupported_media_type", f"send multipart/form-data (or JSON to /v1/search), not {kind!r}"
        )
    body, image, video = await _read_form(request, int(ctx.settings.server.max_search_mb * 2**20))
    try:
        return _asked(request, ctx, body, image, video, "form")
    except BaseException:
        if video is not None:
            video.unlink(missing_ok=True)
        raise


async def _read_form(request: Request, limit: int) -> tuple[SearchRequest, bytes | None, Path | None]:
    form = await read_form(request, limit, max_files=2, setting=SEARCH_LIMIT)
    unknown = sorted(set(form.keys()) - {*FORM_FIELDS, "image", "video"})
    if unknown:
        raise invalid_request([{"field": f"form.{name}", "message": "unknown field"} for name in unknown])
    fields: dict[str, Any] = {
        k: _form_value(k, v) for k, v in form.items() if k in FORM_FIELDS and isinstance(v, str)
    }
    flat = {k: fields.pop(k) for k in FORM_FILTER_FIELDS if k in fields}
    if "filters" in fields or flat:
        fields["filters"] = {**_json_object(fields.pop("filters", "{}")), **flat}
    try:
        body = SearchRequest.model_validate(fields)
    except ValidationError as exc:
        raise invalid_request(describe_validation(list(exc.errors()), prefix=("form",))) from exc
    upload = form.get("image")
    if upload is None or isinstance(upload, str):
        image = _base64_image(upload, "form.image") if upload else None
    else:
        image = await _read_upload(upload)
    return body, image, await _spool_video(form.get("video"))  # last: nothing after it can raise


def _form_value(name: str, value: str) -> Any:
    """A form field as the JSON body would hold it, where the model takes only JSON's own types
    (``StrictInt``, ``StrictBool``): a number or a boolean parsed from its text; anything else as sent,
    for the model to refuse by name."""
    kinds = FORM_TYPES.get(name, set())
    text = value.strip().lower()
    if "boolean" in kinds and text in FORM_BOOLEANS:
        return FORM_BOOLEANS[text]
    if kinds & {"integer", "number"}:
        try:
            number = json.loads(text)
        except ValueError:
            return value
        if isinstance(number, int | float) and not isinstance(number, bool):
            return number
    return value


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


def _base64_image(value: str, field: str) -> bytes:
    payload = value.split(",", 1)[1] if value.startswith("data:") and "," in value else value
    payload = "".join(payload.split())  # line-wrapped base64 is fine
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise invalid_request([{"field": field, "message": "not valid base64"}]) from exc
    if not data:
        raise invalid_request([{"field": field, "message": "empty image"}])
    return data
