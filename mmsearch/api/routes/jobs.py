"""``/v1/jobs``: the ingest jobs that uploads start — state, progress, per-file results; cancel; and
three ways to learn that a job has ended without polling.

- A long poll: ``GET /v1/jobs/{id}?wait=30`` answers as soon as the job has ended, or after ``wait``
  seconds (at most ``MAX_WAIT_S``) with the job as it is then.
- Server-Sent Events: ``GET /v1/jobs/{id}/events`` sends the job (``event: progress``) at once and at each
  change, then ``event: done`` and closes; a stream lives ``server.job_events_max_s`` at most (``event:
  timeout``: reconnect to go on) and sends a comment every ``KEEPALIVE_S`` so proxies keep it open.
- A webhook: an upload's ``notify_url`` gets ``job.finished`` (``services/webhooks.py``).

Both wake on the job list's own writes (``services/job_watch.py``). A principal sees, follows and cancels
only the jobs of its collections; any other job answers 404, as if absent.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from mmsearch.access.principal import Principal
from mmsearch.api.errors import ApiError, not_found
from mmsearch.api.schemas import ERRORS, FileResultOut, JobOut, JobProgress, JobsResponse, with_errors
from mmsearch.api.services.context import ApiContext, Reader, Writer, caller
from mmsearch.api.services.job_store import Job
from mmsearch.api.services.job_watch import changed
from mmsearch.api.services.webhooks import Webhooks

router = APIRouter(tags=["jobs"])

MAX_WAIT_S = 60.0  # the longest long poll
KEEPALIVE_S = 15.0
EVENT_STREAM = "text/event-stream"
# One event of the stream (OpenAPI 3.1: an event stream's ``schema`` describes each event).
JOB_EVENT = {
    "type": "object",
    "properties": {
        "event": {"type": "string", "enum": ["progress", "done", "timeout"]},
        "data": {
            "type": "string", "contentMediaType": "application/json",
            "contentSchema": {"$ref": "#/components/schemas/JobOut"}, "description": "The job, as JSON.",
        },
        "id": {"type": "string"},
        "retry": {"type": "integer", "description": "Milliseconds to wait before connecting again."},
    },
}  # fmt: skip


def job_out(request: Request, job: Job) -> JobOut:
    sender = (job.principal or None) if caller(request).is_admin else None
    return job_body(job, str(request.url_for("get_job", job_id=job.id)), sender)


def job_body(job: Job, url: str, principal: str | None = None) -> JobOut:
    """The job as the API shows it; ``url``: where to follow it; ``principal``: who sent it (for
    administrators only)."""
    files = [
        FileResultOut(
            name=f.name,
            status=f.state,
            replaces=f.replaces,
            doc_id=f.doc_id,
            kind=f.kind,
            units=f.units,
            seconds=f.seconds,
            code=f.code,
            message=f.message,
        )
        for f in job.files
    ]
    current = next((f.name for f in job.files if f.state == "running"), None)
    return JobOut(
        job_id=job.id,
        collection=job.collection,
        state=job.state,
        created=job.created,
        started=job.started,
        finished=job.finished,
        progress=JobProgress(
            files_total=len(files),
            files_done=job.finished_files,
            units_done=sum(f.units for f in files),
            current=current,
        ),
        files=files,
        indexed=sum(f.status == "indexed" for f in files),
        unchanged=sum(f.status == "unchanged" for f in files),
        failed=sum(f.status == "failed" for f in files),
        error=job.error,
        url=url,
        principal=principal,
    )


MAX_JOBS_READ = 1000  # jobs read to find ``limit`` a group-limited principal may see (all that are kept)


@router.get("/v1/jobs", response_model=JobsResponse, responses=ERRORS)  # type: ignore[arg-type]
async def list_jobs(
    request: Request,
    ctx: Reader,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    mine: Annotated[bool, Query(description="Only the jobs of the caller's own uploads.")] = False,
) -> JobsResponse:
    """The newest ingest jobs first (the last 1000 finished ones are kept)."""
    runner = ctx.ready_services().jobs
    principal = caller(request)
    sender = principal.name if mine else None
    jobs = await anyio.to_thread.run_sync(
        lambda: runner.jobs.jobs(
            limit if principal.groups is None else MAX_JOBS_READ,
            collections=principal.collections,
            principal=sender,
        )
    )
    seen = [job for job in jobs if _sees(principal, job)][:limit]
    return JobsResponse(jobs=[job_out(request, job) for job in seen])


@router.get("/v1/jobs/{job_id}", name="get_job", response_model=JobOut, responses=ERRORS)  # type: ignore[arg-type]
async def get_job(
    request: Request,
    job_id: str,
    ctx: Reader,
    wait: Annotated[
        float,
        Query(ge=0, le=MAX_WAIT_S, description="Long poll: answer as soon as the job has ended, or after "
              "this many seconds with the job as it is then (0 = at once)."),
    ] = 0,
) -> JobOut:  # fmt: skip
    """One ingest job: `state` (queued, running, done, cancelled, failed), `progress`, and every
    file's result so far. With `wait`, the answer waits for the job to end (at most `wait` seconds):
    call again while `state` is still `queued` or `running`."""
    principal = caller(request)
    read = _reader(ctx, job_id)
    job = _visible(await read(), principal, job_id)
    if wait > 0 and job.active:
        deadline = time.monotonic() + wait
        with ctx.job_watch.subscribe(job_id) as written:
            while job.active and (left := deadline - time.monotonic()) > 0:
                await changed(written, left)
                written.clear()
                job = _visible(await read(), principal, job_id)
    return job_out(request, job)


@router.get(
    "/v1/jobs/{job_id}/events",
    response_class=StreamingResponse,
    responses=with_errors({200: {"description": "The job's events, as Server-Sent Events",
                                 "content": {EVENT_STREAM: {"schema": JOB_EVENT}}}}),
)  # fmt: skip
async def job_events(request: Request, job_id: str, ctx: Reader) -> StreamingResponse:
    """Follow a job as Server-Sent Events: `event: progress` with the job (as `GET /v1/jobs/{job_id}`
    shows it) at once and whenever it changes, then `event: done` with the ended job, and the stream
    closes. A stream lives `server.job_events_max_s` at most: it then sends `event: timeout` with the
    job as it is and closes; connect again to go on. A comment line every 15 s keeps proxies from
    closing a quiet stream."""
    principal = caller(request)
    read = _reader(ctx, job_id)
    job = _visible(await read(), principal, job_id)  # 404 before the stream starts
    stream = _events(ctx, job, lambda: _visible_later(read, principal), lambda job: job_out(request, job))
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream, media_type=EVENT_STREAM, headers=headers)


Read = Callable[[], Awaitable[Job | None]]


async def _events(
    ctx: ApiContext, job: Job, read: Read, render: Callable[[Job], JobOut]
) -> AsyncIterator[str]:
    """The event stream of ``job``: ``read()`` gives it again (None once it is gone), ``render`` shows it."""
    lifetime = time.monotonic() + ctx.settings.server.job_events_max_s
    number, sent = 0, ""
    yield "retry: 2000\n\n"
    with ctx.job_watch.subscribe(job.id) as written:
        quiet = time.monotonic()
        while True:
            body = render(job).model_dump_json()
            kind = "progress" if job.active else "done"
            if body != sent or kind == "done":
                number += 1
                yield _event(kind, body, number)
                sent, quiet = body, time.monotonic()
            if kind == "done":
                return
            left = lifetime - time.monotonic()
            if left <= 0:
                yield _event("timeout", body, number + 1)
                return
            if not await changed(written, min(left, KEEPALIVE_S)) and time.monotonic() - quiet >= KEEPALIVE_S:
                yield ": keep-alive\n\n"
                quiet = time.monotonic()
            written.clear()
            fresh = await read()
            if fresh is None:  # gone (pruned) or out of scope now
                return
            job = fresh


def _event(kind: str, data: str, number: int) -> str:
    return f"id: {number}\nevent: {kind}\ndata: {data}\n\n"


def _reader(ctx: ApiContext, job_id: str) -> Read:
    runner = ctx.ready_services().jobs

    async def read() -> Job | None:
        return await anyio.to_thread.run_sync(runner.jobs.get, job_id)

    return read


async def _visible_later(read: Read, principal: Principal) -> Job | None:
    job = await read()
    return job if job is not None and principal.may_use(job.collection) and _sees(principal, job) else None


def announce_end(webhooks: Webhooks) -> Callable[[Job], None]:
    """The ingest worker's listener that sends a job's webhook (its upload's ``notify_url``) when it ends."""

    def ended(job: Job) -> None:
        if job.notify is not None:
            payload = job_body(job, job.notify.job_url).model_dump(mode="json")
            webhooks.send(job.notify.url, "job.finished", {"job": payload})

    return ended


@router.delete("/v1/jobs/{job_id}", response_model=JobOut, responses=ERRORS)  # type: ignore[arg-type]
async def cancel_job(request: Request, job_id: str, ctx: Writer) -> JobOut:
    """Cancel a job: a queued one at once; a running one after its current chunk of units, rolling
    that file back (its previous version, if any, stays). Files already done stay done."""
    runner = ctx.ready_services().jobs
    principal = caller(request)
    seen = _visible(await anyio.to_thread.run_sync(runner.jobs.get, job_id), principal, job_id)
    if not principal.may_write(seen.collection):
        raise ApiError(
            403, "forbidden", f"this principal may read collection {seen.collection!r} but not write it"
        )
    job = _visible(await anyio.to_thread.run_sync(runner.cancel, job_id), principal, job_id)
    return job_out(request, job)


def _visible(job: Job | None, principal: Principal, job_id: str) -> Job:
    """The job, if the principal may see it (``_sees``); else 404, as for a job that does not exist."""
    if job is None or not principal.may_use(job.collection) or not _sees(principal, job):
        raise not_found(f"no ingest job {job_id[:80]!r} (GET /v1/jobs lists them)")
    return job


def _sees(principal: Principal, job: Job) -> bool:
    """A job names the files it writes, so it is seen by whoever may read what it writes (the scope's rule:
    a principal limited to some groups sees a job whose documents have none, or share one of them) and by
    the principal that sent it."""
    if job.principal and job.principal == principal.name:
        return True
    groups = principal.groups
    return groups is None or not job.labels.groups or not groups.isdisjoint(job.labels.groups)


@router.post("/v1/jobs/{job_id}/cancel", response_model=JobOut, responses=ERRORS)  # type: ignore[arg-type]
async def cancel_job_post(request: Request, job_id: str, ctx: Writer) -> JobOut:
    """The same as `DELETE /v1/jobs/{job_id}`, for clients that cannot send DELETE."""
    return await cancel_job(request, job_id, ctx)
