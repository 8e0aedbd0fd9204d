"""``/v1/jobs``: the ingest jobs that uploads start — state, progress, per-file results; cancel.

A principal sees and cancels only the jobs of its collections; any other job answers 404, as if absent.
"""

from __future__ import annotations

from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Query, Request

from mmsearch.access.principal import Principal
from mmsearch.api.errors import ApiError, not_found
from mmsearch.api.schemas import ERRORS, FileResultOut, JobOut, JobProgress, JobsResponse
from mmsearch.api.services.context import Reader, Writer, caller
from mmsearch.api.services.job_store import Job

router = APIRouter(tags=["jobs"])


def job_out(request: Request, job: Job) -> JobOut:
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
        url=str(request.url_for("get_job", job_id=job.id)),
        principal=(job.principal or None) if caller(request).is_admin else None,
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
async def get_job(request: Request, job_id: str, ctx: Reader) -> JobOut:
    """One ingest job: `state` (queued, running, done, cancelled, failed), `progress`, and every
    file's result so far."""
    runner = ctx.ready_services().jobs
    job = _visible(await anyio.to_thread.run_sync(runner.jobs.get, job_id), caller(request), job_id)
    return job_out(request, job)


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
