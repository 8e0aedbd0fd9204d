"""The ingest worker: one thread that runs the queued jobs (``job_store.py``) in order, file by file.

It shares the API's store and (serialised) embedder, but holds no lock across a file: the store
serialises each call and the embedder each chunk, so a search waits for at most one embedding chunk
(``CHUNK_UNITS``) and a delete for one store call. And it gives way: before each chunk it waits while
searches are running or queued (``yield_to``; at most ``MAX_YIELD_S`` per chunk, so a stream of
searches slows an ingest down but never stops it). A delete of the very document being ingested is refused (409) instead,
under ``guard``, the one small lock the worker takes when it starts a file.

Cancelling (``cancel``) stops a running file at its next chunk: its new points and images are rolled
back (the previous version stays) and the rest of the job is cancelled. Stopping the server stops the
running file there too, leaving its uncommitted (so invisible) points for the job to finish when it is
resumed at the next start, or for ``reconcile`` to remove. ``start`` first
reconciles (``index.reconcile``, embedded store only) and sweeps the uploads folder, so what a
``kill -9`` left behind is finished or removed before anything is served.

It also holds the limits (``ledger.py``): the reservation ledger, derived from the uploads folder by ``start``
and given back what leaves it (an old version a new one replaced, the staged files of an ended or cancelled
job), and the places in the queue (``admit``: ``server.max_queued_jobs_per_principal`` and
``server.max_queued_jobs``, 429), taken before an upload streams in and turned into its job by ``submit``.
"""

from __future__ import annotations

import errno
import json
import logging
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from mmsearch import components
from mmsearch.api.errors import ApiError
from mmsearch.api.services.job_store import FINISHED_FILES, Job, JobFile, JobStore, Notify, new_job_id
from mmsearch.api.services.ledger import Ledger
from mmsearch.api.services.local_ledger import LocalLedger, disk_free
from mmsearch.api.services.uploads import (
    legacy_upload_path,
    staged_file,
    staging_dir,
    sweep,
    tree_size,
    upload_path,
    uploads_dir,
    usage_by_collection,
)
from mmsearch.config import Settings
from mmsearch.errors import IngestError, PreprocessingMismatch
from mmsearch.index.embedder import Embedder
from mmsearch.index.fingerprint import Fingerprint, current, record, refusal, stale_in
from mmsearch.index.inputs import Content
from mmsearch.index.pipeline import FileResult, Indexer, Progress
from mmsearch.index.reconcile import reconcile
from mmsearch.index.store import Store
from mmsearch.ingest.manifest import Manifest, ManifestEntry
from mmsearch.ingest.names import DEFAULT_COLLECTION, Labels

log = logging.getLogger(__name__)

Listener = Callable[[Job], None]
CHUNK_UNITS = 8  # units per embedding call: what a search may have to wait for
MAX_YIELD_S = 5.0
RETRY_AFTER_S = 10  # what a 429 (the queue is full) asks a client to wait


class QueueFull(ApiError):
    """429: the principal (or everyone) has as many ingest jobs waiting or running as the server takes."""

    http_status = 429

    def __init__(self, message: str) -> None:
        super().__init__(429, "too_many_jobs", message, headers={"Retry-After": str(RETRY_AFTER_S)})


class Cancelled(IngestError):
    code = "cancelled"


class Interrupted(BaseException):
    """Raised through the Indexer (which catches only errors) to leave a file as it is: its points
    are not yet committed, hence invisible, and the job resumes it at the next start."""

    code = "interrupted"


