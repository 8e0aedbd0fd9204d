"""Start-up reconciliation: make the store and the page images agree with the manifest after a crash.

The manifest is the record of what is committed (``ingest.manifest``): a file's row names the version
(sha256) and the unit ids whose points are searchable. A ``kill -9`` can leave, besides that:

- points of a version being written (a first ingest, or a replacement) or of a replaced version whose
  removal had not run: invisible to searches already, and removed here;
- a document in the manifest whose points are gone (the store lost them): its row is forgotten, and
  the caller is told (an upload can be ingested again from its file);
- page/frame images of other versions, or half-written ``.tmp-*`` files: removed;
- private snapshots under ``data_dir/.scratch``: removed.

Only for a store this process owns alone (the embedded one): with a Qdrant server another process may
be writing a version right now, and its points must not be taken for leftovers.
"""

from __future__ import annotations

import logging
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from mmsearch.index.pipeline import SCRATCH
from mmsearch.index.store import Store
from mmsearch.ingest.manifest import Manifest, ManifestEntry
from mmsearch.ingest.media import MEDIA, delete_media, prune_to_units

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reconciled:
    points_removed: int
    documents_removed: int  # stored documents with no committed version
    media_removed: int  # image files and folders
    lost: tuple[ManifestEntry, ...]  # committed documents whose points were gone (their rows are forgotten)

    @property
    def changed(self) -> bool:
        return bool(self.points_removed or self.documents_removed or self.media_removed or self.lost)


def reconcile(store: Store, manifest: Manifest, data_dir: Path) -> Reconciled:
    """Remove what no committed version owns (see the module docstring). Idempotent."""
    committed = {e.doc_id: e for e in manifest.documents() if e.sha256 is not None}
    points = documents = 0
    lost: list[ManifestEntry] = []
    stored: set[str] = set()
    for doc in store.documents():
        stored.add(doc.doc_id)
        entry = committed.get(doc.doc_id)
        if entry is None:
            points += store.delete_document(doc.doc_id)
            documents += 1
        elif doc.units != entry.units or doc.source_sha256 != entry.sha256:
            removed = store.delete_stale(doc.doc_id, keep=set(entry.unit_ids))
            points += removed
            if doc.units - removed < entry.units:
                points += _forget(store, manifest, entry, lost)
    for doc_id, entry in committed.items():
        if doc_id not in stored:
            _forget(store, manifest, entry, lost)
    gone = {e.doc_id for e in lost}
    kept = {doc_id: e for doc_id, e in committed.items() if doc_id not in gone}
    media = _reconcile_media(data_dir, kept)
    shutil.rmtree(data_dir / SCRATCH, ignore_errors=True)
    done = Reconciled(points, documents, media, tuple(lost))
    if done.changed:
        log.warning(
            "reconciled after an unclean stop: removed %d uncommitted points (%d documents), %d stale "
            "images; %d documents had lost their points and must be ingested again",
            points, documents, media, len(lost),
        )  # fmt: skip
    return done


def _forget(store: Store, manifest: Manifest, entry: ManifestEntry, lost: list[ManifestEntry]) -> int:
    """A committed version with missing points cannot be shown whole: drop it entirely."""
    log.warning("%s/%s: %d committed points are missing from the store; it must be ingested again",
                entry.collection, entry.name, entry.units)  # fmt: skip
    removed = store.delete_document(entry.doc_id)
    manifest.forget(entry.doc_id)
    lost.append(entry)
    return removed


def _reconcile_media(data_dir: Path, committed: dict[str, ManifestEntry]) -> int:
    root = data_dir / MEDIA
    if not root.is_dir():
        return 0
    removed = 0
    for folder in sorted(root.glob("*/*")):
        entry = committed.get(folder.name)
        if entry is not None:
            removed += prune_to_units(folder.name, data_dir, set(entry.unit_ids))
        elif _is_uuid(folder.name):
            removed += int(delete_media(folder.name, data_dir))
    return removed


def _is_uuid(name: str) -> bool:
    try:
        return str(uuid.UUID(name)) == name
    except ValueError:
        return False
