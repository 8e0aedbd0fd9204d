"""``GET /v1/images/{point_id}``: the stored page/frame image of a hit, or a thumbnail of it.

Point id → stored payload → media path (relative to ``data_dir``) → file checked to lie under
``data_dir/media``. Nothing the client sends is used as a path; anything that is not a known point id,
or a point outside the caller's scope (``Scope.admits`` on its payload), is a 404. Point ids are derived
from content, so an image never changes: responses are cacheable (for as long as a signed URL lives). A
URL naming another version of the document (``v``) is a 404 too.
"""

from __future__ import annotations

import io
import mimetypes
import uuid
from functools import lru_cache
from pathlib import Path, PurePath
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, Response
from PIL import Image

from mmsearch.api.edge.headers import file_headers
from mmsearch.api.edge.paths import media_file
from mmsearch.api.errors import not_found
from mmsearch.api.routes.links import cache_control, check_version, image_path
from mmsearch.api.schemas import binary, with_errors
from mmsearch.api.services.audit_trail import record_document
from mmsearch.api.services.context import ApiContext, Context, check_signed, signed_scope
from mmsearch.index.store import Payload, Scope

router = APIRouter(tags=["images"])

CACHE_S = 86400  # a point's image never changes (its id comes from its content); a signed URL: its life
IMAGE_TYPES = ("image/jpeg", "image/webp", "image/png")  # what ingest stores (ingest/media.py), thumbnails
THUMBNAIL_QUALITY = 85


@router.get(
    "/v1/images/{point_id}",
    name="image",
    responses=with_errors(
        {
            200: binary(IMAGE_TYPES, "The image (a thumbnail is always JPEG)"),
            304: {"description": "Not modified (`If-None-Match` named this image's ETag)"},
        }
    ),
    response_class=Response,
    summary="A hit's page or frame image",
)
async def image(
    request: Request,
    point_id: str,
    ctx: Context,
    frame: Annotated[
        int | None, Query(ge=0, description="Frame of a video segment (default: the preview).")
    ] = None,
    w: Annotated[
        int | None, Query(ge=16, le=4096, description="Scale down to this width (thumbnails).")
    ] = None,
) -> Response:
    """The image the models saw for this point. Needs a read key, or the signed URL from a search."""
    signed_by = check_signed(request, ctx, image_path(point_id))
    payload, path = await _locate(ctx, point_id, frame, signed_scope(request, signed_by))
    check_version(request, payload.source_sha256, "this image's document")
    etag = f'"{point_id}-{frame}-{w}"'
    media_type = "image/jpeg" if w is not None else _media_type(path)
    headers = {"Cache-Control": cache_control(ctx, request, signed_by, CACHE_S) + ", immutable",
               "ETag": etag, **file_headers(media_type)}  # fmt: skip
    if w is None:  # a thumbnail is not recorded: the search that showed it is
        name = payload.name or PurePath(payload.source_path).name
        record_document(request, "image", doc_id=payload.doc_id, collection=payload.collection, name=name,
                        signed_by=signed_by, point_id=point_id)  # fmt: skip
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    if w is None:
        return FileResponse(path, media_type=media_type, headers=headers)
    data = await anyio.to_thread.run_sync(thumbnail, str(path), path.stat().st_mtime_ns, w)
    return Response(data, media_type=media_type, headers=headers)


async def _locate(
    ctx: ApiContext, point_id: str, frame: int | None, scope: Scope | None
) -> tuple[Payload, Path]:
    """The payload and image file of a point ``scope`` admits (None: a signed URL)."""
    payload = await scoped_payload(ctx, point_id, scope)
    return payload, media_file(ctx.settings.data_dir, _pick(payload, frame))


async def scoped_payload(ctx: ApiContext, point_id: str, scope: Scope | None) -> Payload:
    """The stored payload of a point ``scope`` admits (None: any), else 404 (as one that does not exist)."""
    try:
        point_id = str(uuid.UUID(point_id))
    except ValueError as exc:
        raise not_found(f"no point {point_id[:80]!r}: point ids are the point_id of a search hit") from exc
    store = ctx.ready_services().store
    payload = (await anyio.to_thread.run_sync(store.retrieve, [point_id])).get(point_id)
    if payload is None or (scope is not None and not scope.admits(payload)):
        raise not_found(f"no point {point_id} in the index (deleted or re-ingested?)")
    return payload


def _pick(payload: Payload, frame: int | None) -> str:
    paths = payload.media_paths
    if not paths:
        raise not_found("this point has no stored image")
    if frame is None:
        # The preview: the middle frame of a video segment (as ``Hit.preview_index``), else the only one.
        return paths[len(paths) // 2 if payload.modality == "video" else 0]
    if frame >= len(paths):
        raise not_found(f"no frame {frame}: this point has {len(paths)} (frame=0..{len(paths) - 1})")
    return paths[frame]


def _media_type(path: Path) -> str:
    """Of a file ingest wrote and named itself (``.jpg``): never a type outside ``IMAGE_TYPES``."""
    guessed = mimetypes.guess_type(path.name)[0]
    return guessed if guessed in IMAGE_TYPES else "image/jpeg"


@lru_cache(maxsize=512)
def thumbnail(path: str, mtime_ns: int, width: int) -> bytes:
    """JPEG of the image scaled to ``width`` (never up); cached by path, mtime and width."""
    with Image.open(path) as opened:
        img = opened.convert("RGB")
    if img.width > width:
        img = img.resize((width, max(1, round(img.height * width / img.width))), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    img.save(out, "JPEG", quality=THUMBNAIL_QUALITY, optimize=True)
    return out.getvalue()