class JobRunner:
    def __init__(self, settings: Settings, store: Store, embedder: Embedder) -> None:
        self.settings = settings
        self.store = store
        self.embedder = embedder
        self.uploads = uploads_dir(settings)
        self.jobs = JobStore(settings.data_dir / "jobs.sqlite", settings.server.keep_finished_jobs)
        self.guard = threading.Lock()  # held to start a file, and by a delete
        self.current_doc: str | None = None
        self._running: JobFile | None = None
        self.listeners: list[Listener] = []
        self.yield_to: list[Callable[[], bool]] = []  # "searches are waiting" probes, one per app
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._cancel: set[str] = set()
        self._thread: threading.Thread | None = None
        self._made_by: Fingerprint | None = None
        # The limits (services/ledger.py): bytes under uploads per collection, derived from disk by ``start``;
        # the collection each job's upload was charged to; queue places held by uploads still streaming.
        self.ledger: Ledger = LocalLedger({}, disk_free(self.uploads))
        self._charged: dict[str, str] = {}
        self._admitted: dict[str, int] = {}
        self._admit = threading.Lock()  # held to count the queue and take a place in it, or to submit
        self._staging = threading.Lock()  # held to measure and remove a job's staging folder

    # -- life --------------------------------------------------------------------------------------

    def start(self) -> None:
        """Recover the job list, reconcile, then run jobs in a background thread."""
        active = self.jobs.recover()
        with components.build_manifest(self.settings) as manifest:
            lost: tuple[ManifestEntry, ...] = ()
            if self.settings.store.url is None:  # we own the embedded store: nothing else is writing
                lost = reconcile(self.store, manifest, self.settings.data_dir).lost
            keep = {e.path for e in manifest.documents() if e.sha256 is not None}
        active += self._reingest(lost)
        keep |= {
            str(upload_path(self.uploads, job.collection, f.name).resolve())
            for job in active
            for f in job.files
        }
        removed = sweep(self.uploads, {job.id for job in active}, keep)
        if removed:
            log.warning("removed %d stray upload files left by an unclean stop", removed)
        self._charged = {job.id: job.collection for job in active}
        self.ledger = LocalLedger(usage_by_collection(self.uploads, self._charged), disk_free(self.uploads))
        if active:
            log.info("resuming %d unfinished ingest jobs", len(active))
        self._thread = threading.Thread(target=self._loop, name="mmsearch-ingest", daemon=True)
        self._thread.start()

    def _reingest(self, lost: Sequence[ManifestEntry]) -> list[Job]:
        """Uploads whose points the store lost: one job per collection (and labels) that ingests them again
        from their files (an upload kept where it lay before collections is moved into place first)."""
        batches: dict[str, tuple[Labels, list[tuple[str, int]]]] = {}
        for entry in lost:
            path, final = Path(entry.path), upload_path(self.uploads, entry.collection, entry.name)
            if not path.is_relative_to(self.uploads) or not path.is_file():
                continue
            if path != final:
                final.parent.mkdir(parents=True, exist_ok=True)
                path.replace(final)
            labels = Labels(entry.collection, entry.groups, entry.metadata)
            key = json.dumps([labels.collection, labels.groups, dict(labels.metadata)], sort_keys=True)
            batches.setdefault(key, (labels, []))[1].append((entry.name, final.stat().st_size))
        return [self.jobs.create(new_job_id(), files, labels) for labels, files in batches.values()]

    def stop(self, timeout: float = 300.0) -> None:
        """Stop after the running chunk; the running job stays queued for the next start."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("the ingest worker did not stop within %gs; closing under it", timeout)
                return
        self.jobs.close()

    # -- requests ----------------------------------------------------------------------------------

    def admit(self, principal: str, per_principal: int, overall: int) -> None:
        """Hold a place in the queue for an upload by ``principal`` about to stream in, or raise ``QueueFull``
        (429) when it already has ``per_principal`` jobs waiting or running, or everyone ``overall`` (uploads
        admitted but still streaming count too). ``submit`` turns the place into a job; ``withdraw`` frees it."""
        with self._admit:
            mine, total = self.jobs.active_counts(principal)
            mine += self._admitted.get(principal, 0)
            total += sum(self._admitted.values())
            if mine >= per_principal:
                raise QueueFull(f"{mine} ingest jobs of yours ({principal}) are waiting or running, as many as "
                                f"the server takes (server.max_queued_jobs_per_principal = {per_principal}); "
                                "retry when they are done (GET /v1/jobs)")  # fmt: skip
            if total >= overall:
                raise QueueFull(f"{total} ingest jobs are waiting or running, as many as the server takes "
                                f"(server.max_queued_jobs = {overall}); retry later")  # fmt: skip
            self._admitted[principal] = self._admitted.get(principal, 0) + 1

    def withdraw(self, principal: str) -> None:
        """An admitted upload that did not become a job: free its place."""
        with self._admit:
            self._leave(principal)

    def submit(
        self, job_id: str, files: list[tuple[str, int]], labels: Labels | None = None, replace: bool = True,
        replaces: frozenset[str] = frozenset(), *, principal: str = "", notify: Notify | None = None,
    ) -> Job:  # fmt: skip
        """Queue the job of an upload (in the place ``admit`` held, if any) writing ``labels`` (its bytes are
        counted for ``labels.collection`` in the ledger); ``replace`` False: a name already taken fails;
        ``replaces``: the names that are documents already; ``notify``: the webhook of its end."""
        labels = labels or Labels()
        self._charged[job_id] = labels.collection  # before the worker can see the job (and end it)
        with self._admit:
            try:
                job = self.jobs.create(
                    job_id, files, labels, replace, replaces, principal=principal, notify=notify
                )
            except BaseException:
                self._charged.pop(job_id, None)
                raise
            self._leave(principal)
        self._wake.set()
        return job

    def _leave(self, principal: str) -> None:
        held = self._admitted.pop(principal, 0) - 1
        if held > 0:
            self._admitted[principal] = held

    def cancel(self, job_id: str) -> Job | None:
        job = self.jobs.request_cancel(job_id)
        if job is not None and job.state == "running":
            self._cancel.add(job_id)  # the worker stops it at its next chunk
        elif job is not None and job.cancel:
            self._drop_staging(job_id)
        return job

    def _drop_staging(self, job_id: str) -> None:
        """Remove a job's staging folder and stop counting what it held (once, whoever comes first)."""
        with self._staging:
            folder = staging_dir(self.uploads, job_id)
            size = tree_size(folder)
            shutil.rmtree(folder, ignore_errors=True)
            collection = self._charged.pop(job_id, DEFAULT_COLLECTION)
            if size:
                self.ledger.release(collection, size)

    # -- the loop ----------------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            job = self.jobs.next_queued()
            if job is None:
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            if not self.jobs.claim(job.id):
                continue
            claimed = self.jobs.get(job.id)
            if claimed is not None and claimed.cancel:  # cancelled while being claimed
                self._cancel.add(job.id)
            try:
                self._run(job)
            except Exception as exc:  # the job broke (the store failed, the disk is full): say so, go on
                log.exception("ingest job %s failed", job.id)
                self.jobs.finish(job.id, "failed", error=f"{getattr(exc, 'code', 'error')}: {exc}")
                self._finished(job.id)

    def _run(self, job: Job) -> None:
        try:
            made_by = self._preprocessing()
        except PreprocessingMismatch as exc:  # the job's files would not match the collection's vectors
            self.jobs.finish(job.id, "failed", error=f"{exc.code}: {exc}")
            self._finished(job.id)
            return
        with components.build_manifest(self.settings) as manifest:
            indexer = self._indexer(manifest, job)
            for file in job.files:
                if file.state in FINISHED_FILES:
                    continue
                if self._stop.is_set():
                    self.jobs.requeue(job.id)
                    return
                if job.id in self._cancel:
                    break
                self._file(indexer, job, file)
        if self._stop.is_set() and job.id not in self._cancel:
            done = self.jobs.get(job.id)
            if done is not None and done.finished_files < len(done.files):
                self.jobs.requeue(job.id)
                return
        record(self.store, made_by)  # a collection the job made, or one made before fingerprints
        self.jobs.finish(job.id, "cancelled" if job.id in self._cancel else "done")
        self._finished(job.id)

    def _preprocessing(self) -> Fingerprint:
        """This environment's preprocessing fingerprint (rendered once); ``PreprocessingMismatch`` when
        the collection holds vectors it would render differently (``index/fingerprint.py``), as a local
        ``mmsearch ingest`` refuses."""
        if self._made_by is None:
            self._made_by = current(self.settings.embedding, self.embedder)
        stored, kinds = stale_in(self.store, self._made_by)
        if stored is not None and kinds:
            raise refusal(f"collection '{self.settings.store.collection}'", kinds, stored, self._made_by)
        return self._made_by

    def _room(self) -> None:
        """Before each chunk: ``OSError`` ENOSPC when data_dir's disk has less than ``server.min_free_disk_mb``
        free. The file is then rolled back and failed as ``disk_full``, instead of the store writing into a
        full disk (Qdrant Edge maps its files: a write there with no block left kills the process, SIGBUS)."""
        free = shutil.disk_usage(self.settings.data_dir).free
        if free < self.settings.server.min_free_disk_mb * 1024 * 1024:
            raise OSError(
                errno.ENOSPC, f"No space left on device: {free} bytes free, under server.min_free_disk_mb"
            )

    def _finished(self, job_id: str) -> None:
        self._drop_staging(job_id)
        self._cancel.discard(job_id)
        job = self.jobs.get(job_id)
        for listener in list(self.listeners):
            if job is not None:
                listener(job)

    def _indexer(self, manifest: Manifest, job: Job) -> Indexer:
        embedder = _Yielding(self.embedder, lambda: any(busy() for busy in list(self.yield_to)), self._room)
        indexer = components.build_indexer(self.settings, embedder, self.store, manifest, None)
        indexer.chunk_units = CHUNK_UNITS
        indexer.labels = job.labels
        units = {"done": 0}

        def progress(event: Progress) -> None:
            if job.id in self._cancel:
                raise Cancelled("the job was cancelled")
            if self._stop.is_set():
                raise Interrupted("the server is stopping; the file is ingested again at the next start")
            if event.kind == "units_done":
                units["done"] += event.count
                running = self._running
                if running is not None:
                    self.jobs.update_file(job.id, replace(running, units=units["done"]))
            elif event.kind == "file_start":
                units["done"] = 0

        indexer.on_progress = progress
        return indexer

    def _file(self, indexer: Indexer, job: Job, file: JobFile) -> None:
        final = upload_path(self.uploads, job.collection, file.name)
        former = (
            (legacy_upload_path(self.uploads, file.name),) if job.collection == DEFAULT_COLLECTION else ()
        )
        with self.guard:
            self.current_doc = indexer.document_id(final, file.name, *former)
            self._running = JobFile(file.idx, file.name, file.size, "running", replaces=file.replaces)
        self.jobs.update_file(job.id, self._running)
        t0 = time.perf_counter()
        staged = staged_file(self.uploads, job.id, file.idx, file.name)
        replaced = final.stat().st_size if staged.is_file() and final.is_file() else 0
        try:
            if indexer.on_progress is not None:
                indexer.on_progress(Progress("file_start", str(final)))
            result = self._ingest(indexer, job, file.name, (final, staged, *former))
        except (Cancelled, Interrupted) as exc:
            result = FileResult(str(final), "failed", code=exc.code, message=str(exc))
        except (
            Exception
        ) as exc:  # a full disk, a failing store: rolled back by the Indexer; the file says why
            log.exception("ingest of %s (job %s) failed", file.name, job.id)
            result = FileResult(str(final), "failed", code=_code_of(exc), message=_cause(exc))
        finally:
            with self.guard:
                self.current_doc = None
                self._running = None
        if replaced and not staged.exists():  # moved over the previous version, whose bytes are gone
            self.ledger.release(self._charged.get(job.id, DEFAULT_COLLECTION), replaced)
        if result.code == "interrupted" and self._stop.is_set():
            return  # stays "running"; requeued by the caller, done again at the next start
        self.jobs.update_file(job.id, _outcome(file, result, (final, staged), time.perf_counter() - t0))

    def _ingest(self, indexer: Indexer, job: Job, name: str, paths: tuple[Path, ...]) -> FileResult:
        final, staged, *former = paths
        if not job.replace:
            existing = indexer.manifest.find(job.collection, name)
            if existing is not None and existing.sha256 is not None:
                return FileResult(str(final), "failed", code="name_taken", message=f"{name}: a document of "
                                  f"this name is already in {job.collection} and replace is false")  # fmt: skip
        if staged.is_file():
            clash = _clash(final, self.uploads)
            if clash is not None:
                return FileResult(str(final), "failed", code="upload_error", message=clash)
            return indexer.index_staged(final, staged, name, *former)
        if final.is_file():  # moved into place, then the server stopped before the commit: finish it
            return indexer.index_file(final, name, *former)
        return FileResult(str(final), "failed", code="upload_lost",
                          message="the uploaded file is no longer on the server; upload it again")  # fmt: skip


