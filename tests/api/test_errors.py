"""One JSON error shape for every failure: unknown routes, wrong methods, validation, our errors, crashes."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import httpx
import pytest
from api_support import tiny_settings
from fastapi import FastAPI

import mmsearch
from mmsearch.api.app import create_app
from mmsearch.api.errors import ApiError
from mmsearch.errors import (
    ConfigError,
    DatasetError,
    DimensionMismatch,
    EmbedderError,
    LimitExceeded,
    MmsearchError,
    ModelNotFound,
    NotFound,
    QueryError,
    StoreLocked,
    UnprocessableInput,
)
from mmsearch.index.video_prompt import VideoPromptError

pytestmark = pytest.mark.anyio

# The server's own faults: a broken config, a missing model, or an error nobody classified.
# the deployment's own faults: a bad setting, a missing model, a transformers that renders videos wrongly
INTERNAL = {MmsearchError, ConfigError, ModelNotFound, VideoPromptError}


class PagesOverLimit(LimitExceeded):
    """A subclass that states no status of its own: it must answer as ``LimitExceeded`` does."""

    code = "pages_over_limit"


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    """An app whose parts are never opened (no lifespan): enough for everything but real searches."""
    app = create_app(tiny_settings(tmp_path / "data", tmp_path / "no-models"))

    @app.get("/test/crash")
    async def crash() -> None:
        raise RuntimeError("secret internal detail")

    @app.get("/test/raise/{name}")
    async def raise_ours(name: str) -> None:
        errors = {
            "query": QueryError("empty query: give text"),
            "locked": StoreLocked("the store is locked by pid 42"),
            "embedder": EmbedderError("the embedding server timed out"),
            "dimension": DimensionMismatch("collection built with dim 512"),
            "limit": LimitExceeded("clip.mp4: the video lasts 9 s, over ingest.max_video_seconds (2 s)"),
            "unprocessable": UnprocessableInput("query image: its media cannot be processed"),
            "not_found": NotFound("no document report.pdf in the index"),
            "dataset": DatasetError("corpus.jsonl:2: not valid JSON"),
            "subclass": PagesOverLimit("report.pdf: 4 pages is over ingest.max_pages_per_file (3)"),
        }
        raise errors[name]

    return app


def check(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ["error"]
    assert body["error"]["code"] == code
    message: str = body["error"]["message"]
    assert message
    return message


async def request(app: FastAPI, method: str, url: str, **kwargs: object) -> httpx.Response:
    """Sent like the web page's own calls: to a loopback name, with its ``Origin``."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    origin = {"Origin": "http://localhost"}
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost", headers=origin) as client:
        return await client.request(method, url, **kwargs)  # type: ignore[arg-type]


async def test_unknown_route_is_404(app: FastAPI) -> None:
    message = check(await request(app, "GET", "/v2/nothing"), 404, "not_found")
    assert "/v2/nothing" in message and "/docs" in message


async def test_wrong_method_is_405(app: FastAPI) -> None:
    assert "/v1/search" in check(await request(app, "GET", "/v1/search"), 405, "method_not_allowed")


async def test_query_validation_is_422_with_details(app: FastAPI) -> None:
    response = await request(app, "GET", "/v1/documents", params={"limit": 0, "offset": "x"})
    check(response, 422, "invalid_request")
    fields = {d["field"] for d in response.json()["error"]["details"]}
    assert fields == {"query.limit", "query.offset"}


async def test_unexpected_exceptions_are_500_without_internals(app: FastAPI) -> None:
    message = check(await request(app, "GET", "/test/crash"), 500, "internal_error")
    assert "secret" not in message and "log" in message


@pytest.mark.parametrize(
    ("name", "status", "code"),
    [("query", 400, "query_error"), ("locked", 503, "store_locked"), ("embedder", 503, "embedder_error"),
     ("dimension", 409, "dimension_mismatch"), ("limit", 413, "limit_exceeded"),
     ("unprocessable", 422, "unprocessable_input"), ("not_found", 404, "not_found"),
     ("dataset", 422, "dataset_error"), ("subclass", 413, "pages_over_limit")],
)  # fmt: skip
async def test_our_errors_map_to_statuses(app: FastAPI, name: str, status: int, code: str) -> None:
    response = await request(app, "GET", f"/test/raise/{name}")
    check(response, status, code)
    assert ("retry-after" in response.headers) == (status == 503)


def _every_error_class() -> list[type[MmsearchError]]:
    """Every ``MmsearchError`` subclass the package defines, after importing each of its modules (an error
    class defined in a module nobody imported yet would escape the walk)."""
    for module in pkgutil.walk_packages(mmsearch.__path__, "mmsearch."):
        if module.name != "mmsearch.__main__":  # runs the CLI
            importlib.import_module(module.name)
    found, todo = [], [MmsearchError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return [cls for cls in found if cls.__module__.startswith("mmsearch.")]


def test_only_internal_errors_are_500() -> None:
    classes = _every_error_class()
    names = {cls.__name__ for cls in classes}
    assert {"ApiError", "RemoteError", "VerifyFailed", "Cancelled", "EmptyCollection"} <= names  # walked
    for cls in classes:
        if cls is ApiError:  # its status is a required argument of each instance
            continue
        assert 400 <= cls.http_status <= 599, cls
        assert (cls.http_status == 500) == (cls in INTERNAL), f"{cls.__module__}.{cls.__name__}"
    assert ApiError(404, "not_found", "no such job").http_status == 404


def test_a_subclass_answers_as_its_parent() -> None:
    assert "http_status" not in vars(PagesOverLimit)
    assert PagesOverLimit.http_status == LimitExceeded.http_status == 413


async def test_parts_not_open_yet_is_503(app: FastAPI) -> None:
    response = await request(app, "POST", "/v1/search", json={"text": "x"})
    assert "starting" in check(response, 503, "starting")
    ready = await request(app, "GET", "/readyz")
    assert ready.status_code == 503 and ready.json()["error"]["code"] == "not_ready"


async def test_probes_and_page_need_no_key(tmp_path: Path) -> None:
    keyed = create_app(tiny_settings(tmp_path, tmp_path, server={"read_keys": ["k" * 20]}))
    assert (await request(keyed, "GET", "/healthz")).json() == {"status": "ok"}
    info = (await request(keyed, "GET", "/v1/info")).json()
    assert info["auth_required"] is True and info["embedding_model"] is None
    page = await request(keyed, "GET", "/")
    assert page.status_code == 200 and "<title>mmsearch</title>" in page.text
    assert (await request(keyed, "GET", "/static/app.js")).status_code == 200
    assert (await request(keyed, "GET", "/openapi.json")).json()["info"]["title"] == "mmsearch"
    check(await request(keyed, "GET", "/static/../settings.py"), 404, "not_found")
    check(await request(keyed, "POST", "/v1/search", json={"text": "x"}), 401, "unauthorized")


async def test_metrics_count_requests_by_route_template(app: FastAPI) -> None:
    for _ in range(3):
        await request(app, "GET", "/test/raise/query")
    await request(app, "GET", "/v2/nothing")
    text = (await request(app, "GET", "/metrics")).text
    assert 'mmsearch_http_requests_total{method="GET",route="/test/raise/{name}",status="400"} 3.0' in text
    assert 'route="unmatched",status="404"' in text
    assert "mmsearch_search_stage_duration_seconds" in text
