"""Evaluation datasets on local disk, in two layouts; nothing is ever downloaded.

**BEIR** (``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``), as BEIR and ViDoRe v2 publish
them, with corpus rows that may name a file instead of carrying text::

    corpus.jsonl   {"_id": "d1", "file": "docs/report.pdf", "page": 3}     one PDF page (1-based)
                   {"_id": "d2", "file": "docs/report.pdf"}                 every page of the PDF
                   {"_id": "d3", "image": "img/chart.png"}                  an image ("image" = "file")
                   {"_id": "d4", "file": "talk.mp4", "segment": 1}          one video segment (0-based)
                   {"_id": "d5", "title": "Intro", "text": "Our mission…"}   a text passage
                   {"_id": "d6", "file": "q3.pdf", "collection": "finance", "metadata": {"year": 2024}}
    queries.jsonl  {"_id": "q1", "text": "gross margin 2023"}
                   {"_id": "q2", "image": "queries/crop.png", "group": "crop"}
                   {"_id": "q3", "video": "queries/clip.mp4", "as_document": true}
                   {"_id": "q4", "text": "margin", "filters": {"metadata_ranges": {"year": {"gte": 2024}}}}
    qrels/test.tsv query-id <TAB> corpus-id <TAB> score   (a header line is allowed)

Paths are relative to the dataset folder. ``group`` (optional) names a subset of queries that can be
evaluated alone (``mmsearch eval --group``); ``instruction`` (optional) replaces the configured query
instruction for that query, and ``"as_document": true`` embeds the query with the configured document
instruction instead (so a query that is an exact copy of a document gets the document's very vector).
A corpus row may carry a ``collection`` and flat ``metadata`` (strings, numbers, booleans, lists of
strings), stored with its units; a query's ``filters`` (the API's ``filters`` object: any-of lists,
``metadata``, ``metadata_ranges``, ``not``) restrict its search, as ``mmsearch eval --filter`` does for
every query.

**ViDoRe** (one row per question, as the ``vidore/*`` datasets on the Hub store them: query, page image,
answer), exported to ``vidore.jsonl`` plus the image files::

    vidore.jsonl   {"query": "What is the revenue?", "image": "images/00012.png", "answer": "4.2 M"}
                   {"query": null, "image": "images/00013.png"}      a page no question points at

Each distinct image is one corpus document (its id is its path); a question is relevant to the image
of its row (a question asked on several rows is relevant to each of their images). See ``docs/eval.md``
for the few lines of Python that export either layout from a Hub dataset.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mmsearch.api.schemas import FiltersIn
from mmsearch.errors import DatasetError
from mmsearch.index.store import Filters

BEIR_CORPUS = "corpus.jsonl"
BEIR_QUERIES = "queries.jsonl"
VIDORE_FILE = "vidore.jsonl"


@dataclass(frozen=True)
class CorpusRow:
    """One corpus document: a file (optionally one page or one segment of it) or a text passage."""

    id: str
    file: Path | None = None
    page: int | None = None  # 1-based, PDFs
    segment: int | None = None  # 0-based, videos
    text: str | None = None  # a text passage (with its title prepended, as BEIR does)
    collection: str | None = None  # None: the default collection
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def claims(self, page: int | None, segment: int | None) -> bool:
        """Whether a unit of this row's file at ``page``/``segment`` belongs to this row."""
        if self.page is not None:
            return page == self.page
        if self.segment is not None:
            return segment == self.segment
        return True


@dataclass(frozen=True)
class EvalQuery:
    id: str
    text: str | None = None
    image: Path | None = None
    video: Path | None = None
    instruction: str | None = None  # None: the configured query instruction
    group: str | None = None
    as_document: bool = False  # embed with the document instruction
    filters: Filters | None = None  # restricts this query's search


@dataclass(frozen=True)
class Dataset:
    name: str
    root: Path
    layout: str  # "beir" | "vidore"
    corpus: tuple[CorpusRow, ...]
    queries: tuple[EvalQuery, ...]
    qrels: dict[str, dict[str, int]] = field(repr=False)

    @property
    def groups(self) -> list[str]:
        return sorted({q.group for q in self.queries if q.group})

    def only_group(self, group: str | None) -> Dataset:
        """The dataset with only the queries of ``group`` (all when None)."""
        if group is None:
            return self
        chosen = tuple(q for q in self.queries if q.group == group)
        if not chosen:
            known = ", ".join(self.groups) or "none"
            raise DatasetError(f"{self.name}: no query is in group {group!r} (groups: {known})")
        return Dataset(self.name, self.root, self.layout, self.corpus, chosen, self.qrels)

    def with_filters(self, filters: Filters | None) -> Dataset:
        """Every query restricted by ``filters`` (``mmsearch eval --filter``); a query with filters of
        its own is refused rather than silently given one or the other."""
        if filters is None:
            return self
        own = [q.id for q in self.queries if q.filters is not None]
        if own:
            raise DatasetError(
                f'{self.name}: --filter and the queries\' own "filters" are not combined, and query '
                f"{own[0]} has its own: drop one or the other"
            )
        chosen = tuple(replace(q, filters=filters) for q in self.queries)
        return Dataset(self.name, self.root, self.layout, self.corpus, chosen, self.qrels)


