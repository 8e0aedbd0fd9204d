"""``AsyncClient``: the asyncio twin of ``Client`` (the same methods, awaited; an async context manager).

async with AsyncClient("http://127.0.0.1:8000", api_key="...") as client:
    job = await client.upload(["report.pdf"], collection="finance")
    result = await client.search("quarterly revenue", top_k=5)
    png = await result.hits[0].aimage()
    async for doc in client.documents(collection="finance"):
        print(doc.name)
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, Self

import httpx

from mmsearch.client import calls
from mmsearch.client.calls import Collapse, IncludeImages, Media, Mode, Upload
from mmsearch.client.errors import ServerError
from mmsearch.client.events import EventParser
from mmsearch.client.results import (
    Deleted,
    Document,
    Hit,
    Job,
    ProgressFn,
    SearchResult,
    read_deleted,
    read_document,
    read_job,
    read_result,
)
from mmsearch.client.sync import LONG_POLL_S, POLL_FLOOR_S
from mmsearch.client.transport import Settings, checked, is_missing_route, json_of, unreachable


class AsyncClient:
    """``Client``'s API, awaited. Use it as ``async with AsyncClient(...) as client:`` (or ``aclose()``)."""

    def __init__(
        self, base_url: str, api_key: str | None = None, *, timeout: float = 300.0, retries: int = 4,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:  # fmt: skip
        self.settings = Settings(base_url.rstrip("/"), api_key, timeout_s=timeout, retries=retries)
        self._http = httpx.AsyncClient(
            base_url=self.settings.base_url, headers=self.settings.headers, timeout=self.settings.timeout,
            transport=transport,
        )  # fmt: skip

    @property
    def base_url(self) -> str:
        return self.settings.base_url

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # -- search ------------------------------------------------------------------------------------

    async def search(
        self, text: str | None = None, image: Media | None = None, video: Media | None = None, *,
        filters: Mapping[str, Any] | None = None, collections: Sequence[str] | None = None, mode: Mode | None = None,
        top_k: int | None = None, candidates: int | None = None, rerank: bool | None = None,
        min_score: float | None = None, offset: int | None = None, collapse: Collapse | None = None,
        include_text: bool = False, include_images: IncludeImages = "url",
    ) -> SearchResult:  # fmt: skip
        """``Client.search``."""
        body = calls.search_body(
            text, image, filters=filters, collections=collections, mode=mode, top_k=top_k, candidates=candidates,
            rerank=rerank, min_score=min_score, offset=offset, collapse=collapse, include_text=include_text,
            include_images=include_images,
        )  # fmt: skip
        try:
            reply = await self._json(calls.search(body, video))
        except ServerError as exc:
            if video is None or not is_missing_route(exc):
                raise
            reply = await self._json(calls.search(body, video, path=calls.SEARCH))
        return read_result(reply, self)

    async def search_many(
        self, queries: Iterable[str | Mapping[str, Any]], **common: Any
    ) -> list[SearchResult]:
        """``Client.search_many``."""
        reply = await self._json(calls.search_batch(calls.batch_bodies(queries, common)))
        return [read_result(result, self) for result in reply.get("results", ())]

    # -- documents and jobs ------------------------------------------------------------------------

    async def upload(
        self, files: Upload | Sequence[Upload], *, collection: str | None = None, groups: Sequence[str] | None = None,
        metadata: Mapping[str, Any] | None = None, replace: bool | None = None, notify_url: str | None = None,
        wait: bool = True, timeout: float | None = None, progress: ProgressFn | None = None,
    ) -> Job:  # fmt: skip
        """``Client.upload``."""
        call = calls.upload(files, collection, groups, metadata, replace, notify_url)
        job = read_job(await self._json(call))
        if progress is not None:
            progress(job)
        return await self.wait(job, timeout=timeout, progress=progress) if wait and not job.done else job

    async def job(self, job_id: str) -> Job:
        return read_job(await self._json(calls.job(job_id)))

    async def wait(
        self, job: Job | str, *, timeout: float | None = None, progress: ProgressFn | None = None
    ) -> Job:
        """``Client.wait``."""
        job_id = job if isinstance(job, str) else job.id
        deadline = None if timeout is None else time.monotonic() + timeout
        streams = True
        while True:
            left = LONG_POLL_S if deadline is None else deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"ingest job {job_id} has not ended after {timeout:g} s")
            ended: Job | None = None
            if progress is not None and streams:
                try:
                    ended = await self._follow(job_id, progress, deadline)
                except ServerError as exc:
                    if not is_missing_route(exc):
                        raise
                    streams = False  # a server without event streams: long polls, reporting each
            if ended is None or (progress is not None and not streams):
                asked = time.monotonic()
                ended = read_job(await self._json(calls.job(job_id, wait=min(LONG_POLL_S, left))))
                if progress is not None:
                    progress(ended)
                if not ended.done and time.monotonic() - asked < POLL_FLOOR_S:  # it did not wait (too old)
                    await asyncio.sleep(POLL_FLOOR_S)
            if ended.done:
                return ended

    async def cancel(self, job: Job | str) -> Job:
        return read_job(await self._json(calls.cancel(job if isinstance(job, str) else job.id)))

    async def documents(self, collection: str | None = None) -> AsyncIterator[Document]:
        """``Client.documents``: ``async for doc in client.documents(): ...``."""
        offset = 0
        while True:
            page = await self._json(calls.documents(offset, collection))
            listed = page.get("documents") or []
            for data in listed:
                if collection is None or data.get("collection") == collection:
                    yield read_document(data)
            offset += len(listed)
            if not listed or offset >= int(page.get("total", 0)):
                return

    async def delete(
        self, name: str | None = None, *, collection: str | None = None, id: str | None = None
    ) -> Deleted:
        """``Client.delete``."""
        return read_deleted(await self._json(calls.delete(name, collection, id)))

    async def info(self) -> dict[str, Any]:
        return await self._json(calls.Call("GET", "/v1/info"))

    async def point(self, point_id: str) -> dict[str, Any]:
        """``GET /v1/points/{id}``: one unit (a hit's ``point_id``) with its citation fields and whole
        text; a ``NotFound`` when the key may not see it or it is gone."""
        return await self._json(calls.point(point_id))

    async def image(self, point_id: str, width: int | None = None) -> bytes:
        """The JPEG of a unit (a page, an image, a segment's preview), at most ``width`` pixels wide."""
        return (await self._send(calls.image(point_id, width))).content

    # -- a hit's image (results.ImageSource) -------------------------------------------------------

    def image_bytes(self, hit: Hit) -> bytes:
        """A blocking fetch (``hit.image()`` on an async client's hit), through a short-lived client."""
        call = calls.Call("GET", hit.image_url) if hit.image_url else calls.image(hit.point_id)
        with httpx.Client(
            base_url=self.base_url, headers=self.settings.headers, timeout=self.settings.timeout
        ) as http:
            try:
                return checked(http.request(call.method, call.path)).content
            except httpx.TransportError as exc:
                raise unreachable(exc, self.base_url) from exc

    async def aimage_bytes(self, hit: Hit) -> bytes:
        call = calls.Call("GET", hit.image_url) if hit.image_url else calls.image(hit.point_id)
        return (await self._send(call)).content

    # -- sending -----------------------------------------------------------------------------------

    async def _json(self, call: calls.Call) -> dict[str, Any]:
        return json_of(await self._send(call), self.base_url)

    async def _send(self, call: calls.Call) -> httpx.Response:
        timeout = (
            httpx.Timeout(call.timeout, connect=self.settings.connect_timeout_s) if call.timeout else None
        )
        async for attempt in self.settings.retrying():
            with attempt, call.opened() as args:
                try:
                    response = await self._http.request(
                        call.method, call.path, **args, timeout=timeout or httpx.USE_CLIENT_DEFAULT
                    )
                except httpx.TransportError as exc:
                    raise unreachable(exc, self.base_url) from exc
                return checked(response)
        raise AssertionError("unreachable: stamina raises the last error")  # pragma: no cover

    async def _follow(self, job_id: str, progress: ProgressFn, deadline: float | None) -> Job | None:
        """``Client._follow``, awaited."""
        call = calls.job_events(job_id)
        latest = None
        try:
            async with self._http.stream(call.method, call.path) as response:
                if not response.is_success:
                    await response.aread()
                    checked(response)
                parser = EventParser()
                async for line in response.aiter_lines():
                    event = parser.feed(line)
                    if event is not None and event.name in ("progress", "done"):
                        latest = read_job(json.loads(event.data))
                        progress(latest)
                        if event.name == "done":
                            return latest
                    if deadline is not None and time.monotonic() > deadline:
                        return latest
        except httpx.TransportError as exc:
            raise unreachable(exc, self.base_url) from exc
        return latest
