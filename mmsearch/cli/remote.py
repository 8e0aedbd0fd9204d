"""``mmsearch ingest --server URL``: ingest through a running API instead of opening the store here.

While ``mmsearch serve`` runs it owns the embedded store, so a second process cannot write to it; this
walks the paths exactly as a local ingest does (same file rules), uploads each file with the Python client
(``mmsearch.client``: ``POST /v1/documents``) and follows the ingest job the server answers with through
its event stream (``GET /v1/jobs/{id}/events``), feeding its progress to the same progress bar, and turns
the results into the same ``IngestReport`` the local ingest prints. Files are sent one per request, named
as a local ingest names them (the path relative to the folder given), so two ``report.pdf`` in different
folders stay two documents on the server, with the run's collection, groups and metadata. Interrupted
(Ctrl-C), it cancels the job it was following.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path
from types import TracebackType
from typing import Self

from mmsearch.cli.client import hinted
from mmsearch.client import Client, Job, RemoteError, ServerError
from mmsearch.index.pipeline import FileResult, IngestReport, Progress, ProgressFn, Status, run_files
from mmsearch.ingest.names import Labels
from mmsearch.ingest.settings import IngestSettings
from mmsearch.ingest.walk import WalkedFile

FILE_ERRORS = (413, 415, 422, 507)  # the server refused this file's upload: a per-file failure


class RemoteIngest:
    def __init__(self, url: str, api_key: str | None = None, timeout_s: float = 900.0) -> None:
        self.url = url.rstrip("/")
        self.client = Client(self.url, api_key, timeout=timeout_s)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def run(
        self,
        paths: Sequence[Path],
        settings: IngestSettings,
        on_progress: ProgressFn | None = None,
        labels: Labels | None = None,
    ) -> IngestReport:
        try:
            limit = int(float(self.client.info().get("max_upload_mb", 0)) * 2**20)
            chosen = labels or Labels()

            def one_file(found: WalkedFile) -> FileResult:
                return self._one(found.path, found.name, limit, on_progress, chosen)

            return run_files(paths, settings, one_file, on_progress)
        except ServerError as exc:
            raise hinted(exc, self.url, "write") from exc

    def _one(
        self, path: Path, name: str, limit: int, on_progress: ProgressFn | None, labels: Labels
    ) -> FileResult:
        t0 = time.perf_counter()
        size = path.stat().st_size
        if limit and size > limit:
            return FileResult(str(path), "failed", code="payload_too_large",
                              message=f"{size / 2**20:.1f} MiB is more than the server accepts "
                              f"({limit / 2**20:g} MiB, server.max_upload_mb)")  # fmt: skip
        try:
            job = self.client.upload(
                [(name, path)], collection=labels.collection, groups=labels.groups or None,
                metadata=dict(labels.metadata) or None, wait=False,
            )  # fmt: skip
        except ServerError as exc:
            if exc.http_status not in FILE_ERRORS:
                raise
            return FileResult(str(path), "failed", code=exc.code, message=str(exc))
        try:
            job = self._follow(job, path, on_progress)
        except KeyboardInterrupt:
            with suppress(RemoteError):  # best effort: the interrupt is what the user must see
                self.client.cancel(job)
            raise
        return _result(job, path, time.perf_counter() - t0)

    def _follow(self, job: Job, path: Path, on_progress: ProgressFn | None) -> Job:
        """Follow the job until it ends, reporting its units as they are done."""
        reported = 0

        def progress(now: Job) -> None:
            nonlocal reported
            done = now.progress.units_done
            if done > reported and on_progress is not None:
                on_progress(Progress("units_done", str(path), done - reported))
            reported = max(reported, done)

        return self.client.wait(job, progress=progress)


def _result(job: Job, path: Path, seconds: float) -> FileResult:
    """The one file of ``job`` as the ingest report shows it."""
    reply = job.files[0]
    status: Status = reply.status if reply.status in ("indexed", "unchanged") else "failed"  # type: ignore[assignment]
    code = reply.code or (None if status != "failed" else f"job_{job.state}")
    message = reply.message or job.error
    if status == "failed" and not message:
        message = f"the server's ingest job {job.id} ended {job.state}"
    return FileResult(
        str(path), status, reply.kind, reply.units, seconds, code, message, name=reply.name,
        collection=job.collection, doc_id=reply.doc_id, replaced=reply.replaces,
    )  # fmt: skip
