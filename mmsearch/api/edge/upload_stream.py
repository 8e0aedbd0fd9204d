"""Streaming a multipart upload straight into a job's staging folder, within the limits.

Each ``files`` part is written to ``<staging>/<n>/<file name>`` as its bytes arrive (no spooled copy in /tmp), so
the request never holds more than a network chunk in memory. Its file name is the document's name,
normalised (``ingest.names.normalise_name``; a name that cannot be one is a 422 before any byte is
stored). The form fields ``LABEL_FIELDS`` (collection, groups, metadata, replace, notify_url) must come
before the first file (a field after a file is a 422), so the upload's target is known while it streams:
``on_fields`` receives them as the first file part begins and answers the collection. Bounds, all
checked while streaming:
the request body (``server.max_upload_mb``, 413), and the quotas and the free-space reserve (507): the
bytes are reserved in the ledger (``services/ledger.py``) ahead of their arrival, against the quota of the
collection named by a ``collection`` field before the files (``default`` without one), the global quota and
the disk's reserve at once, so parallel uploads cannot pass them together.
Any failure — a limit, a malformed body, a client that goes away — removes the staging folder and gives the
reservation back before the error leaves, so an upload that did not become a job leaves nothing behind.
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
from mmsearch.api.services.ledger import Claim
from mmsearch.ingest.names import DEFAULT_COLLECTION, check_collection, normalise_name

UPLOAD_FIELDS = ("files", "file")
LABEL_FIELDS = ("collection", "groups", "metadata", "replace", "notify_url")
MAX_FIELD_BYTES = 16384  # one label field's value
Fields = dict[str, list[str]]


@dataclass(frozen=True)
class Received:
    name: str  # normalised (``ingest.names.normalise_name``)
    path: Path  # the staged bytes
    size: int


@dataclass(frozen=True)
class Upload:
    collection: str
    files: list[Received]
    claim: Claim  # what the files hold in the ledger: ``keep`` it once they are a job


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
        self, staging: Path, max_files: int, claim_for: Callable[[str], Claim], declared: int | None,
        on_fields: Callable[[Fields], str] | None = None,
    ) -> None:  # fmt: skip
        self.staging = staging
        self.fields: Fields = {}  # the label fields, as sent (each a list of values)
        self.on_fields = on_fields  # the fields → the collection (checked), as the first file begins
        self.max_files = max_files
        self.claim_for = claim_for  # the upload's hold in the ledger, for its collection
        self.declared = declared  # the request's Content-Length, reserved up front
        self.claim: Claim | None = None  # taken at the first file part
        self.collection = DEFAULT_COLLECTION
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
        self.part.name = normalise_name(
            options[b"filename"].decode("utf-8", "replace")
        )  # 422 before any byte
        if self.claim is None:  # the target is known before the first byte is stored
            self.collection = self._target()
            self.claim = self.claim_for(self.collection)
            if self.declared is not None:
                self.claim.expect(self.declared)  # 507 before a byte is stored when it cannot fit
        path = self.staging / str(len(self.files)) / self.part.name.rsplit("/", 1)[-1]
        path.parent.mkdir()
        self.part.out = open(path, "xb")  # noqa: SIM115 - closed by flush or _discard
        self.files.append(Received(self.part.name, path, 0))
        self.in_file = True

    def _target(self) -> str:
        if self.on_fields is not None:
            return self.on_fields(self.fields)
        given = self.fields.get("collection", [])
        return check_collection(given[-1] if given else None)

    def data(self, data: bytes, start: int, end: int) -> None:
        if self.part.label is not None:
            self.part.value += data[start:end]
            if len(self.part.value) > MAX_FIELD_BYTES:
                raise invalid_request([{"field": f"form.{self.part.label}",
                                        "message": f"longer than {MAX_FIELD_BYTES} bytes"}])  # fmt: skip
            return
        if self.part.out is None or self.claim is None:
            return  # a field that is not a file: reported as unknown, its value ignored
        chunk = data[start:end]
        self.written += len(chunk)
        self.claim.need(self.written)  # 507 when the quotas or the disk cannot take these bytes
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
                if self.claim is not None:
                    self.claim.wrote(len(chunk))
            else:
                out.close()
        self.pending.clear()


async def receive_files(
    request: Request,
    staging: Path,
    *,
    max_bytes: int,
    max_files: int,
    claim_for: Callable[[str], Claim],
    on_fields: Callable[[Fields], str] | None = None,
) -> Upload:
    """Stream the request's ``files`` parts into ``staging`` (created here; removed on any failure), each
    byte reserved first in ``claim_for(collection)`` (given back on any failure). ``on_fields``: called
    with the label fields (``LABEL_FIELDS``, each a list of values) as the first file part begins; it
    checks them (it may raise) and answers the collection (without it: the ``collection`` field's, checked)."""
    declared = request.headers.get("content-length", "")
    size = int(declared) if declared.isascii() and declared.isdigit() else None
    body = limited(request, max_bytes)  # a declared length over the limit: 413 at once
    staging.mkdir(parents=True)
    intake = _Intake(staging, max_files, claim_for, size, on_fields)
    try:
        await _parse(body, intake)
        files = _checked(intake, staging)
    except BaseException:
        await anyio.to_thread.run_sync(_discard, intake, staging)
        raise
    assert intake.claim is not None  # there are files, so the first one took it
    return Upload(intake.collection, files, intake.claim)


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
        raise invalid_request(problems)
    names = [f.name for f in intake.files]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:  # a well-formed body whose parts claim one document twice: a conflict, not a bad field
        raise ApiError(409, "duplicate_name",
                       f"file name sent twice: {', '.join(twice[:5])}; each part names its own document")  # fmt: skip
    return intake.files


def _discard(intake: _Intake, staging: Path) -> None:
    for out, _ in intake.pending:
        out.close()
    if intake.part.out is not None:
        intake.part.out.close()
    shutil.rmtree(staging, ignore_errors=True)
    if intake.claim is not None:  # the files are gone: so is their reservation
        intake.claim.give_back()
