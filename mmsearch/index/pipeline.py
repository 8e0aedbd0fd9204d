"""Ingest → embed → store, one file at a time, resumable.

For each file: copy its bytes once into a private snapshot (hashed as copied; the units are read from
the copy, so the hash names exactly the bytes rendered), read its units (lazily), save each unit's
page/frame images once under ``data_dir``, embed them in chunks with the document instruction and
upsert the points. Then the manifest marks the file done — the commit: searches only show points of
the version the manifest names (``manifest.committed_versions``), so until here the new points are invisible and
the old version stays whole — and only after that are the old version's points and images dropped. A
crash or ``kill -9`` at any point loses nothing, duplicates nothing and never shows two versions: point
ids are deterministic, the re-run redoes just the unfinished files, and ``index.reconcile`` removes
what a crash left behind.

The manifest keeps two fingerprints per file: of what its vectors depend on (``fingerprint``) and of
what only its text depends on (``text_fingerprint``: OCR, text length, word-box format). When only the
text one differs, the file is read again (pages rendered and OCR'd in the render workers) and each point's
text, words and search text are rewritten in place (``Store.set_text``): nothing is embedded and the point
ids stay (they derive from the bytes and each unit's place); the manifest records the new text
fingerprint only after the store has the text, so a crash re-reads it again. A manifest row from before
the split is recognised by ``legacy_fingerprints``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from mmsearch.errors import IngestError, InvalidName, UnprocessableInput
from mmsearch.index.embedder import Embedder
from mmsearch.index.inputs import unit_content
from mmsearch.index.lexical_text import search_text_for
from mmsearch.index.store import Payload, Point, Store
from mmsearch.index.writer import StoreWriter
from mmsearch.ingest.manifest import Manifest, ManifestEntry
from mmsearch.ingest.media import prune_media, prune_to_units, save_media
from mmsearch.ingest.names import Labels, normalise_name
from mmsearch.ingest.ocr import ocr_state
from mmsearch.ingest.reader import identify, identify_staged, read_units, snapshot
from mmsearch.ingest.settings import IngestSettings
from mmsearch.ingest.units import PageUnit, SegmentUnit, Source, Unit
from mmsearch.ingest.walk import FileFailure, Skipped, WalkedFile, walk

log = logging.getLogger(__name__)

Status = Literal["indexed", "unchanged", "failed", "planned", "skipped"]


@dataclass(frozen=True)
class UnitSummary:
    """One unit as listed by ``--dry-run`` and ``--json``."""

    id: str
    modality: str
    locator: str
    width: int
    height: int
    page: int | None = None
    t_start: float | None = None
    t_end: float | None = None
    frames: int | None = None
    fps: float | None = None


@dataclass(frozen=True)
class FileResult:
    path: str
    status: Status
    kind: str | None = None
    units: int = 0
    seconds: float = 0.0
    code: str | None = None  # error code when failed (or why skipped)
    message: str | None = None
    unit_list: tuple[UnitSummary, ...] = ()
    name: str | None = None  # the document's name (normalised), once known
    collection: str | None = None
    doc_id: str | None = None
    replaced: bool = False  # indexed over a committed earlier version of this document
    reread: bool = False  # "indexed" by re-reading only its text (its vectors kept: ``Indexer``)


@dataclass(frozen=True)
class IngestReport:
    files: tuple[FileResult, ...]
    seconds: float

    @property
    def failed(self) -> tuple[FileResult, ...]:
        return tuple(f for f in self.files if f.status == "failed")

    @property
    def units(self) -> int:
        """Units embedded (or planned); a file whose text only was re-read embedded none."""
        return sum(f.units for f in self.files if f.status in ("indexed", "planned") and not f.reread)

    @property
    def reread(self) -> tuple[FileResult, ...]:
        """The files whose text only was re-read (and rewritten in place), their vectors kept."""
        return tuple(f for f in self.files if f.reread)


@dataclass(frozen=True)
class Progress:
    """Events for a progress display: the run starts (``count`` files), a file starts, units are done,
    a file ends (with its ``result``)."""

    kind: Literal["run_start", "file_start", "units_done", "file_end"]
    path: str
    count: int = 0
    result: FileResult | None = None


ProgressFn = Callable[[Progress], None]
# Bounds that only decide whether a file is taken, and how many processes render it, not what its points
# are: left out of the fingerprint (so changing one re-processes nothing, and indexes made before they
# existed keep their fingerprints).
LIMITS = {"max_pages_per_file", "max_video_seconds", "render_workers", "render_timeout_s"}
SCRATCH = ".scratch"  # under data_dir: private snapshots of the files being ingested


# The settings that change only a unit's text and words, never what the model sees (OCR text never
# reaches the embedder: ``index/inputs.py``): in the text fingerprint, so a change re-reads the text and
# rewrites it in place (``Indexer``), nothing re-embedded.
TEXT_SETTINGS = {"ocr", "ocr_languages", "ocr_dpi", "text_chars"}
# The form of the stored text and word boxes (``ingest/words.py``); raise it when that changes, and
# every file's text is re-read (never re-embedded).
TEXT_FORMAT = 1
# The ingest settings the fingerprint hashed before it was split (issue 20), but ``LIMITS``: frozen, so a
# setting added later never hides an old row's vectors. The OCR settings came with issue 20 itself.
_BEFORE_OCR = frozenset({
    "follow_symlinks", "image_quality", "include_hidden", "max_decode_pixels", "max_file_mb", "max_pixels",
    "pdf_dpi", "text_chars", "video_fps", "video_frame_max_pixels", "video_max_frames",
    "video_segment_seconds",
})  # fmt: skip
_WITH_OCR = _BEFORE_OCR | {"ocr", "ocr_languages", "ocr_dpi"}


def fingerprint(ingest: IngestSettings, model_id: str, dim: int, instruction: str) -> str:
    """What a file's stored vectors depend on besides its bytes: the ingest settings that change what
    the model sees (pixels, pages, frames), the model, dimension and instruction; a change re-embeds."""
    shape = ingest.model_dump(mode="json", exclude=LIMITS | TEXT_SETTINGS)
    return _hash({"ingest": shape, "model": model_id, "dim": dim, "instruction": instruction})


def text_fingerprint(ingest: IngestSettings) -> str:
    """What a file's stored text and word boxes depend on besides its bytes and its vectors' settings:
    the OCR settings, whether OCR can run here (``ocr.ocr_state``: installing Tesseract re-reads what
    ``auto`` read without it; ``always`` without it raises ``ConfigError``), ``text_chars`` and
    ``TEXT_FORMAT``; a change re-reads the text only."""
    shape = ingest.model_dump(mode="json", include=TEXT_SETTINGS) | {"ocr": ocr_state(ingest)}
    return _hash({"text": shape, "format": TEXT_FORMAT})


def legacy_fingerprints(ingest: IngestSettings, model_id: str, dim: int, instruction: str) -> frozenset[str]:
    """The fingerprints a manifest row written before the split (schema 2) has when its vectors were made
    as ``fingerprint`` makes them now: one hash over the ingest settings of the time but ``LIMITS``, as
    computed before OCR existed (``_BEFORE_OCR``) and while OCR was new (``_WITH_OCR``, ``ocr`` as
    ``ocr_state``), under today's values of those settings. Such a row keeps its vectors, and has its
    text re-read once (it has no word boxes, or OCR text read under other settings)."""
    base = {"model": model_id, "dim": dim, "instruction": instruction}
    before_ocr = ingest.model_dump(mode="json", include=set(_BEFORE_OCR))
    with_ocr = ingest.model_dump(mode="json", include=set(_WITH_OCR)) | {"ocr": ocr_state(ingest)}
    return frozenset(_hash({"ingest": shape, **base}) for shape in (before_ocr, with_ocr))


def _hash(blob: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()[:16]


def _stamped(fingerprint: str, labels: Labels) -> str:
    """A fingerprint as the manifest keeps it: with the stamp of the groups and metadata (if any)."""
    return "-".join(filter(None, (fingerprint, labels.stamp())))


def summarise(unit: Unit) -> UnitSummary:
    if isinstance(unit, SegmentUnit):
        w, h = unit.frames[0].size
        return UnitSummary(
            unit.id, unit.modality, unit.locator, w, h,
            t_start=unit.t_start, t_end=unit.t_end, frames=len(unit.frames), fps=round(unit.fps, 4),
        )  # fmt: skip
    w, h = unit.image.size
    return UnitSummary(
        unit.id, unit.modality, unit.locator, w, h, page=unit.page if isinstance(unit, PageUnit) else None
    )


def run_files(
    paths: Sequence[Path],
    settings: IngestSettings,
    one_file: Callable[[WalkedFile], FileResult],
    on_progress: ProgressFn | None = None,
) -> IngestReport:
    """Walk ``paths`` and hand each file, under its normalised name, to ``one_file``; walk failures, bad
    names and two files of one name are results too, and so are skipped links. The loop every ingest
    shares (dry run, local index, upload to a server), with its progress events."""
    started = time.perf_counter()
    results = []
    items = list(walk(paths, settings))
    named: dict[str, str] = {}  # normalised name → the file that took it in this run
    _emit(on_progress, Progress("run_start", "", len(items)))
    for item in items:
        if isinstance(item, FileFailure | Skipped):
            status: Status = "skipped" if isinstance(item, Skipped) else "failed"
            results.append(FileResult(item.path, status, code=item.code, message=item.message))
            continue
        try:
            name = normalise_name(item.name)
        except InvalidName as exc:
            results.append(_failure(str(item.path), exc.code, str(exc)))
            continue
        if name in named:
            results.append(_failure(str(item.path), "duplicate_name", f"{item.name}: named {name!r}, like "
                                    f"{named[name]} in this run; rename one of them"))  # fmt: skip
            continue
        named[name] = str(item.path)
        _emit(on_progress, Progress("file_start", str(item.path)))
        result = one_file(WalkedFile(item.path, name))
        results.append(result)
        _emit(on_progress, Progress("file_end", str(item.path), result=result))
    return IngestReport(tuple(results), time.perf_counter() - started)


def plan(
    paths: Sequence[Path],
    settings: IngestSettings,
    on_progress: ProgressFn | None = None,
    labels: Labels | None = None,
) -> IngestReport:
    """The dry run: read every file into units and list them; no model, store or disk writes."""

    def one_file(found: WalkedFile) -> FileResult:
        t0 = time.perf_counter()
        path = found.path
        try:
            collection = (labels or Labels()).collection
            source = replace(identify(path, settings), collection=collection, name=found.name, doc_id="")
            units = read_units(source, settings)
            listed = []
            for unit in units:
                listed.append(summarise(unit))
                _emit(on_progress, Progress("units_done", str(path), 1))
        except IngestError as exc:
            return _failure(str(path), exc.code, str(exc))
        return FileResult(
            source.path, "planned", source.kind, len(listed), time.perf_counter() - t0,
            unit_list=tuple(listed), name=source.name, collection=source.collection, doc_id=source.doc_id,
        )  # fmt: skip

    return run_files(paths, settings, one_file, on_progress)


@dataclass
class Indexer:
    """Runs the full ingest into a store. Parts are passed in; ``close`` is the caller's job."""

    embedder: Embedder
    store: Store
    manifest: Manifest
    settings: IngestSettings
    data_dir: Path
    instruction: str
    chunk_units: int = 16
    on_progress: ProgressFn | None = None
    writer_depth: int = 4  # embedded chunks waiting for the store at most (bounds memory)
    labels: Labels = field(default_factory=Labels)  # the collection, groups and metadata of what it writes
    _fingerprint: str = field(init=False, default="")
    _text_fingerprint: str = field(init=False, default="")
    _legacy: frozenset[str] = field(init=False, default=frozenset())
    _writer: StoreWriter | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        made = (self.settings, self.embedder.model_id, self.embedder.dim, self.instruction)
        self._fingerprint = fingerprint(*made)
        self._text_fingerprint = text_fingerprint(self.settings)
        self._legacy = legacy_fingerprints(*made)
        self.store.ensure_collection(self.embedder.model_id, self.embedder.dim)

    def run(self, paths: Sequence[Path], reindex: bool = False) -> IngestReport:
        """Upserts go through a writer thread (``writer.py``) while the next chunk is embedded."""
        with StoreWriter(self.store, self.writer_depth) as self._writer:
            try:
                return run_files(
                    paths, self.settings, lambda found: self._one_file(found.path, found.name, reindex),
                    self.on_progress,
                )  # fmt: skip
            finally:
                self._writer = None

    def _stored(self) -> None:
        """Wait until every point handed to the writer is in the store (raises its error)."""
        if self._writer is not None:
            self._writer.flush()

    def index_file(self, path: Path, name: str, *former: Path) -> FileResult:
        """One file as document ``name`` (normalised) of ``labels.collection``, as ``run`` would ingest it
        (without walking or progress events for the run). ``former``: where a pre-name document of it
        may have lived (``Manifest.identify``)."""
        return self._one_file(path, name, reindex=False, former=former)

    def index_staged(self, final: Path, staged: Path, name: str, *former: Path) -> FileResult:
        """Ingest the private bytes at ``staged`` as document ``name``, to live at ``final`` (an upload):
        the bytes are moved to ``final`` at the commit, so the previous version stays in place until the
        new one is whole."""
        return self._one_file(final, name, reindex=False, staged=staged, former=former)

    def document_id(self, path: Path, name: str, *former: Path) -> str:
        """The id the file at ``path`` gets as document ``name`` of ``labels.collection``."""
        return self.manifest.identify(self.labels.collection, name, path, *former)

    def _one_file(
        self, path: Path, name: str, reindex: bool, staged: Path | None = None, former: Sequence[Path] = ()
    ) -> FileResult:
        t0 = time.perf_counter()
        source: Source | None = None
        collection = self.labels.collection
        doc_id = self.document_id(path, name, *former)
        fingerprint = _stamped(self._fingerprint, self.labels)
        entry = None if reindex else self.manifest.get(doc_id)
        kept = None if entry is None else self._kept(entry, fingerprint)

        def named(result: FileResult) -> FileResult:
            return replace(result, name=name, collection=collection, doc_id=doc_id)

        try:
            if (
                staged is None
                and kept == "all"
                and entry is not None
                and self.manifest.is_unchanged(doc_id, name, path, str(entry.fingerprint))
            ):
                return named(FileResult(str(path), "unchanged", seconds=time.perf_counter() - t0))
            with self._bytes_of(path, staged) as (read, data):
                source = replace(read, collection=collection, name=name, doc_id=doc_id)
                if (
                    kept
                    and entry is not None
                    and self.manifest.is_done(doc_id, name, source.sha256, str(entry.fingerprint))
                ):
                    reread = None if kept == "all" else self._reread_text(source, data, entry.unit_ids)
                    if kept == "all" or reread is not None:
                        if staged is not None:
                            _publish(staged, Path(source.path))
                        # touched or moved, same bytes: the cheap check holds
                        self.manifest.refresh_stat(source)
                        if reread is None:
                            return named(FileResult(source.path, "unchanged", source.kind,
                                                    seconds=time.perf_counter() - t0))  # fmt: skip
                        # The store has the new text: only now does the manifest say so (a crash before
                        # this line re-reads the text again, never anything worse).
                        self.manifest.mark_text(doc_id, source.sha256, fingerprint, self._text_fingerprint)
                        return named(FileResult(source.path, "indexed", source.kind, reread,
                                                time.perf_counter() - t0, reread=True))  # fmt: skip
                ids = self._index_units(source, read_units(source, self.settings, data))
                if staged is not None:
                    _publish(staged, Path(source.path))
        except (IngestError, UnprocessableInput) as exc:  # the file's fault: report it, go on
            self._stored()  # the chunks already handed over land first, then are rolled back
            if source is not None:
                self._roll_back(source)
            message = str(exc) if isinstance(exc, IngestError) else f"{path.name}: {exc}"
            self.manifest.mark_failed(doc_id, collection, name, path, f"{exc.code}: {message}")
            return named(_failure(str(path), exc.code, message))
        except Exception:  # not the file's fault (a full disk, a failing store): undo this attempt now, raise
            if source is not None:
                self._roll_back_after(source)
            raise
        # The commit: from here searches show this version, so the old one can go.
        before = self.manifest.get(doc_id)
        self.manifest.mark_done(source, fingerprint, ids, self.labels, self._text_fingerprint)
        self.store.delete_stale(source.doc_id, keep=set(ids))
        prune_to_units(source.doc_id, self.data_dir, set(ids))
        replaced = before is not None and before.sha256 is not None
        indexed = FileResult(
            source.path, "indexed", source.kind, len(ids), time.perf_counter() - t0, replaced=replaced
        )
        return named(indexed)

    def _kept(self, entry: ManifestEntry, fingerprint: str) -> Literal["all", "vectors"] | None:
        """What of a document's stored points this ingest keeps, by its manifest row (the bytes and
        name are checked after): ``all`` (nothing to do), its ``vectors`` (the text-only settings
        changed: its text is re-read, ``_reread_text``), or None (re-embedded). A row from before the
        split (no text fingerprint) keeps its vectors when its fingerprint is an old one of the same
        settings (``legacy_fingerprints``); its text is re-read once (the word boxes are new)."""
        if entry.status != "done" or entry.sha256 is None:
            return None
        if entry.text_fingerprint is None:
            old = {_stamped(legacy, self.labels) for legacy in self._legacy}
            return "vectors" if entry.fingerprint in old else None
        if entry.fingerprint != fingerprint:
            return None
        return "all" if entry.text_fingerprint == self._text_fingerprint else "vectors"

    def _reread_text(self, source: Source, data: Path, unit_ids: Sequence[str]) -> int | None:
        """Read the text of the stored version of ``source`` again (pages rendered and OCR'd in the
        render workers, as ingest reads them) and rewrite each of its points' text, words and search
        text in place (``Store.set_text``): no embedding, the same point ids (they derive from the
        bytes and each unit's place, ``units.py``). Returns the units rewritten, or None when the
        units read are not the stored ones (the caller re-embeds the file). A video's units have no text
        of their own: its points' search text is rebuilt from their stored payloads, no frame decoded."""
        wanted = set(unit_ids)
        if not wanted:
            return None
        now = time.time()
        texts: dict[str, Payload] = {}
        if source.kind == "video":
            stored = self.store.retrieve(sorted(wanted))
            for point_id, payload in stored.items():
                texts[point_id] = replace(
                    payload, text="", words=(), text_source=None,
                    search_text=search_text_for("", payload.name, payload.metadata),
                )  # fmt: skip
        else:
            units = read_units(source, self.settings, data)
            try:
                for unit in units:
                    if unit.id not in wanted:
                        return None
                    texts[unit.id] = payload_for(unit, self.embedder, now, self.labels)
                    _emit(self.on_progress, Progress("units_done", source.path, 1))
            finally:
                close = getattr(units, "close", None)
                if callable(close):
                    close()
        if set(texts) != wanted:
            return None
        self.store.set_text(texts)
        return len(texts)

    @contextmanager
    def _bytes_of(self, path: Path, staged: Path | None) -> Iterator[tuple[Source, Path]]:
        """The file's ``Source`` and where to read exactly those bytes: a private snapshot of ``path``,
        or the already private ``staged`` upload."""
        if staged is not None:
            yield identify_staged(path, staged, self.settings), staged
            return
        with snapshot(path, self.settings, self.data_dir / SCRATCH) as taken:
            yield taken

    def _roll_back(self, source: Source) -> None:
        """A file failed part-way: drop the points and page images this attempt added, keep its last
        good version (whose points, still stored, name the images to keep)."""
        entry = self.manifest.get(source.doc_id)
        keep = set(entry.unit_ids) if entry is not None and entry.sha256 is not None else set()
        self.store.delete_stale(source.doc_id, keep=keep)
        kept = self.store.retrieve(sorted(keep)) if keep else {}
        media = {path for payload in kept.values() for path in payload.media_paths}
        prune_media(source.doc_id, self.data_dir, keep=media)

    def _roll_back_after(self, source: Source) -> None:
        """``_roll_back`` after an unexpected error (``OSError`` ENOSPC, a store that failed): the chunks
        already handed over land first; a rollback that fails as well is logged, and start-up
        reconciliation removes what it left (the version was never committed, so nothing shows it)."""
        try:
            self._stored()
        except Exception:
            log.warning("%s: the store writer failed too", source.path, exc_info=True)
        try:
            self._roll_back(source)
        except Exception:
            log.exception(
                "%s: rolling back a failed ingest failed; reconciliation removes the rest", source.path
            )

    def _index_units(self, source: Source, units: Iterable[Unit]) -> list[str]:
        """Embed and upsert chunk by chunk; the caller commits, then drops the old version."""
        ids: list[str] = []
        now = time.time()
        for chunk in _chunks(units, self.chunk_units):
            for unit in chunk:
                save_media(unit, self.data_dir, self.settings.image_quality)
            vectors = self.embedder.embed([unit_content(u) for u in chunk], self.instruction)
            points = [
                Point(id=u.id, vector=v, payload=payload_for(u, self.embedder, now, self.labels))
                for u, v in zip(chunk, vectors, strict=True)
            ]
            if self._writer is not None:
                self._writer.put(points)  # stored in the writer thread while the next chunk embeds
            else:
                self.store.upsert(points)
            ids.extend(u.id for u in chunk)
            _emit(self.on_progress, Progress("units_done", source.path, len(chunk)))
        if not ids:
            raise IngestError(f"{source.path}: no units (empty document)")
        self._stored()  # every chunk is in the store before the caller commits this version
        return ids


