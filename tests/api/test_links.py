"""The URLs of a hit (``routes/links.py``): formatted from a base made once per request, they are the very
strings ``request.url_for`` and ``include_query_params`` give, signed or not, behind a root path or not;
``url_for`` is asked once per route and request, not per URL."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.requests import Request

from mmsearch.access.principal import Principal, Role
from mmsearch.api.edge.signing import version_tag
from mmsearch.api.routes import documents, images
from mmsearch.api.routes.links import THUMBNAIL_WIDTH, file_url, hit_out, image_url
from mmsearch.api.services.context import ApiContext
from mmsearch.search.hits import Hit
from tests.support import tiny_settings

SHA = "ab" * 32


def request(root_path: str = "", host: bytes = b"search.example:8443", scheme: str = "https") -> Request:
    app = FastAPI()
    app.include_router(images.router)
    app.include_router(documents.router)
    scope: dict[str, Any] = {
        "type": "http", "method": "POST", "path": f"{root_path}/v1/search", "root_path": root_path,
        "scheme": scheme, "server": ("10.0.0.1", 8443), "headers": [(b"host", host)], "query_string": b"",
        "app": app, "router": app.router, "state": {},
    }  # fmt: skip
    return Request(scope)


def context(tmp_path: Path, signed: bool) -> ApiContext:
    server: dict[str, Any] = {"require_auth": signed, "url_secret": "s" * 32}
    if signed:
        server["read_keys"] = ["k" * 32]
    settings = tiny_settings(tmp_path / "data", tmp_path / "models", server=server)
    return ApiContext.create(settings)


def expected(req: Request, ctx: ApiContext, route: str, param: str, value: str, query: dict[str, str]) -> str:
    """The URL as ``url_for`` makes it (what links.py did per URL before)."""
    if ctx.auth.required:
        resource = f"/v1/images/{value}" if route == "image" else f"/v1/documents/{value}/file"
        query = {**query, **ctx.signer.sign(resource, query["v"], req.state.principal.name)}
    return str(req.url_for(route, **{param: value}).include_query_params(**query))


def hit(point_id: str, doc_id: str, page: int | None = 3) -> Hit:
    return Hit(
        rank=1, point_id=point_id, score=0.5, vector_score=0.5, rerank_score=None, doc_id=doc_id,
        source_path="/srv/a.pdf", modality="page", page=page, page_count=9, t_start=None, t_end=None,
        snippet="", media_paths=("media/a.jpg",), source_sha256=SHA, name="reports/a b.pdf",
    )  # fmt: skip


@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("root_path", ["", "/mmsearch", "/a b/ü"])
def test_urls_are_the_strings_url_for_makes(tmp_path: Path, signed: bool, root_path: str) -> None:
    ctx = context(tmp_path, signed)
    assert ctx.auth.required == signed
    req = request(root_path)
    req.state.principal = Principal(name="key:finance app&x=1", role=Role.READER)
    for _ in range(3):  # every hit of a response: the base is reused
        point_id, doc_id = str(uuid.uuid4()), str(uuid.uuid4())
        v = {"v": version_tag(SHA)}
        out = hit_out(req, ctx, hit(point_id, doc_id), None)
        assert out.image_url == expected(req, ctx, "image", "point_id", point_id, v)
        thumb = {"w": str(THUMBNAIL_WIDTH), **v}
        assert out.thumbnail_url == expected(req, ctx, "image", "point_id", point_id, thumb)
        assert out.file_url == expected(req, ctx, "document_file", "doc_id", doc_id, v)
        assert out.link == out.file_url + "#page=3"
        assert ("&sig=" in out.image_url) == signed
        assert file_url(req, ctx, doc_id, SHA) == out.file_url
        assert image_url(req, ctx, point_id, SHA) == out.image_url


def test_url_for_is_asked_once_per_route_and_request(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = context(tmp_path, signed=False)
    req = request()
    asked: list[str] = []
    real = Request.url_for

    def counting(self: Request, name: str, /, **params: Any) -> Any:
        asked.append(name)
        return real(self, name, **params)

    monkeypatch.setattr(Request, "url_for", counting)
    for _ in range(10):
        hit_out(req, ctx, hit(str(uuid.uuid4()), str(uuid.uuid4())), None)
    assert sorted(asked) == ["document_file", "image"]
    hit_out(request(), ctx, hit(str(uuid.uuid4()), str(uuid.uuid4())), None)  # another request: its own
    assert len(asked) == 4


@pytest.mark.parametrize("value", ["a?b", "a#b", "a b", "ü", "a%2Fb"])
def test_an_id_that_is_not_plain_gets_what_url_for_gives(tmp_path: Path, value: str) -> None:
    ctx = context(tmp_path, signed=False)
    req = request("/mm")
    image_url(req, ctx, str(uuid.uuid4()), SHA)  # the base is made
    assert image_url(req, ctx, value, SHA) == expected(
        req, ctx, "image", "point_id", value, {"v": version_tag(SHA)}
    )


def test_an_id_url_for_refuses_is_refused_as_before(tmp_path: Path) -> None:
    ctx = context(tmp_path, signed=False)
    req = request()
    with pytest.raises(AssertionError):
        file_url(req, ctx, "a/b", SHA)
    with pytest.raises(AssertionError):
        file_url(req, ctx, "", SHA)
