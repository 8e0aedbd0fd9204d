"""The reservation ledger: the bytes kept under ``data_dir/uploads``, per collection, checked against the limits
in one step as uploads reserve them, so parallel uploads cannot pass a quota or the disk's free-space reserve.

Three limits, all checked (and the bytes counted) at once under the ledger's lock:

- the collection's quota: ``server.collection_quotas_mb.<name>``, else ``server.collection_quota_mb``;
- the global quota, ``server.uploads_quota_mb``, over every collection;
- the disk's free-space reserve, ``server.min_free_disk_mb``: the disk's free space, less what uploads in flight
  have reserved but not yet written, must stay above it.

An upload holds a ``Claim``: it reserves ahead of its bytes (the declared ``Content-Length`` up front, else a
MiB at a time), says what reached the disk, and at the end keeps what it stored (trued up to the bytes
received) or gives everything back. A kept byte stays counted until the file leaves the uploads folder: the
worker releases an old version it replaced and the staged files of an ended job, a delete the original.

``Ledger`` is the seam (``local_ledger.LocalLedger``: one process, a lock; its usage derived from the uploads
folder at start-up); a shared backend (PostgreSQL, for several API replicas) implements the same four methods.
A refusal is ``QuotaExceeded``: 507, naming the quota, the collection, its limit, what is used and what
the upload asks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from mmsearch.api.errors import ApiError
from mmsearch.api.settings import ApiSettings

STEP = 2**20  # a streamed upload without Content-Length reserves this much ahead of its bytes
MiB = 2**20


@dataclass(frozen=True)
class Limits:
    """The limits of one request, in bytes (from the ``server:`` section it runs under)."""

    global_quota: int
    min_free: int
    default_quota: int | None = None
    quotas: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, server: ApiSettings) -> Limits:
        default = server.collection_quota_mb
        return cls(
            global_quota=int(server.uploads_quota_mb * MiB),
            min_free=int(server.min_free_disk_mb * MiB),
            default_quota=None if default is None else int(default * MiB),
            quotas={name: int(mb * MiB) for name, mb in server.collection_quotas_mb.items()},
        )

    def quota(self, collection: str) -> tuple[int | None, str]:
        """The collection's quota (None: none) and the setting that sets it."""
        if collection in self.quotas:
            return self.quotas[collection], f"server.collection_quotas_mb.{collection}"
        return self.default_quota, "server.collection_quota_mb"


DISK = "server.min_free_disk_mb"


class QuotaExceeded(ApiError):
    """507: an upload does not fit a quota or the disk's free-space reserve; names which, with the numbers.

    For a quota: ``limit`` is the quota, ``used`` what the collection (or all of them) holds and other
    uploads in flight reserved, ``asked`` what this upload needs. For the disk (``quota`` = ``DISK``):
    ``limit`` is the free space beyond the reserve, ``used`` what other uploads in flight reserved but have
    not yet written, ``asked`` what this upload still has to write."""

    http_status = 507

    def __init__(self, quota: str, collection: str, limit: int, used: int, asked: int) -> None:
        self.quota, self.collection, self.limit, self.used, self.asked = quota, collection, limit, used, asked
        super().__init__(507, "insufficient_storage", self._message(), extra={"quota": self.body()})

    def body(self) -> dict[str, Any]:
        return {"name": self.quota, "collection": self.collection, "limit_bytes": self.limit,
                "used_bytes": self.used, "asked_bytes": self.asked}  # fmt: skip

    def for_upload(self, held: int, unwritten: int) -> QuotaExceeded:
        """The same refusal told from the upload's side, which already holds ``held`` bytes (``unwritten``
        of them not yet on the disk): ``asked`` = all it needs, ``used`` = what the others take."""
        mine = unwritten if self.quota == DISK else held
        return QuotaExceeded(self.quota, self.collection, self.limit, self.used - mine, self.asked + mine)

    def _message(self) -> str:
        if self.quota == DISK:
            return (
                f"the upload does not fit on the disk, which keeps {DISK} free: {_mib(self.limit)} free beyond "
                f"that, {_mib(self.used)} reserved by other uploads in flight, this upload needs "
                f"{_mib(self.asked)} more (into collection {self.collection!r}); free disk space and retry"
            )
        whose = (
            "all collections"
            if self.quota == "server.uploads_quota_mb"
            else f"collection {self.collection!r}"
        )
        return (
            f"the upload does not fit the quota of {whose} ({self.quota} = {_mib(self.limit)}): "
            f"{_mib(self.used)} used or reserved by uploads in flight, this upload needs {_mib(self.asked)} "
            f"(into collection {self.collection!r}); delete documents or raise the quota"
        )


def _mib(nbytes: int) -> str:
    return f"{nbytes / MiB:.2f} MiB" if abs(nbytes) >= MiB // 100 else f"{nbytes} bytes"


class Ledger(Protocol):
    """Bytes under uploads per collection, and what uploads in flight reserved but have not yet written."""

    def reserve(self, collection: str, nbytes: int, limits: Limits) -> None:
        """Count ``nbytes`` more for ``collection`` (not yet written) — checked against its quota, the
        global quota and the disk's reserve in one step — or raise ``QuotaExceeded``, counting nothing."""

    def written(self, nbytes: int) -> None:
        """``nbytes`` reserved earlier are now on the disk (its free space shows them)."""

    def release(self, collection: str, nbytes: int, unwritten: int = 0) -> None:
        """Stop counting ``nbytes`` of ``collection`` (a failed upload, a replaced or deleted file), of
        which ``unwritten`` never reached the disk."""

    def usage(self) -> dict[str, int]:
        """Bytes counted per collection (kept, and reserved by uploads in flight)."""


class Claim:
    """One upload's hold on the ledger: reserves ahead of the bytes it receives, then ``keep`` (the upload
    became a job: its bytes stay counted) or ``give_back`` (it failed: its files are gone)."""

    def __init__(self, ledger: Ledger, collection: str, limits: Limits) -> None:
        self.ledger = ledger
        self.collection = collection
        self.limits = limits
        self.held = 0  # bytes reserved
        self.written = 0  # bytes of them on the disk

    def expect(self, nbytes: int) -> None:
        """Reserve what the request declared it will send (its ``Content-Length``), before reading it."""
        self._grow(nbytes - self.held)

    def need(self, received: int) -> None:
        """``received`` bytes have arrived in all: reserve what they pass of the hold (a ``STEP`` ahead, or
        just what is needed when the step would not fit)."""
        short = received - self.held
        if short <= 0:
            return
        try:
            self._grow(max(short, STEP))
        except QuotaExceeded:
            self._grow(short)

    def wrote(self, nbytes: int) -> None:
        self.written += nbytes
        self.ledger.written(nbytes)

    def keep(self, stored: int) -> None:
        """The upload is stored (``stored`` bytes, all written): give back the rest of the hold."""
        spare = self.held - stored
        self.held = stored
        if spare > 0:
            self.ledger.release(self.collection, spare, unwritten=spare)

    def give_back(self) -> None:
        """The upload failed and its files are removed: nothing of it stays counted."""
        held, self.held = self.held, 0
        if held > 0:
            self.ledger.release(self.collection, held, unwritten=max(held - self.written, 0))

    def _grow(self, nbytes: int) -> None:
        if nbytes <= 0:
            return
        try:
            self.ledger.reserve(self.collection, nbytes, self.limits)
        except QuotaExceeded as refused:
            raise refused.for_upload(self.held, self.held - self.written) from None
        self.held += nbytes