def payload_for(unit: Unit, embedder: Embedder, ingest_time: float, labels: Labels | None = None) -> Payload:
    """A unit's stored payload: where it came from, its document (collection, name), ``labels``'s groups
    and metadata (the collection is the unit's own, ``labels.collection`` when indexed here), its text
    (text layer or OCR) with its words' boxes, and what the lexical stage indexes of it."""
    labels = labels or Labels()
    where: dict[str, Any] = {}
    if isinstance(unit, PageUnit):
        where = {"page": unit.page, "page_count": unit.page_count}
    elif isinstance(unit, SegmentUnit):
        where = {"t_start": unit.t_start, "t_end": unit.t_end, "fps": unit.fps, "clip_times": unit.clip_times}
    return Payload(
        doc_id=unit.doc_id,
        source_path=unit.source.path,
        modality=unit.modality,
        text=unit.text,
        media_paths=list(unit.media_paths),
        content_hash=unit.content_hash,
        source_sha256=unit.source.sha256,
        ingest_time=ingest_time,
        model_id=embedder.model_id,
        dim=embedder.dim,
        collection=unit.source.collection,
        name=unit.source.name,
        groups=labels.groups,
        metadata=dict(labels.metadata),
        search_text=search_text_for(unit.text, unit.source.name, labels.metadata),
        words=unit.words,
        text_source=unit.text_source,
        **where,
    )


def _chunks(units: Iterable[Unit], size: int) -> Iterator[list[Unit]]:
    chunk: list[Unit] = []
    for unit in units:
        chunk.append(unit)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _publish(staged: Path, final: Path) -> None:
    """Move staged bytes into place (atomically, replacing the previous version)."""
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, final)
    except OSError as exc:
        raise IngestError(
            f"{final.name}: cannot be stored on the server ({exc.strerror or exc}); upload it under another name"
        ) from exc


def _failure(path: str, code: str, message: str) -> FileResult:
    return FileResult(path, "failed", code=code, message=message)


def _emit(fn: ProgressFn | None, event: Progress) -> None:
    if fn is not None:
        fn(event)
