"""Uploaded files on disk: ``data_dir/uploads/<collection>/<name>``, and ``uploads/.incoming/<job id>/<n>/<file name>``
while they wait for the ingest worker.

An upload streams into its job's staging folder; the worker ingests it from there and moves it to
``uploads/<collection>/<name>`` only at the commit (``Indexer.index_staged``), so the version in place is
always the one searches show, and one collection's file never overwrites another's. A job's staging
folder goes when the job ends. What is stored counts against the quota of its collection
(``usage_by_collection``, from which the reservation ledger starts). Names reach here normalised
(``ingest.names.normalise_name``: no empty, ``.`` or ``..`` part, no control character, at most 255
bytes), and a collection name is ``[a-z0-9][a-z0-9_-]*``, so it never meets ``.incoming``; files uploaded
before collections existed lie at ``uploads/<name>`` (``legacy_upload_path``; they count as ``default``'s).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Collection, Mapping
from pathlib import Path

from mmsearch.config import Settings
from mmsearch.index.store import DEFAULT_COLLECTION

INCOMING = ".incoming"


def uploads_dir(settings: Settings) -> Path:
    folder = settings.data_dir.resolve() / "uploads"
    (folder / INCOMING).mkdir(parents=True, exist_ok=True)
    return folder


def upload_path(uploads: Path, collection: str, name: str) -> Path:
    """Where document ``name`` of ``collection`` is kept once committed."""
    return uploads / collection / name


def legacy_upload_path(uploads: Path, name: str) -> Path:
    """Where an upload named ``name`` was kept before collections (its pre-name document may live there)."""
    return uploads / name


def staging_dir(uploads: Path, job_id: str) -> Path:
    return uploads / INCOMING / job_id


def staged_file(uploads: Path, job_id: str, idx: int, name: str) -> Path:
    """Where file ``idx`` of a job waits: under its own folder, with its own file name (which readers
    put in their messages)."""
    return staging_dir(uploads, job_id) / str(idx) / name.rsplit("/", 1)[-1]


def usage(uploads: Path) -> int:
    """Bytes held under ``uploads`` (stored originals and staged uploads)."""
    total = 0
    for folder, _, names in os.walk(uploads):
        for name in names:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                continue  # removed meanwhile
    return total


def collection_of(uploads: Path, path: Path) -> str:
    """The collection whose quota a stored original counts against: ``uploads/<collection>/<name>``; a file
    straight under ``uploads`` (stored before collections) is ``default``'s."""
    parts = path.relative_to(uploads).parts
    return parts[0] if len(parts) > 1 else DEFAULT_COLLECTION


def usage_by_collection(uploads: Path, staged: Mapping[str, str]) -> dict[str, int]:
    """Bytes under ``uploads`` per collection: stored originals by ``collection_of``, and the staging folder
    of each job in ``staged`` (job id -> its collection); a staging folder of no job there counts for
    ``default`` (the start-up sweep removes those first)."""
    totals: dict[str, int] = {}
    incoming = uploads / INCOMING
    for folder, _, names in os.walk(uploads):
        here = Path(folder)
        for name in names:
            try:
                size = os.lstat(here / name).st_size
            except OSError:
                continue  # removed meanwhile
            if here == incoming or incoming in here.parents:
                job = (here / name).relative_to(incoming).parts[0]
                collection = staged.get(job, DEFAULT_COLLECTION)
            else:
                collection = collection_of(uploads, here / name)
            totals[collection] = totals.get(collection, 0) + size
    return totals


def tree_size(folder: Path) -> int:
    """Bytes of the files under ``folder`` (0 when it is gone)."""
    return usage(folder) if folder.is_dir() else 0


def sweep(uploads: Path, active_jobs: Collection[str], keep: Collection[str]) -> int:
    """At start-up: drop staging folders of no active job (and any stray temporary or ``*.previous``
    file), and stored originals not in ``keep`` (the committed manifest paths and the files of active
    jobs): an upload whose first ingest never committed, or a delete cut short. Returns how many went."""
    removed = 0
    incoming = uploads / INCOMING
    if incoming.is_dir():
        for entry in incoming.iterdir():
            if entry.name in active_jobs and entry.is_dir():
                continue
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
            removed += 1
    known = set(keep)
    for folder, dirs, names in os.walk(uploads, topdown=False):
        if Path(folder) == incoming or incoming in Path(folder).parents:
            continue
        for name in names:
            path = os.path.join(folder, name)
            if os.path.realpath(path) not in known:
                os.unlink(path)
                removed += 1
        if Path(folder) != uploads and not os.listdir(folder):
            os.rmdir(folder)
    return removed
