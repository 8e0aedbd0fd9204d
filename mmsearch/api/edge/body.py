"""Reading request bodies within a size limit, enforced while the bytes arrive.

A declared ``Content-Length`` over the limit is refused before a byte is read; a body that grows past
the limit (chunked, or a lying header) is cut off as soon as it does. Either way: 413
``payload_too_large``, never a full body buffered first.
"""

from __future__ import annotations

from typing import TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Message

from mmsearch.api.errors import ApiError, describe_validation, invalid_request

M = TypeVar("M", bound=BaseModel)


UPLOAD_LIMIT = "server.max_upload_mb"


def too_large(limit: int, setting: str = UPLOAD_LIMIT) -> ApiError:
    advice = "send fewer or smaller files per request" if setting == UPLOAD_LIMIT else "send a smaller image"
    return ApiError(
        413,
        "payload_too_large",
        f"request body is larger than this server accepts ({limit / 2**20:g} MiB, {setting}): {advice}",
    )


def limited(request: Request, limit: int, setting: str = UPLOAD_LIMIT) -> Request:
    """The same request, whose body raises 413 once more than ``limit`` bytes have arrived."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise too_large(limit, setting)
    received = 0
    upstream = request.receive

    async def receive() -> Message:
        nonlocal received
        message = await upstream()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise too_large(limit, setting)
        return message

    return Request(request.scope, receive)


async def read_model(request: Request, model: type[M], limit: int, setting: str = UPLOAD_LIMIT) -> M:
    """A JSON body parsed into ``model``; errors are 422 with the offending fields named."""
    body = await limited(request, limit, setting).body()
    try:
        return model.model_validate_json(body or b"{}")
    except ValidationError as exc:
        raise invalid_request(describe_validation(list(exc.errors()), prefix=("body",))) from exc


async def read_form(request: Request, limit: int, max_files: int, setting: str = UPLOAD_LIMIT) -> FormData:
    """A multipart body; file parts are spooled to temporary files as they stream in."""
    try:
        return await limited(request, limit, setting).form(max_files=max_files, max_fields=100)
    except StarletteHTTPException as exc:  # starlette's translation of a malformed multipart body
        raise ApiError(
            exc.status_code, "bad_request", f"cannot read the multipart body: {exc.detail}"
        ) from exc


def content_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
