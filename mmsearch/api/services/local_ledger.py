"""The in-process reservation ledger: the ``Ledger`` of one API process, its counts in memory under one lock.

Its state is not stored: at start-up it is derived from the uploads folder (``uploads.usage_by_collection``:
the stored originals per collection and the staged files of the jobs still to run), after the worker has
swept what an unclean stop left behind. The disk's free space is asked of the operating system at each
reservation (``free_bytes``), less what uploads in flight reserved but have not yet written.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

from mmsearch.api.services.ledger import DISK, Limits, QuotaExceeded


def disk_free(folder: Path) -> Callable[[], int]:
    """The free bytes of the disk that holds ``folder``, asked afresh at each call."""
    return lambda: shutil.disk_usage(folder).free


class LocalLedger:
    def __init__(self, usage: Mapping[str, int], free_bytes: Callable[[], int]) -> None:
        self.free_bytes = free_bytes
        self._lock = threading.Lock()
        self._used = {name: n for name, n in usage.items() if n > 0}
        self._unwritten = 0

    def reserve(self, collection: str, nbytes: int, limits: Limits) -> None:
        with self._lock:
            used = self._used.get(collection, 0)
            quota, setting = limits.quota(collection)
            if quota is not None and used + nbytes > quota:
                raise QuotaExceeded(setting, collection, quota, used, nbytes)
            total = sum(self._used.values())
            if total + nbytes > limits.global_quota:
                raise QuotaExceeded("server.uploads_quota_mb", collection, limits.global_quota, total, nbytes)
            room = self.free_bytes() - limits.min_free
            if self._unwritten + nbytes > room:
                raise QuotaExceeded(DISK, collection, max(room, 0), self._unwritten, nbytes)
            self._used[collection] = used + nbytes
            self._unwritten += nbytes

    def written(self, nbytes: int) -> None:
        with self._lock:
            self._unwritten = max(self._unwritten - nbytes, 0)

    def release(self, collection: str, nbytes: int, unwritten: int = 0) -> None:
        with self._lock:
            left = self._used.get(collection, 0) - nbytes
            if left > 0:
                self._used[collection] = left
            else:  # a file grown on disk since it was counted may give back more: never below nothing
                self._used.pop(collection, None)
            self._unwritten = max(self._unwritten - unwritten, 0)

    def usage(self) -> dict[str, int]:
        with self._lock:
            return dict(self._used)
