"""``mmsearch ingest --server URL``: ingest through a running API instead of opening the store here.

While ``mmsearch serve`` runs it owns the embedded store, so a second process cannot write to it; this
client walks the paths exactly as a local ingest does (same file rules), uploads each file to
``POST /v1/documents`` and follows the ingest job the server answers with (``GET /v1/jobs/{id}``),
feeding its progress to the same progress bar, and turns the results into the same ``IngestReport``
the local ingest prints. Files are sent one per request, named as a local ingest names them (the path
relative to the folder given), so two ``report.pdf`` in different folders stay two documents on the
server, with the run's collection, groups and metadata as form fields ahead of the file. Interrupted
(Ctrl-C), it cancels the job it was following.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any

import httpx

from mmsearch.cli.client import RemoteError, ServerClient
from mmsearch.index.pipeline import FileResult, IngestReport, Progress, ProgressFn, Status, run_files
from mmsearch.ingest.names import Labels
from mmsearch.ingest.settings import IngestSettings
from mmsearch.ingest.walk import WalkedFile

FILE_ERRORS = (413, 415, 422, 507)  # the server refused this file's upload: a per-file failure


class RemoteIngest(ServerClient):
    key_kind = "write"

    def __init__(self, url: str, api_key: str | None = None, timeout_s: float = 900.0,
                 transport: httpx.BaseTransport | None = None, poll_s: float = 0.25) -> None:  # fmt: skip
        super().__init__(url, api_key, timeout_s, transport)
        self.poll_s = poll_s

    def run(
        self,
        paths: Sequence[Path],
        settings: IngestSettings,
        on_progress: ProgressFn | None = None,
        labels: Labels | None = None,
    ) -> IngestReport:
        limit = self._upload_limit()
        fields = _fields(labels or Labels())

        def one_file(found: WalkedFile) -> FileResult:
            return self._one(found.path, found.name, limit, on_progress, fields)

        return run_files(paths, settings, one_file, on_progress)

    def _upload_limit(self) -> int:
        info = self.call("GET", "/v1/info")
        return int(float(info.get("max_upload_mb", 0)) * 2**20)

    def _one(
        self, path: Path, name: str, limit: int, on_progress: ProgressFn | None, fields: dict[str, str]
    ) -> FileResult:
        t0 = time.perf_counter()
        size = path.stat().st_size
        if limit and size > limit:
            return FileResult(str(path), "failed", code="payload_too_large",
                              message=f"{size / 2**20:.1f} MiB is more than the server accepts "
                              f"({limit / 2**20:g} MiB, server.max_upload_mb)")  # fmt: skip
        with open(path, "rb") as handle:
            response = self.request(
                "POST", "/v1/documents", allowed=FILE_ERRORS, data=fields, files=[("files", (name, handle))]
            )  # httpx sends the data fields ahead of the files, as the server asks
        if response.status_code in FILE_ERRORS:
            error = self.json(response).get("error", {})
            return FileResult(str(path), "failed", code=error.get("code"), message=error.get("message"))
        job = self.json(response)
        try:
            job = self._follow(job, path, on_progress)
        except KeyboardInterrupt:
            with suppress(RemoteError):  # best effort: the interrupt is what the user must see
                self.request("DELETE", f"/v1/jobs/{job['job_id']}")
            raise
        reply = job["files"][0]
        status: Status = reply["status"] if reply["status"] in ("indexed", "unchanged") else "failed"
        code = reply.get("code") or (None if status != "failed" else f"job_{job['state']}")
        message = reply.get("message") or job.get("error")
        if status == "failed" and not message:
            message = f"the server's ingest job {job['job_id']} ended {job['state']}"
        return FileResult(
            str(path), status, reply.get("kind"), int(reply.get("units", 0)),
            time.perf_counter() - t0, code, message, name=reply.get("name"), collection=job.get("collection"),
            doc_id=reply.get("doc_id"), replaced=bool(reply.get("replaces")),
        )  # fmt: skip

    def _follow(self, job: dict[str, Any], path: Path, on_progress: ProgressFn | None) -> dict[str, Any]:
        """Poll the job until it ends, reporting its units as they are done."""
        reported = 0
        while True:
            done = int(job.get("progress", {}).get("units_done", 0))
            if done > reported:
                _emit(on_progress, Progress("units_done", str(path), done - reported))
                reported = done
            if job.get("state") not in ("queued", "running"):
                return job
            time.sleep(self.poll_s)
            job = self.call("GET", f"/v1/jobs/{job['job_id']}")


def _fields(labels: Labels) -> dict[str, str]:
    """The upload's form fields for ``labels`` (sent before the files)."""
    fields = {"collection": labels.collection}
    if labels.groups:
        fields["groups"] = ",".join(labels.groups)
    if labels.metadata:
        fields["metadata"] = json.dumps(dict(labels.metadata), ensure_ascii=False)
    return fields


def _emit(fn: ProgressFn | None, event: Progress) -> None:
    if fn is not None:
        fn(event)
