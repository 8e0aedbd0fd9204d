"""What both Qdrant stores share (``edge_store.EdgeStore``, ``qdrant_store.QdrantStore``): the layout
guard and checked, batched upserts.

A store says how to read its collection's ``Layout``, how to create the collection and how to write one
batch of points; this base makes sure that a collection is only ever used with the model, dimension and
prefetch dimension it was made with (``schema.mismatch``), that every vector is finite, of the right
length and unit norm before anything is written, and that a batch of points is written in
``index.upsert_batch`` slices.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from mmsearch.errors import DimensionMismatch, StoreError
from mmsearch.index.schema import Layout, check_dims, mismatch, unit_vector
from mmsearch.index.settings import IndexSettings
from mmsearch.index.store import Point


class CheckedStore(ABC):
    collection: str
    location: str
    index: IndexSettings

    @abstractmethod
    def _read_layout(self) -> Layout | None:
        """The collection's layout, or None when it does not exist."""

    @abstractmethod
    def _create(self, model_id: str, dim: int) -> None:
        """Create the collection (``_read_layout`` finds it afterwards)."""

    @abstractmethod
    def _write(self, batch: Sequence[tuple[Point, np.ndarray]], layout: Layout) -> None:
        """Store one slice of checked points (vectors already unit length)."""

    def ensure_collection(self, model_id: str, dim: int) -> None:
        check_dims(dim, self.index.prefetch_dim)
        layout = self._read_layout()
        if layout is None:
            self._create(model_id, dim)
            layout = self._read_layout()
            if layout is None:
                raise StoreError(f"collection '{self.collection}' at {self.location} vanished after creation")
        self._check(layout, model_id, dim)

    def verify(self, model_id: str, dim: int) -> None:
        layout = self._read_layout()
        if layout is not None:
            self._check(layout, model_id, dim)

    def upsert(self, points: Sequence[Point]) -> None:
        """Store points (overwriting same ids). All are checked before any is written."""
        if not points:
            return
        layout = self._require_layout("store points")
        checked = [(point, self._checked_vector(point, layout)) for point in points]
        step = self.index.upsert_batch
        for start in range(0, len(checked), step):
            self._write(checked[start : start + step], layout)

    def _check(self, layout: Layout, model_id: str | None, dim: int | None) -> None:
        """Refuse unless the collection matches the model/dim asked for and the configured prefetch."""
        where = f"collection '{self.collection}' at {self.location}"
        refusal = mismatch(layout, model_id, dim, self.index.prefetch_dim, where)
        if refusal is not None:
            raise refusal

    def _require_layout(self, action: str) -> Layout:
        layout = self._read_layout()
        if layout is None:
            raise StoreError(
                f"cannot {action}: collection '{self.collection}' does not exist at {self.location} "
                "(ensure_collection creates it)"
            )
        self._check(layout, None, None)
        return layout

    def _checked_vector(self, point: Point, layout: Layout) -> np.ndarray:
        payload = point.payload
        if payload.dim != layout.dim or (layout.model_id and payload.model_id != layout.model_id):
            raise DimensionMismatch(
                f"point {point.id} of {payload.source_path} was embedded by {payload.model_id!r} at "
                f"{payload.dim}-d, but collection '{self.collection}' holds {layout.describe()}"
            )
        return unit_vector(point.vector, layout.dim, f"point {point.id}")
