"""The documents a user sees: those with a committed version, described as that version.

A document's points become searchable at its manifest commit (``pipeline.py``); until then (an ingest
under way, or a crash before reconciliation) the store may hold points of a version nobody can search.
Listings follow searches: only documents the manifest has committed, with that version's unit count and
hash. ``GET /v1/documents`` and ``mmsearch stats --documents`` both list through here.
"""

from __future__ import annotations

from dataclasses import replace

from mmsearch.index.store import DocumentInfo, Filters, Store
from mmsearch.ingest.manifest import Manifest


def committed_documents(
    store: Store, manifest: Manifest, filters: Filters | None = None
) -> list[DocumentInfo]:
    """The store's documents (those matching ``filters``: a caller's scope) that have a committed
    version, as that version (units, hash)."""
    entries = {e.path: e for e in manifest.documents() if e.sha256 is not None}
    out = []
    for d in store.documents(filters):
        entry = entries.get(d.source_path)
        if entry is not None:
            out.append(replace(d, units=entry.units, source_sha256=str(entry.sha256)))
    return out