def load_dataset(root: Path, split: str = "test") -> Dataset:
    """Read a dataset folder in either layout (BEIR when it has ``corpus.jsonl``, else ViDoRe)."""
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder; give a dataset folder (BEIR or ViDoRe layout)")
    if (root / BEIR_CORPUS).is_file():
        return _load_beir(root, split)
    if (root / VIDORE_FILE).is_file():
        return _load_vidore(root)
    raise DatasetError(
        f"{root}: neither {BEIR_CORPUS} (BEIR layout) nor {VIDORE_FILE} (ViDoRe layout) is there; "
        "see `mmsearch eval --help` for both layouts, or `mmsearch eval --make-sample DIR`"
    )


def _load_beir(root: Path, split: str) -> Dataset:
    corpus = tuple(_corpus_row(root, row, where) for row, where in read_jsonl(root / BEIR_CORPUS))
    _unique([row.id for row in corpus], root / BEIR_CORPUS)
    queries = tuple(_query(root, row, where) for row, where in read_jsonl(root / BEIR_QUERIES))
    _unique([q.id for q in queries], root / BEIR_QUERIES)
    qrels = _read_qrels(root / "qrels" / f"{split}.tsv")
    known = {row.id for row in corpus}
    for qid, judged in qrels.items():
        unknown = sorted(set(judged) - known)
        if unknown:
            raise DatasetError(
                f"{root / 'qrels' / f'{split}.tsv'}: query {qid} is judged against corpus ids that "
                f"{BEIR_CORPUS} does not have: {', '.join(unknown[:5])}"
            )
    judged_queries = tuple(q for q in queries if any(score > 0 for score in qrels.get(q.id, {}).values()))
    if not judged_queries:
        raise DatasetError(f"{root}: no query in {BEIR_QUERIES} has a relevant document in the {split} qrels")
    return Dataset(root.name, root, "beir", corpus, judged_queries, qrels)


def _load_vidore(root: Path) -> Dataset:
    corpus: dict[str, CorpusRow] = {}
    relevant: dict[str, set[str]] = {}
    for row, where in read_jsonl(root / VIDORE_FILE):
        image = _text(row, "image", where)
        if image is None:
            raise DatasetError(f'{where}: a ViDoRe row needs an "image" (the page image\'s path)')
        corpus.setdefault(image, CorpusRow(image, file=_path(root, image, where)))
        question = _text(row, "query", where)
        if question is not None and question.strip():
            relevant.setdefault(question, set()).add(image)
    if not relevant:
        raise DatasetError(f'{root / VIDORE_FILE}: no row has a "query"')
    queries, qrels = [], {}
    for number, (question, images) in enumerate(relevant.items(), start=1):
        qid = f"q{number}"
        queries.append(EvalQuery(qid, text=question))
        qrels[qid] = dict.fromkeys(sorted(images), 1)
    return Dataset(root.name, root, "vidore", tuple(corpus.values()), tuple(queries), qrels)


