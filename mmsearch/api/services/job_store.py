"""Ingest jobs on disk: ``data_dir/jobs.sqlite``, so a job outlives the process that accepted it.

One job per upload request, with the name of the principal that sent it: the collection it writes to,
the groups and metadata it gives its documents, whether it may replace a document of the same name, and
its files (names normalised by ``ingest.names.normalise_name``; each says whether it replaces a
document), each waiting as ``uploads/.incoming/<job id>/<n>`` until the worker (``worker.py``) ingests it
and moves it into place. A job list written before these columns gets them in place (its jobs are
``default``'s). States:

    job:  queued → running → done | cancelled | failed        (failed: the job itself broke, not a file)
    file: queued → running → indexed | unchanged | failed | cancelled

A restart puts every job that was ``queued`` or ``running`` back in the queue, with its unfinished
files ``queued`` again: the worker finishes them from their stored uploads (ingest is idempotent).
Each call is one sqlite transaction (WAL), so a ``kill -9`` never leaves a torn row. After each write
the ``watchers`` hear the job's id (from the writing thread): that is how a long poll or an event stream
learns of a change at once (``job_watch.py``). A job may name where to announce its end (``Notify``: an
upload's ``notify_url``, ``webhooks.py``).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import Literal, Self

from mmsearch.errors import StoreError
from mmsearch.ingest.names import Labels

log = logging.getLogger(__name__)

JobState = Literal["queued", "running", "done", "cancelled", "failed"]
FileState = Literal["queued", "running", "indexed", "unchanged", "failed", "cancelled"]
FINISHED_FILES = frozenset({"indexed", "unchanged", "failed", "cancelled"})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    id        TEXT NOT NULL UNIQUE,
    state     TEXT NOT NULL,
    created   REAL NOT NULL,
    started   REAL,
    finished  REAL,
    cancel    INTEGER NOT NULL DEFAULT 0,
    error     TEXT,
    collection TEXT NOT NULL DEFAULT 'default'
);
CREATE TABLE IF NOT EXISTS job_files (
    job_id    TEXT NOT NULL,
    idx       INTEGER NOT NULL,
    name      TEXT NOT NULL,
    size      INTEGER NOT NULL,
    state     TEXT NOT NULL,
    kind      TEXT,
    units     INTEGER NOT NULL DEFAULT 0,
    seconds   REAL NOT NULL DEFAULT 0,
    code      TEXT,
    message   TEXT,
    doc_id    TEXT,
    PRIMARY KEY (job_id, idx)
);
"""
# Columns added after the first release, given to an older file in place: (table, column, declaration).
_ADDED = (
    ("jobs", "collection", "TEXT NOT NULL DEFAULT 'default'"),
    ("jobs", "groups", "TEXT NOT NULL DEFAULT '[]'"),
    ("jobs", "metadata", "TEXT NOT NULL DEFAULT '{}'"),
    ("jobs", "replace", "INTEGER NOT NULL DEFAULT 1"),
    ("job_files", "replaces", "INTEGER NOT NULL DEFAULT 0"),
    ("jobs", "principal", "TEXT NOT NULL DEFAULT ''"),
    ("jobs", "notify", "TEXT"),
)
_JOB_COLUMNS = (
    "id, state, created, started, finished, cancel, error, collection, groups, metadata, replace, principal, "
    "notify"
)
Watcher = Callable[[str], None]  # hears the id of each job written


@dataclass(frozen=True)
class JobFile:
    idx: int
    name: str
    size: int
    state: FileState
    kind: str | None = None
    units: int = 0  # while running: units done so far
    seconds: float = 0.0
    code: str | None = None
    message: str | None = None
    doc_id: str | None = None
    replaces: bool = False  # a document of this name was there (when queued; when indexed: it was replaced)


@dataclass(frozen=True)
class Notify:
    """Where a job announces its end: a webhook ``url`` (checked by ``webhooks.py``), and the job's own
    URL, which the announcement names (the worker that ends the job knows no request to build it from)."""

    url: str
    job_url: str


@dataclass(frozen=True)
class Job:
    id: str
    state: JobState
    created: float
    started: float | None
    finished: float | None
    cancel: bool
    error: str | None
    files: tuple[JobFile, ...]
    labels: Labels = field(default_factory=Labels)  # the collection, groups and metadata it writes
    replace: bool = True  # False: a file whose name is taken fails (``name_taken``) instead of replacing
    principal: str = ""  # the name of who sent it ("" before jobs recorded it)
    notify: Notify | None = None  # the webhook that hears of its end, if the upload asked for one

    @property
    def collection(self) -> str:
        return self.labels.collection

    @property
    def finished_files(self) -> int:
        return sum(f.state in FINISHED_FILES for f in self.files)

    @property
    def active(self) -> bool:
        return self.state in ("queued", "running")


def new_job_id() -> str:
    return uuid.uuid4().hex


