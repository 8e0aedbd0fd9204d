"""A ``Hit`` as the API shows it: with URLs for its image, thumbnail and original file."""

from __future__ import annotations

import base64
from pathlib import Path, PurePosixPath

from fastapi import Request
from starlette.datastructures import URL

from mmsearch.api.edge.paths import media_file
from mmsearch.api.schemas import HitOut
from mmsearch.api.services.context import ApiContext
from mmsearch.search.hits import Hit

THUMBNAIL_WIDTH = 480


def image_url(request: Request, ctx: ApiContext, point_id: str, **query: str) -> str:
    """Absolute URL of a point's stored image; signed when the server needs keys."""
    return _signed(request.url_for("image", point_id=point_id), ctx, image_path(point_id), query)


def file_url(request: Request, ctx: ApiContext, doc_id: str) -> str:
    """Absolute URL of a document's original file; signed when the server needs keys."""
    return _signed(request.url_for("document_file", doc_id=doc_id), ctx, file_path(doc_id), {})


def _signed(url: URL, ctx: ApiContext, resource: str, query: dict[str, str]) -> str:
    if ctx.keys.required:
        query = {**query, **ctx.signer.sign(resource)}
    return str(url.include_query_params(**query)) if query else str(url)


def image_path(point_id: str) -> str:
    return f"/v1/images/{point_id}"


def file_path(doc_id: str) -> str:
    return f"/v1/documents/{doc_id}/file"


def hit_out(request: Request, ctx: ApiContext, hit: Hit, image_base64: str | None) -> HitOut:
    original = file_url(request, ctx, hit.doc_id)
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
        image_url=image_url(request, ctx, hit.point_id),
        thumbnail_url=image_url(request, ctx, hit.point_id, w=str(THUMBNAIL_WIDTH)),
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
