"""Paths given on the command line → the files to ingest, plus one ``FileFailure`` per problem.

``walk`` expands files and folders (recursively, entries sorted by name, so runs are deterministic)
and never raises for a bad path: a missing path, a permission error, a symlink loop, a special file, an
empty file or one over ``max_file_mb`` each become a ``FileFailure`` in the stream and the walk goes on.

Rules:
- Files are yielded as ``WalkedFile``: the absolute path with symlinks resolved (the form ``Source.path``
  uses) and the document name: the path relative to the folder argument it was found under, as walked
  (``q3/report.pdf`` for ``docs/q3/report.pdf`` given ``docs``), or a file argument's own name. A file
  reached twice (two arguments, or a link to it) is yielded once.
- Inside folders, names starting with "." are skipped unless ``include_hidden``; symlinks are followed
  only when ``follow_symlinks``, and never out of the folders given: a link whose target lies outside
  every folder argument is not followed (``Skipped``, once per link; the run goes on). Paths named
  explicitly are always taken (like ``find -H``).
- A link back to a folder being walked is reported once as ``symlink_loop`` and not entered; a link to a
  folder already walked elsewhere is skipped silently.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from mmsearch.errors import IngestError
from mmsearch.ingest.reader import check_size
from mmsearch.ingest.settings import IngestSettings

log = logging.getLogger(__name__)

NOT_FOUND = "not_found"
PERMISSION_DENIED = "permission_denied"
SYMLINK_LOOP = "symlink_loop"
NOT_A_FILE = "not_a_file"
SYMLINK_OUTSIDE = "symlink_outside"


@dataclass(frozen=True)
class WalkedFile:
    """A file to ingest: where its bytes are (absolute, resolved) and the name it was found under."""

    path: Path
    name: str


@dataclass(frozen=True)
class Skipped:
    """An entry left out on purpose (a symlink out of the folders given): said once, not a failure."""

    path: str
    code: str
    message: str


@dataclass(frozen=True)
class FileFailure:
    """One input that could not be ingested; ``code`` is stable (an ``IngestError`` code or one of
    ``not_found``, ``permission_denied``, ``symlink_loop``, ``not_a_file``)."""

    path: str
    code: str
    message: str

    @classmethod
    def from_error(cls, path: str | Path, exc: IngestError) -> FileFailure:
        return cls(str(path), exc.code, str(exc))


Walked = WalkedFile | FileFailure | Skipped


def walk(paths: Sequence[Path], settings: IngestSettings) -> Iterator[Walked]:
    """Files to ingest, failures and skipped links, in argument order, folders expanded depth-first by name."""
    arguments = [Path(os.path.abspath(Path(p).expanduser())) for p in paths]
    roots = tuple(Path(os.path.realpath(p)) for p in arguments if p.is_dir())
    walker = _Walker(settings, roots)
    for path in arguments:
        yield from walker.argument(path)


class _Walker:
    def __init__(self, settings: IngestSettings, roots: tuple[Path, ...]) -> None:
        self.settings = settings
        self.roots = roots  # the folder arguments, resolved: no link is followed out of them
        self.seen_files: set[tuple[int, int]] = set()
        self.seen_dirs: set[tuple[int, int]] = set()

    def argument(self, absolute: Path) -> Iterator[Walked]:
        try:
            st = absolute.stat()
        except OSError as exc:
            yield _os_failure(absolute, exc)
            return
        yield from self.entry(absolute, st, ancestors=frozenset(), name=absolute.name, top=True)

    def entry(
        self,
        path: Path,
        st: os.stat_result,
        ancestors: frozenset[tuple[int, int]],
        name: str,
        top: bool = False,
    ) -> Iterator[Walked]:
        if stat.S_ISDIR(st.st_mode):
            yield from self.folder(path, st, ancestors, "" if top else name)
        elif stat.S_ISREG(st.st_mode):
            found = self.file(path, st, name)
            if found is not None:
                yield found
        else:
            yield FileFailure(
                str(path), NOT_A_FILE, f"{path.name}: not a regular file or folder (a device, pipe or socket)"
            )

    def file(self, path: Path, st: os.stat_result, name: str) -> WalkedFile | FileFailure | None:
        key = (st.st_dev, st.st_ino)
        if key in self.seen_files:
            return None
        self.seen_files.add(key)
        resolved = path.resolve()
        try:
            check_size(path.name, st.st_size, self.settings)
        except IngestError as exc:
            return FileFailure.from_error(resolved, exc)
        if not os.access(resolved, os.R_OK):
            return FileFailure(
                str(resolved), PERMISSION_DENIED, f"{path.name}: permission denied (cannot read the file)"
            )
        return WalkedFile(resolved, name)

    def folder(
        self, path: Path, st: os.stat_result, ancestors: frozenset[tuple[int, int]], prefix: str
    ) -> Iterator[Walked]:
        key = (st.st_dev, st.st_ino)
        if key in ancestors:
            yield FileFailure(
                str(path),
                SYMLINK_LOOP,
                f"{path.name}: symlink loop (links back to {path.resolve()}); not followed",
            )
            return
        if key in self.seen_dirs:
            log.debug("%s: folder already walked, skipped", path)
            return
        self.seen_dirs.add(key)
        try:
            with os.scandir(path) as it:
                names = sorted((e.name, e.is_symlink()) for e in it)
        except OSError as exc:
            yield _os_failure(path, exc)
            return
        for name, is_link in names:
            yield from self.child(path / name, is_link, ancestors | {key}, f"{prefix}{name}")

    def child(
        self, path: Path, is_link: bool, ancestors: frozenset[tuple[int, int]], name: str
    ) -> Iterator[Walked]:
        if path.name.startswith(".") and not self.settings.include_hidden:
            return
        if is_link and not self.settings.follow_symlinks:
            log.debug("%s: symlink skipped (follow_symlinks is off)", path)
            return
        if is_link and not self.inside(Path(os.path.realpath(path))):
            target = os.readlink(path)
            yield Skipped(str(path), SYMLINK_OUTSIDE,
                          f"a symlink to {target}, outside the folders given; not followed")  # fmt: skip
            return
        try:
            st = path.stat()
        except OSError as exc:
            yield _os_failure(path, exc)
            return
        yield from self.entry(path, st, ancestors, name + "/" if stat.S_ISDIR(st.st_mode) else name)

    def inside(self, target: Path) -> bool:
        return any(target == root or target.is_relative_to(root) for root in self.roots)


def _os_failure(path: Path, exc: OSError) -> FileFailure:
    if exc.errno == errno.ELOOP:
        return FileFailure(str(path), SYMLINK_LOOP, f"{path.name}: symlink loop; not followed")
    if isinstance(exc, PermissionError):
        return FileFailure(str(path), PERMISSION_DENIED, f"{path.name}: permission denied ({path})")
    if isinstance(exc, FileNotFoundError):
        what = f"broken symlink to {os.readlink(path)}" if path.is_symlink() else "no such file or folder"
        return FileFailure(str(path), NOT_FOUND, f"{path.name}: {what} ({path})")
    return FileFailure(str(path), NOT_FOUND, f"{path.name}: cannot be read ({exc.strerror or exc})")
