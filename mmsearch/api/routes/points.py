"""``GET /v1/points/{point_id}``: one unit (a page, an image, a video segment) by the point id of a hit.

What a search hit cites, with the unit's whole text (a hit carries a snippet) and the URLs of its image
and original. ``mmsearch mcp --server`` answers its ``get_page`` tool from here. A point outside the
caller's scope is a 404, as one that does not exist; reading one is in the audit trail as an image
opened (the text and the image are one unit).
"""

from __future__ import annotations

import uuid
from pathlib import PurePosixPath

from fastapi import APIRouter, Request

from mmsearch.api.routes.images import scoped_payload
from mmsearch.api.routes.links import links
from mmsearch.api.schemas import ERRORS, PointOut
from mmsearch.api.services.audit_trail import record_document
from mmsearch.api.services.context import Reader, caller
from mmsearch.mcp.citations import fragment

router = APIRouter(tags=["search"])


@router.get(
    "/v1/points/{point_id}",
    response_model=PointOut,
    responses=ERRORS,  # type: ignore[arg-type]
    summary="One page, image or video segment: its text and URLs",
)
async def point(request: Request, point_id: str, ctx: Reader) -> PointOut:
    """The unit a search hit's `point_id` names: its document, page or time, its whole text, and the
    URLs of its image and original file."""
    payload = await scoped_payload(ctx, point_id, caller(request).scope)
    point_id = str(uuid.UUID(point_id))  # as stored (scoped_payload has checked that it is one)
    name = payload.name or PurePosixPath(payload.source_path).name
    record_document(request, "image", doc_id=payload.doc_id, collection=payload.collection, name=name,
                    point_id=point_id, text=True)  # fmt: skip
    made = links(request, ctx)
    original = made.file(payload.doc_id, payload.source_sha256)
    return PointOut(
        point_id=point_id, doc_id=payload.doc_id, collection=payload.collection, name=name,
        file_name=PurePosixPath(name).name, modality=payload.modality, page=payload.page,
        page_count=payload.page_count, t_start=payload.t_start, t_end=payload.t_end, text=payload.text,
        frames=len(payload.media_paths), image_url=made.image(point_id, payload.source_sha256),
        file_url=original, link=original + fragment(payload.page, payload.t_start),
    )  # fmt: skip
