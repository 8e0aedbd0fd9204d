"""A ``Hit`` as the API shows it: with URLs for its image, thumbnail and original file, each bound to the
document's version (``edge/signing.py``)."""

from __future__ import annotations

import base64
from pathlib import Path, PurePosixPath

from fastapi import Request
from starlette.datastructures import URL

from mmsearch.api.edge.paths import media_file
from mmsearch.api.edge.signing import version_tag
from mmsearch.api.errors import not_found
from mmsearch.api.schemas import HitOut
from mmsearch.api.services.audit_trail import request_principal
from mmsearch.api.services.context import ApiContext
from mmsearch.search.hits import Hit

THUMBNAIL_WIDTH = 480


def image_url(request: Request, ctx: ApiContext, point_id: str, version: str, **query: str) -> str:
    """Absolute URL of a point's stored image in this version of its document (``source_sha256``);
    signed when the server needs keys."""
    return _signed(request.url_for("image", point_id=point_id), ctx, image_path(point_id), request,
                   {**query, "v": version_tag(version)})  # fmt: skip


def file_url(request: Request, ctx: ApiContext, doc_id: str, version: str) -> str:
    """Absolute URL of a document's original file in this version (``source_sha256``); signed when the
    server needs keys."""
    return _signed(request.url_for("document_file", doc_id=doc_id), ctx, file_path(doc_id), request,
                   {"v": version_tag(version)})  # fmt: skip


def _signed(url: URL, ctx: ApiContext, resource: str, request: Request, query: dict[str, str]) -> str:
    if ctx.auth.required:
        by = request_principal(request).name
        query = {**query, **ctx.signer.sign(resource, query["v"], by)}
    return str(url.include_query_params(**query))


def check_version(request: Request, source_sha256: str, what: str) -> None:
    """404 when the URL names another version (``v``) of the document than the one stored now: it was
    deleted, or replaced by other bytes under its name. A URL without ``v`` means the current one."""
    wanted = request.query_params.get("v")
    if wanted is not None and wanted != version_tag(source_sha256):
        raise not_found(
            f"{what} has changed since this URL was made (deleted, or replaced by other bytes): "
            "search again for a current URL"
        )


def cache_control(ctx: ApiContext, request: Request, signed_by: str | None, max_age_s: int) -> str:
    """Browsers keep a response at most ``max_age_s``, and no longer than its signed URL lives."""
    if signed_by is not None:
        max_age_s = min(max_age_s, ctx.signer.seconds_left(request.query_params))
    return f"private, max-age={max_age_s}"


def image_path(point_id: str) -> str:
    return f"/v1/images/{point_id}"


def file_path(doc_id: str) -> str:
    return f"/v1/documents/{doc_id}/file"


def hit_out(request: Request, ctx: ApiContext, hit: Hit, image_base64: str | None) -> HitOut:
    original = file_url(request, ctx, hit.doc_id, hit.source_sha256)
    return HitOut(
        rank=hit.rank,
        point_id=hit.point_id,
        score=hit.score,
        vector_score=hit.vector_score,
        rerank_score=hit.rerank_score,
        doc_id=hit.doc_id,
        collection=hit.collection,
        name=hit.display_name,
        file_name=PurePosixPath(hit.display_name).name,
        groups=list(hit.groups),
        metadata=dict(hit.metadata),
        modality=hit.modality,
        page=hit.page,
        page_count=hit.page_count,
        t_start=hit.t_start,
        t_end=hit.t_end,
        snippet=hit.snippet,
        frames=len(hit.media_paths),
        preview_frame=hit.preview_index,
        image_url=image_url(request, ctx, hit.point_id, hit.source_sha256),
        thumbnail_url=image_url(request, ctx, hit.point_id, hit.source_sha256, w=str(THUMBNAIL_WIDTH)),
        file_url=original,
        link=original + deep_link(hit),
        image_base64=image_base64,
    )


def deep_link(hit: Hit) -> str:
    """The fragment that opens the original at the hit: a PDF page or a video second."""
    if hit.page is not None:
        return f"#page={hit.page}"
    if hit.t_start is not None:
        return f"#t={hit.t_start:g}"
    return ""


def inline_image(data_dir: Path, hit: Hit) -> str | None:
    """The hit's preview image as base64 (JPEG bytes as stored), for RAG consumers."""
    if hit.image_path is None:
        return None
    return base64.b64encode(media_file(data_dir, hit.image_path).read_bytes()).decode("ascii")
