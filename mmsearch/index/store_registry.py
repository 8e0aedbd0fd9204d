"""The store backends by name (``store.backend``) and ``open_store``, which opens the configured one.

Apart from ``store.py`` (the seam) as txtai keeps ``ann/dense/factory.py`` apart from its backends: the
backends import the seam, this module imports the backends, and nothing imports in a circle. ``qdrant``
is Qdrant Edge in process (``edge_store.py``) for the embedded folder (``store.path``) and qdrant-client
(``qdrant_store.py``) for a server or cluster (``store.url``), with the same schema, so ``mmsearch
migrate`` moves points between them; ``qdrant-local`` is qdrant-client's old pure-Python local mode, only
when chosen explicitly. Each backend is imported when it is opened (qdrant-client alone takes a second).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mmsearch.errors import ConfigError
from mmsearch.index.settings import IndexSettings, StoreSettings
from mmsearch.index.store import Store

Opener = Callable[[StoreSettings, IndexSettings, Path], Store]


def _open_qdrant(store: StoreSettings, index: IndexSettings, path: Path) -> Store:
    if store.url is not None:
        from mmsearch.index.qdrant_store import connect

        return connect(store, index, path)
    from mmsearch.index.edge_store import connect_edge

    return connect_edge(index, path, store.collection)


def _open_qdrant_local(store: StoreSettings, index: IndexSettings, path: Path) -> Store:
    from mmsearch.index.qdrant_store import connect

    return connect(store, index, path)


BACKENDS: dict[str, Opener] = {"qdrant": _open_qdrant, "qdrant-local": _open_qdrant_local}


def open_store(store: StoreSettings, index: IndexSettings, path: Path) -> Store:
    """Open the configured store. ``path`` is the embedded folder (``Settings.store_path``), used only
    when ``store.url`` is unset. Fails fast: a locked folder or an unreachable server raises here."""
    opener = BACKENDS.get(store.backend)
    if opener is None:
        raise ConfigError(f"unknown store.backend {store.backend!r}; valid: {', '.join(sorted(BACKENDS))}")
    return opener(store, index, path)
