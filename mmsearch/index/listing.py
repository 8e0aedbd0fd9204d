"""The documents a user sees: those with a committed version, described as that version.

A document's points become searchable at its manifest commit (``pipeline.py``); until then (an ingest
under way, or a crash before reconciliation) the store may hold points of a version nobody can search.
Listings follow searches: only documents the manifest has committed, with that version's unit count and
hash, under the (collection, name) the manifest records, with the groups and metadata their points
carry. ``GET /v1/documents`` and ``mmsearch stats --documents`` both list through here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mmsearch.index.store import Filters, Store
from mmsearch.ingest.manifest import Manifest
from mmsearch.ingest.units import Modality


@dataclass(frozen=True)
class ListedDocument:
    """One committed document. ``path`` is where its bytes live on this machine: for serving the file,
    never for showing to a client."""

    doc_id: str
    collection: str
    name: str
    path: str
    modality: Modality
    units: int
    ingest_time: float
    source_sha256: str
    groups: Sequence[str] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)


def committed_documents(
    store: Store, manifest: Manifest, filters: Filters | None = None
) -> list[ListedDocument]:
    """The store's documents (those matching ``filters``: a caller's scope) that have a committed version,
    as that version (units, hash), under the (collection, name) the manifest records, by collection and name."""
    entries = {e.doc_id: e for e in manifest.documents() if e.sha256 is not None}
    out = []
    for d in store.documents(filters):
        entry = entries.get(d.doc_id)
        if entry is not None:
            out.append(
                ListedDocument(
                    d.doc_id, entry.collection, entry.name, entry.path, d.modality, entry.units, d.ingest_time,
                    str(entry.sha256), tuple(d.groups), dict(d.metadata),
                )
            )  # fmt: skip
    return sorted(out, key=lambda d: (d.collection, d.name, d.doc_id))