class JobStore:
    """Thread-safe handle on ``jobs.sqlite``."""

    def __init__(self, path: Path, keep_finished: int = 1000) -> None:
        """``keep_finished``: finished jobs kept for ``GET /v1/jobs`` (``server.keep_finished_jobs``); older
        ones are pruned."""
        self.path = path
        self.keep_finished = keep_finished
        self._lock = threading.Lock()
        self.watchers: list[Watcher] = []
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=30.0, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            for table, column, declaration in _ADDED:
                _add_column(self._db, table, column, declaration)
        except sqlite3.Error as exc:
            raise StoreError(
                f"the job list {path} cannot be opened ({exc}); delete it to start afresh"
            ) from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- writes ------------------------------------------------------------------------------------

    def create(
        self, job_id: str, files: list[tuple[str, int]], labels: Labels | None = None, replace: bool = True,
        replaces: frozenset[str] = frozenset(), *, principal: str = "", notify: Notify | None = None,
    ) -> Job:  # fmt: skip
        """A queued job of ``files`` (name, size), in order, writing ``labels``, sent by ``principal`` (its
        name); ``replaces``: the names that are documents already; ``notify``: its webhook."""
        labels = labels or Labels()
        target = None if notify is None else json.dumps({"url": notify.url, "job_url": notify.job_url})
        with self._transaction(job_id) as db:
            db.execute(
                "INSERT INTO jobs (id, state, created, collection, groups, metadata, replace, principal, notify) "
                "VALUES (?, 'queued', ?, ?, ?, ?, ?, ?, ?)",
                (job_id, time.time(), labels.collection, json.dumps(list(labels.groups)),
                 json.dumps(dict(labels.metadata)), int(replace), principal, target),
            )  # fmt: skip
            db.executemany(
                "INSERT INTO job_files (job_id, idx, name, size, state, replaces) VALUES (?, ?, ?, ?, 'queued', ?)",
                [(job_id, i, name, size, int(name in replaces)) for i, (name, size) in enumerate(files)],
            )
        return self._must(job_id)

    def claim(self, job_id: str) -> bool:
        """Mark a queued job running; False if it is no longer queued (cancelled meanwhile)."""
        with self._transaction(job_id) as db:
            cursor = db.execute(
                "UPDATE jobs SET state = 'running', started = COALESCE(started, ?) WHERE id = ? AND state = 'queued'",
                (time.time(), job_id),
            )
        return cursor.rowcount == 1

    def finish(self, job_id: str, state: JobState, error: str | None = None) -> None:
        with self._transaction(job_id) as db:
            db.execute(
                "UPDATE jobs SET state = ?, finished = ?, error = ? WHERE id = ?",
                (state, time.time(), error, job_id),
            )
            if state != "queued":
                db.execute(
                    "UPDATE job_files SET state = 'cancelled' WHERE job_id = ? AND state IN ('queued', 'running')",
                    (job_id,),
                )
            self._prune(db)

    def requeue(self, job_id: str) -> None:
        """Back in the queue (a stop in the middle): unfinished files are queued again."""
        with self._transaction(job_id) as db:
            db.execute("UPDATE jobs SET state = 'queued' WHERE id = ?", (job_id,))
            db.execute("UPDATE job_files SET state = 'queued', units = 0 WHERE job_id = ? AND state = 'running'",
                       (job_id,))  # fmt: skip

    def update_file(self, job_id: str, file: JobFile) -> None:
        with self._transaction(job_id) as db:
            db.execute(
                "UPDATE job_files SET state = ?, kind = ?, units = ?, seconds = ?, code = ?, message = ?, "
                "doc_id = ?, replaces = ? WHERE job_id = ? AND idx = ?",
                (file.state, file.kind, file.units, file.seconds, file.code, file.message, file.doc_id,
                 int(file.replaces), job_id, file.idx),
            )  # fmt: skip

    def request_cancel(self, job_id: str) -> Job | None:
        """Cancel: a queued job at once, a running one at its next checkpoint (the worker's job)."""
        with self._transaction(job_id) as db:
            db.execute(
                "UPDATE jobs SET cancel = 1 WHERE id = ? AND state IN ('queued', 'running')", (job_id,)
            )
        job = self.get(job_id)
        if job is not None and job.state == "queued":
            self.finish(job_id, "cancelled")
            job = self.get(job_id)
        return job

    def recover(self) -> list[Job]:
        """At start-up: jobs left queued or running go back to the queue (cancelled ones end). Returns them."""
        with self._transaction() as db:
            db.execute("UPDATE job_files SET state = 'queued', units = 0 WHERE state = 'running'")
            db.execute("UPDATE jobs SET state = 'queued' WHERE state = 'running'")
        for job in self.jobs(active_only=True):
            if job.cancel:
                self.finish(job.id, "cancelled")
        return self.jobs(active_only=True)

    # -- reads -------------------------------------------------------------------------------------

    def get(self, job_id: str) -> Job | None:
        jobs = self._select("WHERE id = ?", (job_id,))
        return jobs[0] if jobs else None

    def next_queued(self) -> Job | None:
        jobs = self._select("WHERE state = 'queued' ORDER BY seq LIMIT 1", ())
        return jobs[0] if jobs else None

    def active_counts(self, principal: str) -> tuple[int, int]:
        """Jobs waiting or running: ``principal``'s, and everyone's."""
        with self._lock:
            try:
                mine, total = self._db.execute(
                    "SELECT COALESCE(SUM(principal = ?), 0), COUNT(*) FROM jobs WHERE state IN ('queued', 'running')",
                    (principal,),
                ).fetchone()
            except sqlite3.Error as exc:
                raise StoreError(f"the job list {self.path} failed: {exc}") from exc
        return int(mine), int(total)

    def jobs(
        self, limit: int = 100, active_only: bool = False, collections: Collection[str] | None = None,
        principal: str | None = None,
    ) -> list[Job]:  # fmt: skip
        """Newest first (active ones oldest first, the order they run in); only those of ``collections``
        when given (None: all), and only those ``principal`` (a name) sent when given."""
        where, args = ("", ()) if collections is None else _in_collections(collections)
        if principal is not None:
            where, args = f"{where} AND principal = ?", (*args, principal)
        if active_only:
            return self._select(f"WHERE state IN ('queued', 'running'){where} ORDER BY seq", args)
        return self._select(f"WHERE 1{where} ORDER BY seq DESC LIMIT ?", (*args, limit))

    # -- plumbing ----------------------------------------------------------------------------------

    def _must(self, job_id: str) -> Job:
        job = self.get(job_id)
        if job is None:
            raise StoreError(f"job {job_id} vanished from {self.path}")
        return job

    def _select(self, where: str, args: tuple[object, ...]) -> list[Job]:
        with self._lock:
            try:
                rows = self._db.execute(f"SELECT {_JOB_COLUMNS} FROM jobs {where}", args).fetchall()
                files: dict[str, list[JobFile]] = {row[0]: [] for row in rows}
                if files:
                    marks = ",".join("?" * len(files))
                    for r in self._db.execute(
                        "SELECT job_id, idx, name, size, state, kind, units, seconds, code, message, doc_id, "
                        f"replaces FROM job_files WHERE job_id IN ({marks}) ORDER BY job_id, idx",
                        tuple(files),
                    ):
                        files[r[0]].append(replace(JobFile(*r[1:11]), replaces=bool(r[11])))
            except sqlite3.Error as exc:
                raise StoreError(f"the job list {self.path} failed: {exc}") from exc
        return [
            Job(r[0], r[1], r[2], r[3], r[4], bool(r[5]), r[6], tuple(files[r[0]]),
                Labels(str(r[7]), tuple(json.loads(r[8])), json.loads(r[9])), bool(r[10]), str(r[11]),
                None if r[12] is None else Notify(**json.loads(r[12])))
            for r in rows
        ]  # fmt: skip

    def _transaction(self, job_id: str | None = None) -> _Transaction:
        """One write; once it is committed, the watchers hear of ``job_id`` (when given)."""
        return _Transaction(self, job_id)

    def _written(self, job_id: str) -> None:
        for watcher in list(self.watchers):
            try:
                watcher(job_id)
            except Exception:  # a watcher's failure is its own: the write stands
                log.exception("a watcher of job %s failed", job_id)

    def _prune(self, db: sqlite3.Connection) -> None:
        old = [r[0] for r in db.execute(
            "SELECT id FROM jobs WHERE state NOT IN ('queued', 'running') ORDER BY seq DESC LIMIT -1 OFFSET ?",
            (self.keep_finished,),
        )]  # fmt: skip
        for job_id in old:
            db.execute("DELETE FROM job_files WHERE job_id = ?", (job_id,))
            db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))


