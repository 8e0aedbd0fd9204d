"""A ``Hit`` as the API shows it: with URLs for its image, thumbnail and original file, each bound to the
document's version (``edge/signing.py``).

A request's URLs are formatted from bases worked out once per request (``RequestLinks``, kept on the
request's state): ``request.url_for`` costs ~40 µs a call, three a hit. The result is the same string
``url_for`` and ``include_query_params`` give (a test holds them equal, behind a ``root_path`` too).
"""

from __future__ import annotations

import base64
import re
from pathlib import Path, PurePosixPath
from urllib.parse import urlencode

from fastapi import Request

from mmsearch.api.edge.paths import media_file
from mmsearch.api.edge.signing import version_tag
from mmsearch.api.errors import not_found
from mmsearch.api.schemas import HitOut
from mmsearch.api.services.audit_trail import request_principal
from mmsearch.api.services.context import ApiContext
from mmsearch.mcp.citations import fragment
from mmsearch.search.hits import Hit

THUMBNAIL_WIDTH = 480


_MARK = "00000000-0000-4000-8000-00000000a11c"  # stands for the path parameter in a route's URL
_PLAIN = re.compile(r"[0-9A-Za-z._~-]+")  # a value url_for and a URL's parser leave as it is


def image_url(request: Request, ctx: ApiContext, point_id: str, version: str, **query: str) -> str:
    """Absolute URL of a point's stored image in this version of its document (``source_sha256``);
    signed when the server needs keys."""
    return links(request, ctx).image(point_id, version, **query)


def file_url(request: Request, ctx: ApiContext, doc_id: str, version: str) -> str:
    """Absolute URL of a document's original file in this version (``source_sha256``); signed when the
    server needs keys."""
    return links(request, ctx).file(doc_id, version)


def links(request: Request, ctx: ApiContext) -> RequestLinks:
    """The URL maker of ``request`` (after its principal is known: it signs for it)."""
    return RequestLinks(request, ctx)


class RequestLinks:
    """The image and file URLs of one request, formatted from each route's absolute URL, which is asked
    of ``url_for`` once per request and kept on the request's state (strings only: no cycle through the
    request)."""

    def __init__(self, request: Request, ctx: ApiContext) -> None:
        self._request = request
        self._signer = ctx.signer
        self._by = request_principal(request).name if ctx.auth.required else None
        bases = getattr(request.state, "link_bases", None)
        if not isinstance(bases, dict):
            bases = {}
            request.state.link_bases = bases
        self._bases: dict[str, tuple[str, str]] = bases
        self._signatures: dict[tuple[str, str], dict[str, str]] = {}

    def image(self, point_id: str, version: str, **query: str) -> str:
        return self._made(
            "image", "point_id", point_id, image_path(point_id), {**query, "v": version_tag(version)}
        )

    def file(self, doc_id: str, version: str) -> str:
        return self._made("document_file", "doc_id", doc_id, file_path(doc_id), {"v": version_tag(version)})

    def _made(self, route: str, param: str, value: str, resource: str, query: dict[str, str]) -> str:
        """``str(request.url_for(route, param=value).include_query_params(**query))`` (signed), with
        ``url_for`` asked once per request and route. A value that is not plain (an id is a UUID) takes
        the long way, so it is refused or escaped exactly as before."""
        query = self._signed(resource, query)
        base = self._bases.get(route) or self._base(route, param)
        if base is None or not _PLAIN.fullmatch(value):
            return str(self._request.url_for(route, **{param: value}).include_query_params(**query))
        return f"{base[0]}{value}{base[1]}?{urlencode(list(query.items()))}"

    def _base(self, route: str, param: str) -> tuple[str, str] | None:
        """The route's absolute URL around its parameter; None when it is not plainly there."""
        made = str(self._request.url_for(route, **{param: _MARK}))
        head, mark, tail = made.partition(_MARK)
        if not mark or any(c in made for c in "?#"):
            return None
        self._bases[route] = (head, tail)
        return head, tail

    def _signed(self, resource: str, query: dict[str, str]) -> dict[str, str]:
        if self._by is None:
            return query
        key = (resource, query["v"])
        if key not in self._signatures:  # the image and its thumbnail share one signature
            self._signatures[key] = self._signer.sign(resource, query["v"], self._by)
        return {**query, **self._signatures[key]}


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


def hit_out(
    request: Request, ctx: ApiContext, hit: Hit, image_base64: str | None, *, urls: bool = True
) -> HitOut:
    """``urls``: whether the hit's image and thumbnail URLs are made (``include_images: none``: not)."""
    made = links(request, ctx)
    original = made.file(hit.doc_id, hit.source_sha256)
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
        content_hash=hit.content_hash,
        frames=len(hit.media_paths),
        preview_frame=hit.preview_index,
        image_url=made.image(hit.point_id, hit.source_sha256) if urls else None,
        thumbnail_url=made.image(hit.point_id, hit.source_sha256, w=str(THUMBNAIL_WIDTH)) if urls else None,
        file_url=original,
        link=original + deep_link(hit),
        image_base64=image_base64,
        snippet_ranges=[list(r) for r in hit.snippet_ranges],
        highlights=[list(b) for b in hit.highlights],
        text=hit.text,
        text_truncated=hit.text_truncated,
    )


def deep_link(hit: Hit) -> str:
    """The fragment that opens the original at the hit: a PDF page or a video second."""
    return fragment(hit.page, hit.t_start)


def inline_image(data_dir: Path, hit: Hit) -> str | None:
    """The hit's preview image as base64 (JPEG bytes as stored), for RAG consumers."""
    if hit.image_path is None:
        return None
    return base64.b64encode(media_file(data_dir, hit.image_path).read_bytes()).decode("ascii")