def read_jsonl(path: Path) -> Iterator[tuple[dict[str, Any], str]]:
    """Each non-blank line's object, with ``file:line`` for error messages."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not UTF-8 text ({exc.reason})") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path.name}:{number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{where}: not valid JSON ({exc.msg})") from exc
        if not isinstance(row, dict):
            raise DatasetError(f"{where}: expected a JSON object, got {type(row).__name__}")
        yield row, where


def _corpus_row(root: Path, row: dict[str, Any], where: str) -> CorpusRow:
    rid = _id(row, where)
    name = _text(row, "file", where) or _text(row, "image", where)
    page, segment = _int(row, "page", where, 1), _int(row, "segment", where, 0)
    if name is not None:
        if page is not None and segment is not None:
            raise DatasetError(f'{where}: give "page" (PDF) or "segment" (video), not both')
        return CorpusRow(
            rid, file=_path(root, name, where), page=page, segment=segment,
            collection=_text(row, "collection", where), metadata=_metadata(row, where),
        )  # fmt: skip
    title, body = _text(row, "title", where), _text(row, "text", where)
    text = " ".join(part for part in (title, body) if part and part.strip())
    if not text:
        raise DatasetError(f'{where}: corpus row {rid} has neither a "file"/"image" nor any "text"')
    return CorpusRow(
        rid, text=text, collection=_text(row, "collection", where), metadata=_metadata(row, where)
    )


def _metadata(row: dict[str, Any], where: str) -> dict[str, Any]:
    """A row's flat ``metadata``: strings, numbers, booleans and lists of strings."""
    value = row.get("metadata", {})
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and (_scalar(v) or (isinstance(v, list) and all(isinstance(i, str) for i in v)))
        for k, v in value.items()
    ):
        raise DatasetError(
            f'{where}: "metadata" must be a flat JSON object of strings, numbers, booleans and lists of strings'
        )
    return value


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)


def _filters(row: dict[str, Any], where: str) -> Filters | None:
    """A query's ``filters``: the API's ``filters`` object (``api.schemas.FiltersIn``)."""
    if "filters" not in row:
        return None
    try:
        return FiltersIn.model_validate(row["filters"]).to_filters()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'filters'}: {e['msg']}" for e in exc.errors()
        )
        raise DatasetError(f'{where}: bad "filters": {problems}') from exc


def _query(root: Path, row: dict[str, Any], where: str) -> EvalQuery:
    qid = _id(row, where)
    text = _text(row, "text", where)
    image, video = _text(row, "image", where), _text(row, "video", where)
    query = EvalQuery(
        qid,
        text=text if text and text.strip() else None,
        image=_path(root, image, where) if image else None,
        video=_path(root, video, where) if video else None,
        instruction=_text(row, "instruction", where),
        group=_text(row, "group", where),
        as_document=_bool(row, "as_document", where),
        filters=_filters(row, where),
    )
    if query.text is None and query.image is None and query.video is None:
        raise DatasetError(f'{where}: query {qid} has no "text", "image" or "video"')
    return query


def _read_qrels(path: Path) -> dict[str, dict[str, int]]:
    if not path.is_file():
        splits = sorted(p.stem for p in path.parent.glob("*.tsv")) if path.parent.is_dir() else []
        hint = f" (splits here: {', '.join(splits)}; pick one with --split)" if splits else ""
        raise DatasetError(f"{path}: no qrels file{hint}")
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8", newline="") as fh:
        for number, fields in enumerate(csv.reader(fh, delimiter="\t"), start=1):
            if not fields or (number == 1 and fields[0] == "query-id"):
                continue
            if len(fields) != 3:
                raise DatasetError(f"{path.name}:{number}: expected query-id, corpus-id, score (tabs)")
            try:
                score = int(fields[2])
            except ValueError:
                raise DatasetError(f"{path.name}:{number}: score {fields[2]!r} is not an integer") from None
            qrels.setdefault(fields[0], {})[fields[1]] = score
    return qrels


def _id(row: dict[str, Any], where: str) -> str:
    value = row.get("_id")
    if not isinstance(value, str | int) or isinstance(value, bool) or not str(value).strip():
        raise DatasetError(f'{where}: every row needs an "_id" (string)')
    return str(value)


def _text(row: dict[str, Any], key: str, where: str) -> str | None:
    value = row.get(key)
    if value is None or isinstance(value, str):
        return value
    raise DatasetError(f'{where}: "{key}" must be a string, got {type(value).__name__}')


def _bool(row: dict[str, Any], key: str, where: str) -> bool:
    value = row.get(key, False)
    if not isinstance(value, bool):
        raise DatasetError(f'{where}: "{key}" must be true or false, got {value!r}')
    return value


def _int(row: dict[str, Any], key: str, where: str, minimum: int) -> int | None:
    value = row.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise DatasetError(f'{where}: "{key}" must be an integer ≥ {minimum}, got {value!r}')
    return value


def _path(root: Path, name: str, where: str) -> Path:
    path = (root / name).resolve()
    if not path.is_file():
        raise DatasetError(f"{where}: {name} does not exist under {root}")
    return path


def _unique(ids: list[str], path: Path) -> None:
    seen: set[str] = set()
    for rid in ids:
        if rid in seen:
            raise DatasetError(f"{path}: id {rid!r} appears more than once")
        seen.add(rid)
