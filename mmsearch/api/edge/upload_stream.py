"""Streaming a multipart upload straight into a job's staging folder, within the limits.

Each ``files`` part is written to ``<staging>/<n>/<file name>`` as its bytes arrive (no spooled copy in /tmp), so
the request never holds more than a network chunk in memory. Its file name is the document's name,
normalised (``ingest.names.normalise_name``; a name that cannot be one is a 422 before any byte is
stored). The form fields ``LABEL_FIELDS`` (collection, groups, metadata, replace) must come before the
first file, so the upload's target is known while it streams: ``on_fields`` receives them when the first
file part begins (a field after a file is a 422). Bounds, all checked while streaming:
the request body (``server.max_upload_mb``, 413), the total kept under ``uploads/`` (the quota,
``server.uploads_quota_mb``, 507) and the free disk space (``server.min_free_disk_mb`` stays free, 507).
Any failure — a limit, a malformed body, a client that goes away — removes the staging folder before the
error leaves, so an upload that did not become a job leaves no file behind.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import anyio.to_thread
from fastapi import Request
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from mmsearch.api.edge.body import limited
from mmsearch.api.errors import ApiError, invalid_request
from mmsearch.ingest.names import normalise_name

UPLOAD_FIELDS = ("files", "file")
LABEL_FIELDS = ("collection", "groups", "metadata", "replace")
MAX_FIELD_BYTES = 16384  # one label field's value
Fields = dict[str, list[str]]


@dataclass(frozen=True)
class Received:
    name: str  # cleaned
    path: Path  # the staged bytes
    size: int


@dataclass
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    name: str | None = None
    out: BinaryIO | None = None
    size: int = 0
    label: str | None = None  # a label field being read
    value: bytearray = field(default_factory=bytearray)


class _Intake:
    """python-multipart callbacks → files under ``staging``; the writes happen off the event loop."""

    def __init__(
        self, staging: Path, max_files: int, room: int, quota_note: str,
        on_fields: Callable[[Fields], None] | None = None,
    ) -> None:  # fmt: skip
        self.staging = staging
        self.fields: Fields = {}
        self.on_fields = on_fields
        self.max_files = max_files
        self.room = room  # bytes the quota (or the disk) still allows
        self.quota_note = quota_note
        self.files: list[Received] = []
        self.unknown: list[str] = []
        self.part = _Part()
        self.header_name = b""
        self.header_value = b""
        self.pending: list[tuple[BinaryIO, bytes]] = []
        self.written = 0
        self.in_file = False  # inside a file part whose end has not been seen

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self.begin,
            "on_header_field": lambda data, start, end: self._add("header_name", data[start:end]),
            "on_header_value": lambda data, start, end: self._add("header_value", data[start:end]),
            "on_header_end": self.header_end,
            "on_headers_finished": self.headers_finished,
            "on_part_data": self.data,
            "on_part_end": self.part_end,
        }

    def _add(self, attr: str, data: bytes) -> None:
        setattr(self, attr, getattr(self, attr) + data)

    def begin(self) -> None:
        self.part = _Part()

    def header_end(self) -> None:
        self.part.headers[self.header_name.lower()] = self.header_value
        self.header_name = self.header_value = b""

    def headers_finished(self) -> None:
        _, options = parse_options_header(self.part.headers.get(b"content-disposition", b""))
        field_name = options.get(b"name", b"").decode("utf-8", "replace")
        if field_name in LABEL_FIELDS and b"filename" not in options:
            if self.files:
                raise invalid_request([{"field": f"form.{field_name}", "message": f"`{field_name}` came after a "
                                        "file: send collection, groups, metadata and replace before the files"}])  # fmt: skip
            self.part.label = field_name
            return
        if field_name not in UPLOAD_FIELDS or b"filename" not in options:
            self.unknown.append(field_name or "(unnamed)")
            return
        if len(self.files) >= self.max_files:
            raise invalid_request([{"field": "form.files", "message": f"more than {self.max_files} files in "
                                    "one upload (server.max_upload_files): send them in several requests"}])  # fmt: skip
        if not self.files and self.on_fields is not None:
            self.on_fields(self.fields)  # the target is known before the first byte is stored
        self.part.name = normalise_name(options[b"filename"].decode("utf-8", "replace"))
        path = self.staging / str(len(self.files)) / self.part.name.rsplit("/", 1)[-1]
        path.parent.mkdir()
        self.part.out = open(path, "xb")  # noqa: SIM115 - closed by flush or _discard
        self.files.append(Received(self.part.name, path, 0))
        self.in_file = True

    def data(self, data: bytes, start: int, end: int) -> None:
        if self.part.label is not None:
            self.part.value += data[start:end]
            if len(self.part.value) > MAX_FIELD_BYTES:
                raise invalid_request([{"field": f"form.{self.part.label}",
                                        "message": f"longer than {MAX_FIELD_BYTES} bytes"}])  # fmt: skip
            return
        if self.part.out is None:
            return  # a field that is not a file: reported as unknown, its value ignored
        chunk = data[start:end]
        self.written += len(chunk)
        if self.written > self.room:
            raise ApiError(507, "insufficient_storage", self.quota_note)
        self.part.size += len(chunk)
        self.pending.append((self.part.out, chunk))

    def part_end(self) -> None:
        if self.part.label is not None:
            try:
                value = bytes(self.part.value).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise invalid_request([{"field": f"form.{self.part.label}", "message": "not UTF-8"}]) from exc
            self.fields.setdefault(self.part.label, []).append(value)
        if self.part.out is not None:
            self.pending.append((self.part.out, b""))  # b"" marks the end: close after the last write
            self.in_file = False
            self.files[-1] = Received(self.files[-1].name, self.files[-1].path, self.part.size)

    def flush(self) -> None:
        for out, chunk in self.pending:
            if chunk:
                out.write(chunk)
            else:
                out.close()
        self.pending.clear()


async def receive_files(
    request: Request,
    staging: Path,
    *,
    max_bytes: int,
    max_files: int,
    quota_left: int,
    quota_mb: float,
    min_free_bytes: int,
    on_fields: Callable[[Fields], None] | None = None,
) -> list[Received]:
    """Stream the request's ``files`` parts into ``staging`` (created here; removed on any failure), leaving
    ``min_free_bytes`` free on its disk (``server.min_free_disk_mb``). ``on_fields``: called with the label
    fields (``LABEL_FIELDS``, each a list of values) as the first file part begins; it may raise."""
    free = shutil.disk_usage(staging.parent).free - min_free_bytes
    room = min(quota_left, free)
    note = (
        f"the upload does not fit: the uploads quota (server.uploads_quota_mb = {quota_mb:g} MiB) has "
        f"{max(quota_left, 0) / 2**20:.1f} MiB left and the disk {max(free, 0) / 2**20:.1f} MiB (beyond "
        f"server.min_free_disk_mb = {min_free_bytes / 2**20:g} MiB kept free); delete documents or raise the quota"
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        limited(request, max_bytes)  # raises the usual 413
    if declared.isdigit() and int(declared) > room:
        raise ApiError(507, "insufficient_storage", note)
    staging.mkdir(parents=True)
    intake = _Intake(staging, max_files, room, note, on_fields)
    try:
        await _parse(limited(request, max_bytes), intake)
    except BaseException:
        await anyio.to_thread.run_sync(_discard, intake, staging)
        raise
    return _checked(intake, staging)


async def _parse(request: Request, intake: _Intake) -> None:
    _, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if not boundary:
        raise ApiError(400, "bad_request", "cannot read the multipart body: it has no boundary")
    parser = MultipartParser(boundary, intake.callbacks())  # type: ignore[arg-type]
    try:
        async for chunk in request.stream():
            parser.write(chunk)
            if intake.pending:
                await anyio.to_thread.run_sync(intake.flush)
        parser.finalize()
    except FormParserError as exc:
        raise ApiError(400, "bad_request", f"cannot read the multipart body: {exc}") from exc


def _checked(intake: _Intake, staging: Path) -> list[Received]:
    problems = [
        {"field": f"form.{k}", "message": "expected file parts named `files`"} for k in intake.unknown
    ]
    if not intake.files and not problems:
        problems.append({"field": "form.files", "message": "no files: send one or more `files` parts"})
    if intake.in_file:
        problems.append({"field": "form.files", "message": "the body ended inside a file part"})
    if problems:
        _discard(intake, staging)
        raise invalid_request(problems)
    names = [f.name for f in intake.files]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:  # a well-formed body whose parts claim one document twice: a conflict, not a bad field
        _discard(intake, staging)
        raise ApiError(409, "duplicate_name",
                       f"file name sent twice: {', '.join(twice[:5])}; each part names its own document")  # fmt: skip
    return intake.files


def _discard(intake: _Intake, staging: Path) -> None:
    for out, _ in intake.pending:
        out.close()
    if intake.part.out is not None:
        intake.part.out.close()
    shutil.rmtree(staging, ignore_errors=True)
