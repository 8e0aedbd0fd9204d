"""``Client``: the blocking Python client of a running ``mmsearch serve`` (``AsyncClient`` is its twin).

with Client("http://127.0.0.1:8000", api_key="...") as client:
    job = client.upload(["report.pdf"], collection="finance")      # waits for the ingest job
    for hit in client.search("quarterly revenue", top_k=5, include_text=True):
        print(hit.citation, hit.score, hit.link)
        png = hit.image()
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
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
from mmsearch.client.transport import Settings, checked, is_missing_route, json_of, unreachable

LONG_POLL_S = 30.0  # each long poll of a job waits at most this
POLL_FLOOR_S = 0.5  # the least time between two reads of a job (a server too old to hold a long poll)


class Client:
    """The API of one server. ``api_key``: a read key (search, list) or a write key (also upload, delete);
    None for a server without auth. Errors are ``mmsearch.client.errors`` (a ``ServerError`` is also the
    ``mmsearch.errors`` class of its code); 429 and 503 are retried after their ``Retry-After``."""

    def __init__(
        self, base_url: str, api_key: str | None = None, *, timeout: float = 300.0, retries: int = 4,
        transport: httpx.BaseTransport | None = None,
    ) -> None:  # fmt: skip
        self.settings = Settings(base_url.rstrip("/"), api_key, timeout_s=timeout, retries=retries)
        self._http = httpx.Client(
            base_url=self.settings.base_url, headers=self.settings.headers, timeout=self.settings.timeout,
            transport=transport,
        )  # fmt: skip

    @property
    def base_url(self) -> str:
        return self.settings.base_url

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- search ------------------------------------------------------------------------------------

    def search(
        self, text: str | None = None, image: Media | None = None, video: Media | None = None, *,
        filters: Mapping[str, Any] | None = None, collections: Sequence[str] | None = None, mode: Mode | None = None,
        top_k: int | None = None, candidates: int | None = None, rerank: bool | None = None,
        min_score: float | None = None, offset: int | None = None, collapse: Collapse | None = None,
        include_text: bool = False, include_images: IncludeImages = "url",
    ) -> SearchResult:  # fmt: skip
        """Search by text, image (bytes or a path), video clip, or a mix. ``filters``: the API's filter
        object (``{"modality": "page", "metadata": {"year": 2024}}``); ``collections``: only these;
        ``mode``: hybrid, vector or keyword; ``min_score`` on the scale of the result's ``score_kind``;
        ``offset``: the next page (``result.next_offset``); ``collapse``: one hit per ``document`` or per
        identical ``content``; ``include_text``: each hit's whole text; ``include_images``: ``url``
        (default), ``base64`` (``hit.image()`` needs no second request) or ``none``."""
        body = calls.search_body(
            text, image, filters=filters, collections=collections, mode=mode, top_k=top_k, candidates=candidates,
            rerank=rerank, min_score=min_score, offset=offset, collapse=collapse, include_text=include_text,
            include_images=include_images,
        )  # fmt: skip
        try:
            reply = self._json(calls.search(body, video))
        except ServerError as exc:
            if video is None or not is_missing_route(exc):
                raise
            reply = self._json(
                calls.search(body, video, path=calls.SEARCH)
            )  # a server before /v1/search/upload
        return read_result(reply, self)

    def search_many(self, queries: Iterable[str | Mapping[str, Any]], **common: Any) -> list[SearchResult]:
        """Several searches in one request (``POST /v1/search/batch``; their queries are embedded in one
        batch): each query a text or a mapping of ``search``'s arguments, over ``common`` options."""
        reply = self._json(calls.search_batch(calls.batch_bodies(queries, common)))
        return [read_result(result, self) for result in reply.get("results", ())]

    # -- documents and jobs ------------------------------------------------------------------------

    def upload(
        self, files: Upload | Sequence[Upload], *, collection: str | None = None, groups: Sequence[str] | None = None,
        metadata: Mapping[str, Any] | None = None, replace: bool | None = None, notify_url: str | None = None,
        wait: bool = True, timeout: float | None = None, progress: ProgressFn | None = None,
    ) -> Job:  # fmt: skip
        """Upload files (paths, or ``(name, bytes)`` pairs; the name is the document's, folders kept) as
        one ingest job. ``wait``: return once the job has ended (``timeout`` seconds at most, then
        ``TimeoutError``), calling ``progress(job)`` as it advances; check ``job.failed`` and each
        ``job.files[i].status``. ``notify_url``: a webhook the server calls when the job ends."""
        call = calls.upload(files, collection, groups, metadata, replace, notify_url)
        job = read_job(self._json(call))
        if progress is not None:
            progress(job)
        return self.wait(job, timeout=timeout, progress=progress) if wait and not job.done else job

    def job(self, job_id: str) -> Job:
        return read_job(self._json(calls.job(job_id)))

    def wait(
        self, job: Job | str, *, timeout: float | None = None, progress: ProgressFn | None = None
    ) -> Job:
        """The job once it has ended. Without ``progress`` by long polls (``?wait=30``); with it, by
        the job's event stream, calling ``progress(job)`` at each change."""
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
                    ended = self._follow(job_id, progress, deadline)
                except ServerError as exc:
                    if not is_missing_route(exc):
                        raise
                    streams = False  # a server without event streams: long polls, reporting each
            if ended is None or (progress is not None and not streams):
                asked = time.monotonic()
                ended = read_job(self._json(calls.job(job_id, wait=min(LONG_POLL_S, left))))
                if progress is not None:
                    progress(ended)
                if not ended.done and time.monotonic() - asked < POLL_FLOOR_S:  # it did not wait (too old)
                    time.sleep(POLL_FLOOR_S)
            if ended.done:
                return ended

    def cancel(self, job: Job | str) -> Job:
        return read_job(self._json(calls.cancel(job if isinstance(job, str) else job.id)))

    def documents(self, collection: str | None = None) -> Iterator[Document]:
        """Every document the key may see (of ``collection`` only, when given), page after page."""
        offset = 0
        while True:
            page = self._json(calls.documents(offset, collection))
            listed = page.get("documents") or []
            for data in listed:
                if collection is None or data.get("collection") == collection:
                    yield read_document(data)
            offset += len(listed)
            if not listed or offset >= int(page.get("total", 0)):
                return

    def delete(
        self, name: str | None = None, *, collection: str | None = None, id: str | None = None
    ) -> Deleted:
        """Delete a document by ``name`` (in ``collection``, default ``default``) or by ``id``."""
        return read_deleted(self._json(calls.delete(name, collection, id)))

    def info(self) -> dict[str, Any]:
        """``GET /v1/info``: the server's model, dimension, limits, whether it needs a key."""
        return self._json(calls.Call("GET", "/v1/info"))

    def point(self, point_id: str) -> dict[str, Any]:
        """``GET /v1/points/{id}``: one unit (a hit's ``point_id``) with its citation fields and whole
        text; a ``NotFound`` when the key may not see it or it is gone."""
        return self._json(calls.point(point_id))

    def image(self, point_id: str, width: int | None = None) -> bytes:
        """The JPEG of a unit (a page, an image, a segment's preview), at most ``width`` pixels wide."""
        return (self._send(calls.image(point_id, width))).content

    # -- a hit's image (results.ImageSource) -------------------------------------------------------

    def image_bytes(self, hit: Hit) -> bytes:
        call = calls.Call("GET", hit.image_url) if hit.image_url else calls.image(hit.point_id)
        return self._send(call).content

    async def aimage_bytes(self, hit: Hit) -> bytes:
        return await asyncio.to_thread(self.image_bytes, hit)

    # -- sending -----------------------------------------------------------------------------------

    def _json(self, call: calls.Call) -> dict[str, Any]:
        return json_of(self._send(call), self.base_url)

    def _send(self, call: calls.Call) -> httpx.Response:
        timeout = (
            httpx.Timeout(call.timeout, connect=self.settings.connect_timeout_s) if call.timeout else None
        )
        for attempt in self.settings.retrying():
            with attempt, call.opened() as args:
                try:
                    response = self._http.request(
                        call.method, call.path, **args, timeout=timeout or httpx.USE_CLIENT_DEFAULT
                    )
                except httpx.TransportError as exc:
                    raise unreachable(exc, self.base_url) from exc
                return checked(response)
        raise AssertionError("unreachable: stamina raises the last error")  # pragma: no cover

    def _follow(self, job_id: str, progress: ProgressFn, deadline: float | None) -> Job | None:
        """Read the job's event stream until it ends (the job, once done) or closes (None: follow again)."""
        call = calls.job_events(job_id)
        latest = None
        try:
            with self._http.stream(call.method, call.path) as response:
                if not response.is_success:
                    response.read()
                    checked(response)
                parser = EventParser()
                for line in response.iter_lines():
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
