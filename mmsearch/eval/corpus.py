"""The evaluation corpus, embedded once at the model's full dimension and kept on disk for re-runs.

Files named by corpus rows go through the ingest readers exactly as ``mmsearch ingest`` reads them
(same units, same stored page/frame images, same document instruction); text rows are embedded as text.
Every configuration of a run (MRL dimension, prefetch) is then built from these full-dimension vectors
(MRL = truncate + renormalise), so the corpus is embedded once however many configurations are compared.
The vectors are cached under the eval folder, keyed by everything they depend on (model, ingest settings,
instruction, the corpus rows and the bytes of every file), so a second run reuses them.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mmsearch.errors import DatasetError
from mmsearch.eval.dataset import CorpusRow, Dataset
from mmsearch.index.embedder import Embedder
from mmsearch.index.inputs import Content, unit_content
from mmsearch.index.pipeline import payload_for
from mmsearch.index.store import Payload
from mmsearch.ingest.media import save_media
from mmsearch.ingest.ocr import ocr_state
from mmsearch.ingest.reader import read_file
from mmsearch.ingest.settings import IngestSettings
from mmsearch.ingest.units import NAMESPACE, PageUnit, SegmentUnit, Unit

CHUNK = 16
Progress = Callable[[int], None]  # called with the number of units just embedded


@dataclass(frozen=True, eq=False)
class EmbeddedCorpus:
    """Full-dimension vectors of every indexed unit, their payloads, and which corpus rows each is."""

    point_ids: tuple[str, ...]
    vectors: np.ndarray  # float32 [n, full_dim], L2-normalised
    payloads: tuple[Payload, ...]
    rows: dict[str, tuple[str, ...]]  # point id → corpus ids it stands for
    model_id: str
    reused: bool = False


def embed_corpus(
    dataset: Dataset,
    embedder: Embedder,
    ingest: IngestSettings,
    instruction: str,
    workdir: Path,
    progress: Progress | None = None,
) -> EmbeddedCorpus:
    """The corpus's vectors: from the cache in ``workdir`` when still valid, else embedded now."""
    key = _fingerprint(dataset, embedder, ingest, instruction)
    cached = _load(workdir, key, embedder.model_id)
    if cached is not None:
        return cached
    contents: list[Content] = []
    payloads: list[Payload] = []
    rows: dict[str, tuple[str, ...]] = {}
    now = time.time()
    for unit, claimed in _units(dataset, ingest):
        save_media(unit, workdir, ingest.image_quality)
        contents.append(unit_content(unit))
        payloads.append(payload_for(unit, embedder, now))
        rows[unit.id] = claimed
    for row in dataset.corpus:
        if row.text is not None:
            payload = text_payload(dataset, row, embedder, now)
            contents.append(Content(text=row.text))
            payloads.append(payload)
            rows[text_point_id(dataset, row)] = (row.id,)
    if not contents:
        raise DatasetError(f"{dataset.name}: the corpus is empty")
    vectors = np.empty((len(contents), embedder.dim), dtype=np.float32)
    for start in range(0, len(contents), CHUNK):
        vectors[start : start + CHUNK] = embedder.embed(contents[start : start + CHUNK], instruction)
        if progress is not None:
            progress(len(contents[start : start + CHUNK]))
    corpus = EmbeddedCorpus(tuple(rows), vectors, tuple(payloads), rows, embedder.model_id)
    _save(workdir, key, corpus)
    return corpus


def _units(dataset: Dataset, ingest: IngestSettings) -> list[tuple[Unit, tuple[str, ...]]]:
    """Each unit of the corpus files that some row claims, with the ids of the rows claiming it."""
    by_file: dict[Path, list[CorpusRow]] = {}
    for row in dataset.corpus:
        if row.file is not None:
            by_file.setdefault(row.file, []).append(row)
    found: list[tuple[Unit, tuple[str, ...]]] = []
    for path, file_rows in by_file.items():
        matched: set[str] = set()
        _source, units = read_file(path, ingest)
        for unit in units:
            page = unit.page if isinstance(unit, PageUnit) else None
            segment = unit.index if isinstance(unit, SegmentUnit) else None
            claimed = tuple(r.id for r in file_rows if r.claims(page, segment))
            if claimed:
                found.append((unit, claimed))
                matched.update(claimed)
        missing = [r for r in file_rows if r.id not in matched]
        if missing:
            row = missing[0]
            where = f"page {row.page}" if row.page is not None else f"segment {row.segment}"
            raise DatasetError(f"corpus row {row.id}: {path.name} has no {where}")
    return found


def text_point_id(dataset: Dataset, row: CorpusRow) -> str:
    return str(uuid.uuid5(NAMESPACE, f"eval-text:{dataset.root}:{row.id}"))


def text_payload(dataset: Dataset, row: CorpusRow, embedder: Embedder, now: float) -> Payload:
    """A text passage stored like a page without an image: the reranker reads its text."""
    digest = hashlib.sha256((row.text or "").encode()).hexdigest()
    return Payload(
        doc_id=text_point_id(dataset, row),
        source_path=f"{dataset.root}/corpus.jsonl#{row.id}",
        modality="page",
        text=row.text or "",
        media_paths=(),
        content_hash=digest,
        source_sha256=digest,
        ingest_time=now,
        model_id=embedder.model_id,
        dim=embedder.dim,
    )


def _fingerprint(dataset: Dataset, embedder: Embedder, ingest: IngestSettings, instruction: str) -> str:
    digest = hashlib.sha256()
    head = {"model": embedder.model_id, "dim": embedder.dim, "instruction": instruction}
    shape = ingest.model_dump(mode="json") | {"ocr": ocr_state(ingest)}  # installing Tesseract re-reads
    digest.update(json.dumps([head, shape], sort_keys=True).encode())
    for row in dataset.corpus:
        digest.update(json.dumps([row.id, str(row.file), row.page, row.segment, row.text]).encode())
        if row.file is not None:
            digest.update(_file_digest(row.file).encode())
    return digest.hexdigest()[:20]


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _paths(workdir: Path, key: str) -> tuple[Path, Path]:
    return workdir / f"corpus-{key}.npy", workdir / f"corpus-{key}.json"


def _save(workdir: Path, key: str, corpus: EmbeddedCorpus) -> None:
    vectors_path, meta_path = _paths(workdir, key)
    workdir.mkdir(parents=True, exist_ok=True)
    np.save(vectors_path, corpus.vectors)
    meta = {
        "point_ids": list(corpus.point_ids),
        "payloads": [p.to_dict() for p in corpus.payloads],
        "rows": {pid: list(ids) for pid, ids in corpus.rows.items()},
    }
    meta_path.write_text(json.dumps(meta), encoding="utf-8")


def _load(workdir: Path, key: str, model_id: str) -> EmbeddedCorpus | None:
    vectors_path, meta_path = _paths(workdir, key)
    if not (vectors_path.is_file() and meta_path.is_file()):
        return None
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    vectors = np.load(vectors_path)
    payloads = tuple(Payload.from_dict(p) for p in meta["payloads"])
    rows = {pid: tuple(ids) for pid, ids in meta["rows"].items()}
    return EmbeddedCorpus(tuple(meta["point_ids"]), vectors, payloads, rows, model_id, reused=True)