def _in_collections(collections: Collection[str]) -> tuple[str, tuple[str, ...]]:
    names = tuple(sorted(collections))
    if not names:
        return " AND 0", ()
    return f" AND collection IN ({','.join('?' * len(names))})", names


def _add_column(db: sqlite3.Connection, table: str, column: str, declaration: str) -> None:
    """Upgrade a job list made by an older version in place: add ``column`` unless it is there."""
    if column not in {row[1] for row in db.execute(f"PRAGMA table_info({table})")}:
        db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")


class _Transaction:
    """``with store._transaction() as db:`` — one BEGIN IMMEDIATE … COMMIT under the handle's lock."""

    def __init__(self, store: JobStore, job_id: str | None = None) -> None:
        self.store = store
        self.job_id = job_id

    def __enter__(self) -> sqlite3.Connection:
        self.store._lock.acquire()
        try:
            self.store._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            self.store._lock.release()
            raise StoreError(f"the job list {self.store.path} failed: {exc}") from exc
        return self.store._db

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self.store._db.execute("COMMIT" if kind is None else "ROLLBACK")
        except sqlite3.Error as error:
            if kind is None:
                raise StoreError(f"the job list {self.store.path} failed: {error}") from error
        finally:
            self.store._lock.release()
        if kind is None and self.job_id is not None:
            self.store._written(self.job_id)