class _Yielding:
    """The embedder as the worker calls it: each call first checks the disk has room (``room``) and waits
    while ``busy()`` (searches waiting)."""

    def __init__(
        self, inner: Embedder, busy: Callable[[], bool], room: Callable[[], None] | None = None
    ) -> None:
        self.inner = inner
        self.busy = busy
        self.room = room  # raises OSError(ENOSPC) when the disk is too full for the chunk's points

    def embed(self, items: Sequence[Content], instruction: str) -> np.ndarray:
        if self.room is not None:
            self.room()
        deadline = time.monotonic() + MAX_YIELD_S
        while self.busy() and time.monotonic() < deadline:
            time.sleep(0.005)
        return self.inner.embed(items, instruction)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _clash(final: Path, uploads: Path) -> str | None:
    """Why ``final`` cannot hold a file (a folder of earlier uploads has its name, or a folder of its
    path is a file), or None."""
    try:
        if final.is_dir():
            raise IsADirectoryError("a folder of earlier uploads has this name")
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        return (
            f"cannot store {final.relative_to(uploads)} on the server: {reason}; upload it under another name"
        )
    return None


def _code_of(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "disk_full"
    return str(getattr(exc, "code", None) or "ingest_error")


def _cause(exc: Exception) -> str:
    """What went wrong, in a line: ``[Errno 28] No space left on device``, the error's own message."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"the server's disk is full ({text}); the file was rolled back, upload it again once space is freed"
    return f"{type(exc).__name__}: {text}"


def _unnamed(message: str, name: str) -> str:
    """``message`` without a leading ``name: `` (or its last path part's, as readers put it)."""
    for prefix in (f"{name}: ", f"{name.rsplit('/', 1)[-1]}: "):
        if message.startswith(prefix) and len(message) > len(prefix):
            return message[len(prefix) :]
    return message


def _outcome(file: JobFile, result: FileResult, paths: tuple[Path, Path], seconds: float) -> JobFile:
    """The file's row from its result; messages name no server path, and do not begin with the file's
    name (the row has it: a client shows ``name: message``, which would say it twice)."""
    ok = result.status in ("indexed", "unchanged")
    state = result.status if ok else ("cancelled" if result.code == "cancelled" else "failed")
    message = result.message
    for path in paths if message else ():
        message = str(message).replace(str(path), file.name)
    if message:
        message = _unnamed(message, file.name)
    return JobFile(
        file.idx, file.name, file.size, state, kind=result.kind, units=result.units if ok else 0,  # type: ignore[arg-type]
        seconds=round(seconds, 3), code=None if ok else result.code, message=None if ok else message,
        doc_id=result.doc_id if ok else None, replaces=result.replaced if ok else file.replaces,
    )  # fmt: skip
