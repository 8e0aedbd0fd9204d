"""The HTTP edge: request and response bodies as pydantic models (they also write the OpenAPI schema).

Requests forbid unknown fields, so a misspelt option is a 422 naming it rather than silently ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    PrivateAttr,
    StrictBool,
    StrictFloat,
    StrictInt,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue, SkipJsonSchema
from pydantic_core import CoreSchema, core_schema

from mmsearch.access.keys import ALL, COLLECTION_PATTERN, GROUP_PATTERN, NAME_PATTERN
from mmsearch.errors import QueryError
from mmsearch.index.conditions import METADATA_KEY, Bounds
from mmsearch.index.store import (
    LIST_FIELDS,
    MAX_FILTER_CONDITIONS,
    MAX_FILTER_VALUE_CHARS,
    MAX_FILTER_VALUES,
    Filters,
    SearchMode,
)
from mmsearch.search.highlight import MAX_HIGHLIGHTS, MAX_TEXT_CHARS
from mmsearch.search.query_text import lexical_query

# Something str.strip() leaves: Python's whitespace is JSON Schema's \s plus the separators \x1c-\x1f.
NOT_BLANK = r"[^\s\x1c-\x1f]"


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


ModalityName = Literal["page", "image", "video"]
MetadataKey = Annotated[str, StringConstraints(pattern=f"^{METADATA_KEY.pattern}$")]
MetadataValue = (
    Annotated[str, Field(max_length=MAX_FILTER_VALUE_CHARS)] | StrictInt | StrictFloat | StrictBool
)


class OneOrMany:
    """A filter field that takes one value or a list of them (any of them matches), checked item by item
    with errors on the field itself; its JSON Schema says both forms. Use: ``Annotated[list[Any],
    OneOrMany(ITEM)]``."""

    def __init__(self, item: Any) -> None:
        self.adapter: TypeAdapter[Any] = TypeAdapter(item)
        schema = self.adapter.json_schema()
        many = {"type": "array", "items": schema, "minItems": 1, "maxItems": MAX_FILTER_VALUES}
        self.schema: dict[str, Any] = {"anyOf": [schema, many]}

    def check(self, value: Any) -> list[Any] | None:
        if value is None:
            return None
        values = value if isinstance(value, list) else [value]
        if not 1 <= len(values) <= MAX_FILTER_VALUES:
            raise ValueError(f"give one value or a list of 1 to {MAX_FILTER_VALUES}, not {len(values)}")
        checked = []
        for one in values:
            try:
                checked.append(self.adapter.validate_python(one, strict=True))
            except ValidationError as exc:
                raise ValueError(f"{str(one)[:80]!r}: {exc.errors()[0]['msg']}") from None
        return checked

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_plain_validator_function(self.check)

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return self.schema


PathValues = Annotated[
    list[Any], OneOrMany(Annotated[str, Field(min_length=1, max_length=4096, pattern=NOT_BLANK)])
]
TextValues = Annotated[
    list[Any],
    OneOrMany(Annotated[str, Field(min_length=1, max_length=MAX_FILTER_VALUE_CHARS, pattern=NOT_BLANK)]),
]
IdValues = Annotated[list[Any], OneOrMany(Annotated[str, Field(min_length=1, max_length=64)])]
ModalityValues = Annotated[list[Any], OneOrMany(ModalityName)]
MetadataValues = Annotated[list[MetadataValue], Field(min_length=1, max_length=MAX_FILTER_VALUES)]
Moment = float | datetime  # a number, or an ISO 8601 date/time (naive = UTC)


class RangeIn(_Request):
    """Bounds on a metadata value: numbers, or dates (ISO 8601; naive = UTC) against date strings."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})

    gte: Moment | SkipJsonSchema[None] = None
    gt: Moment | SkipJsonSchema[None] = None
    lte: Moment | SkipJsonSchema[None] = None
    lt: Moment | SkipJsonSchema[None] = None

    def bounds(self) -> Bounds:
        return Bounds(self.gte, self.gt, self.lte, self.lt)


def _closed_maps(schema: dict[str, Any]) -> None:
    """``metadata`` and ``metadata_ranges`` take only keys of ``METADATA_KEY`` (pydantic writes the
    pattern as ``patternProperties`` and leaves other keys open)."""
    for name in ("metadata", "metadata_ranges"):
        for branch in schema["properties"][name].get("anyOf", []):
            if branch.get("type") == "object":
                branch["additionalProperties"] = False


class _FilterFields(_Request):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_closed_maps)

    path_prefix: PathValues | None = Field(
        None,
        description="Only files under this path (whole path components) on the server; or any of a list.",
    )
    modality: ModalityValues | None = None
    doc_id: IdValues | None = None
    ingested_after: datetime | None = Field(None, description="ISO date/time or unix seconds; naive = UTC.")
    ingested_before: datetime | None = None
    collection: TextValues | None = Field(None, description="Only these collections (within yours).")
    name: TextValues | None = Field(None, description="Documents of these names.")
    groups: TextValues | None = Field(None, description="Documents shared with any of these groups.")
    folder: TextValues | None = Field(
        None,
        description="Documents whose name lies in this folder (whole components: `reports` matches "
        "`reports/2024/a.pdf`, not `reports-old/a.pdf`); or in any of a list.",
    )
    metadata: dict[MetadataKey, MetadataValue | MetadataValues] | None = Field(
        None, max_length=MAX_FILTER_CONDITIONS,
        description="`{KEY: value}` equality, `{KEY: [values]}` any of them (a list field matches when one "
        "of its elements does). Keys: letters, digits, `_`, `-`.",
    )  # fmt: skip
    metadata_ranges: dict[MetadataKey, RangeIn] | None = Field(
        None, max_length=MAX_FILTER_CONDITIONS,
        description="`{KEY: {gte, gt, lte, lt}}`: numbers, or dates compared with date strings.",
    )  # fmt: skip

    def _filters(self, not_: Filters | None = None) -> Filters:
        ranges = (
            {key: r.bounds() for key, r in self.metadata_ranges.items()} if self.metadata_ranges else None
        )
        return Filters(
            path_prefix=self.path_prefix, modality=self.modality, doc_id=self.doc_id,
            ingested_after=_unix(self.ingested_after), ingested_before=_unix(self.ingested_before),
            collection=self.collection, name=self.name, groups=self.groups, folder=self.folder,
            metadata=self.metadata,
            metadata_ranges=ranges, not_=not_,
        )  # fmt: skip


class NotFiltersIn(_FilterFields):
    """Conditions to exclude: a point matching any of them is left out."""


class FiltersIn(_FilterFields):
    """What a search (or listing) is restricted to: every given condition must hold; `not` leaves out what
    matches any of its conditions. Bounded: at most 32 conditions, 100 values per list, 32 KiB of text.
    Nothing here reaches outside what the caller may see."""

    not_: NotFiltersIn | None = Field(None, alias="not", description="Leave out what matches any of these.")
    _built: Filters | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _check(self) -> FiltersIn:
        try:
            built = self._filters(self.not_._filters() if self.not_ is not None else None)
        except QueryError as exc:
            raise ValueError(str(exc)) from exc
        self._built = None if built.is_empty else built
        return self

    def to_filters(self) -> Filters | None:
        return self._built


# What a search may filter on (``FiltersIn``'s fields as sent; ``not`` is ``Filters.not_``), and those a
# multipart search form may also give as flat fields, one value each (the rest: the ``filters`` JSON part).
FILTER_FIELDS: tuple[str, ...] = tuple(f.alias or name for name, f in FiltersIn.model_fields.items())
FORM_FILTER_FIELDS: tuple[str, ...] = tuple(
    name for name in FILTER_FIELDS if name not in ("metadata", "metadata_ranges", "not")
)


def filters_body(filters: Filters) -> dict[str, Any]:
    """``filters`` as a ``FiltersIn`` JSON object (the CLI's ``--server``); the scope is never sent."""

    def own(f: Filters) -> dict[str, Any]:
        out: dict[str, Any] = {name: list(f.values(name)) or None for name in LIST_FIELDS}
        out.update(ingested_after=f.ingested_after, ingested_before=f.ingested_before)
        out["metadata"] = {k: list(v) for k, v in f.metadata_values().items()} or None
        ranges = (f.metadata_ranges or {}).items()
        out["metadata_ranges"] = {k: _bounds_body(b) for k, b in ranges} or None
        return {k: v for k, v in out.items() if v is not None}

    body = own(filters)
    if filters.not_ is not None:
        body["not"] = own(filters.not_)
    return body


def _bounds_body(bounds: Bounds) -> dict[str, Any]:
    given = {"gte": bounds.gte, "gt": bounds.gt, "lte": bounds.lte, "lt": bounds.lt}
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in given.items() if v is not None}


def _unix(moment: datetime | None) -> float | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


class SearchRequest(_Request):
    text: str | None = Field(None, description="Query text (with or without an image).")
    image: str | None = Field(
        None, description="Query image as base64 (a `data:image/...;base64,` URL is fine). "
        "Or POST multipart/form-data with an `image` file part."
    )  # fmt: skip
    top_k: int | None = Field(None, ge=1, le=1000, description="Hits to return (default search.top_k).")
    candidates: int | None = Field(
        None, ge=1, le=1000,
        description="Vector hits to rerank (default search.candidates, 50); raised to top_k when below it "
        "(the reply's `candidates` says how many were taken).",
    )  # fmt: skip
    rerank: bool = Field(True, description="false = keep the vector order (faster).")
    filters: FiltersIn | None = None
    inline_images: bool = Field(False, description="Put each hit's page/frame image in the reply as base64.")
    # Words (issue 20)
    mode: SearchMode | None = Field(
        None, description="How candidates are found: `hybrid` (BM25 over the text fused with the vectors), "
        "`vector` or `keyword` (default search.mode)."
    )  # fmt: skip
    include_text: bool = Field(
        False, description=f"Put each hit's whole text (text layer or OCR) in `text`, cut at {MAX_TEXT_CHARS} "
        "characters (`text_truncated` says when)."
    )  # fmt: skip

    @model_validator(mode="after")
    def _words(self) -> SearchRequest:
        """The query's words for the lexical stage (``lexical_query``: bounded), checked here so a bad one
        is a 422 like any other field: a keyword search without words, too many quoted phrases."""
        if self.mode == "vector":
            return self
        try:
            lexical = lexical_query(self.text)
        except QueryError as exc:
            raise ValueError(str(exc)) from exc
        if self.mode == "keyword" and lexical is None:
            raise ValueError(
                "a keyword search needs words to search for: give `text` (an image or a video clip is searched "
                "with mode hybrid or vector)"
            )
        return self


class HitOut(BaseModel):
    rank: int
    point_id: str
    score: float = Field(
        description="What the ranking used: the rerank score if reranked, else the vector score."
    )
    vector_score: float
    rerank_score: float | None
    doc_id: str
    collection: str = Field(description="The collection the document belongs to.")
    name: str = Field(description="The document's name in its collection (never a server path).")
    file_name: str = Field(description="The last part of `name`.")
    groups: list[str] = Field(
        description="Who may read the document (empty: everyone who may use its collection)."
    )
    metadata: dict[str, Any] = Field(description="The document's metadata, as given at ingest.")
    modality: Literal["page", "image", "video"]
    page: int | None
    page_count: int | None
    t_start: float | None
    t_end: float | None
    snippet: str
    frames: int = Field(description="Stored images of this hit: 1, or the sampled frames of a video segment.")
    preview_frame: int
    image_url: str = Field(description="The page/frame image the models saw (`?frame=N` for other frames).")
    thumbnail_url: str
    file_url: str = Field(description="The original file (Range requests supported).")
    link: str = Field(description="Opens the hit in place: `file_url#page=N` or `file_url#t=SECONDS`.")
    image_base64: str | None = Field(None, description="JPEG bytes of the image, when inline_images was set.")
    # Words (issue 20)
    snippet_ranges: list[Annotated[list[int], Field(min_length=2, max_length=2)]] = Field(
        description="Where the query's terms are in `snippet`: [start, end) offsets in Unicode code points "
        "(JavaScript: index `Array.from(snippet)`). Plain offsets: mark them yourself, the snippet is text."
    )  # fmt: skip
    highlights: list[Annotated[list[int], Field(min_length=4, max_length=4)]] = Field(
        description=f"Boxes [x0, y0, x1, y1] of the matched words, in pixels of the image at `image_url` "
        f"(scale them for a thumbnail); pages and images whose words are known; at most {MAX_HIGHLIGHTS}."
    )  # fmt: skip
    content_hash: str = Field(description="The unit's content hash: the same page or image under two names "
                              "shares it.")  # fmt: skip
    text: str | None = Field(
        None, description="The unit's whole text (text layer or OCR), when include_text was set."
    )  # fmt: skip
    text_truncated: bool = Field(
        False, description=f"`text` was cut at {MAX_TEXT_CHARS} characters."
    )  # fmt: skip


class PointOut(BaseModel):
    point_id: str
    doc_id: str
    collection: str
    name: str = Field(description="The document's name in its collection (never a server path).")
    file_name: str = Field(description="The last part of `name`.")
    modality: Literal["page", "image", "video"]
    page: int | None
    page_count: int | None
    t_start: float | None
    t_end: float | None
    text: str = Field(
        description="The unit's whole text (the PDF's text layer, or OCR); \"\" when it has none."
    )
    frames: int = Field(description="Stored images: 1, or the sampled frames of a video segment.")
    image_url: str = Field(description="The page/frame image the models saw.")
    file_url: str = Field(description="The original file.")
    link: str = Field(description="Opens the unit in place: `file_url#page=N` or `file_url#t=SECONDS`.")


class SearchResponse(BaseModel):
    hits: list[HitOut]
    reranked: bool
    reranker: str | None
    candidates: int
    timings_ms: dict[str, float]
    mode: SearchMode = Field(description="How the candidates were found: hybrid, vector or keyword.")


class DocumentOut(BaseModel):
    doc_id: str
    collection: str
    name: str = Field(description="The document's name in its collection (never a server path).")
    file_name: str = Field(description="The last part of `name`.")
    groups: list[str]
    metadata: dict[str, Any]
    modality: Literal["page", "image", "video"]
    units: int
    ingest_time: float
    source_sha256: str
    file_url: str


class DocumentsResponse(BaseModel):
    total: int
    documents: list[DocumentOut]


class FileResultOut(BaseModel):
    name: str = Field(description="The document's name (the uploaded file's name, normalised).")
    status: Literal["queued", "running", "indexed", "unchanged", "failed", "cancelled"]
    replaces: bool = Field(
        description="A document of this name is in the collection: this file replaces it (once indexed: it did)."
    )
    doc_id: str | None
    kind: str | None
    units: int = Field(description="Units indexed (while running: done so far).")
    seconds: float
    code: str | None = None
    message: str | None = None


class JobProgress(BaseModel):
    files_total: int
    files_done: int
    units_done: int = Field(description="Units (pages, images, segments) indexed so far by this job.")
    current: str | None = Field(description="The file being ingested now.")


class JobOut(BaseModel):
    job_id: str
    collection: str = Field(description="The collection the job's files go to.")
    state: Literal["queued", "running", "done", "cancelled", "failed"]
    created: float
    started: float | None
    finished: float | None
    progress: JobProgress
    files: list[FileResultOut]
    indexed: int
    unchanged: int
    failed: int
    error: str | None = Field(None, description="Why the job itself failed (not one file).")
    url: str = Field(description="Where to follow it: GET this URL.")
    principal: str | None = Field(
        None, description="Who sent it (`key:NAME`, `oidc:USER`…): shown to administrators only."
    )


class JobsResponse(BaseModel):
    jobs: list[JobOut]


class DeleteResponse(BaseModel):
    doc_id: str
    collection: str
    name: str
    deleted_points: int


class InfoResponse(BaseModel):
    name: str
    version: str
    auth_required: bool
    sign_in: bool = Field(False, description="Whether the web page can sign in (OIDC) at /auth/login.")
    embedding_model: str | None
    dim: int | None
    reranker: str | None
    max_upload_mb: float
    max_query_chars: int


class MeResponse(BaseModel):
    name: str = Field(
        description='Who the request acts for: "key:NAME", "oidc:USER", "config:read", "anonymous".'
    )
    role: Literal["reader", "writer", "admin"]
    via: Literal["anonymous", "config", "key", "oidc", "session"]
    collections: list[str] = Field(
        description="The collections it may search (with all_collections: those that hold documents now)."
    )
    all_collections: bool = Field(description="Every collection, including ones made later.")
    groups: list[str] | None = Field(description="Its document groups; null = every document of them.")
    may_write: bool = Field(description="Whether it may upload and delete in at least one collection.")
    write_collections: list[str] | None = Field(
        description="The collections it may upload to and delete from; null: every collection it may use."
    )


class FacetCount(BaseModel):
    value: str
    count: int = Field(description="Units (pages, images, video segments) with this value.")


class FacetsResponse(BaseModel):
    total: int = Field(description="Units the caller may search (in `collection`, when asked).")
    kinds: list[FacetCount] = Field(
        description="Units by kind: page, image, video (in `collection`, when asked)."
    )
    collections: list[FacetCount] = Field(description="Units by collection, among the caller's.")
    metadata: dict[str, list[FacetCount]] = Field(
        default_factory=dict,
        description="Units by the string values of each metadata key the admin marked as a facet "
        "(`index.facets`; in `collection`, when asked), at most 100 values a key, the most first.",
    )


KeyName = Annotated[str, StringConstraints(pattern=f"^{NAME_PATTERN.pattern}$")]
KeyCollection = Annotated[str, StringConstraints(pattern=rf"^(\{ALL}|{COLLECTION_PATTERN.pattern})$")]
KeyGroup = Annotated[str, StringConstraints(pattern=f"^{GROUP_PATTERN.pattern}$")]


class KeyIn(_Request):
    """A managed key to create (``POST /v1/keys``), as ``mmsearch keys create`` takes it."""

    name: KeyName = Field(
        description="1-64 letters, digits, '.', '_', '@' or '-'; unique among unrevoked keys."
    )
    role: Literal["reader", "writer", "admin"] = "reader"
    collections: list[KeyCollection] = Field(
        min_length=1, max_length=1000, description='The collections it may use; ["*"] = every one.'
    )
    groups: list[KeyGroup] | None = Field(
        None, max_length=1000, description="Its document groups; null = every document of its collections."
    )
    expires: Annotated[str, StringConstraints(max_length=40)] | None = Field(
        None, description="Lifetime from now, like 30d, 12h, 2w; null = until revoked."
    )


class KeyOut(BaseModel):
    """A managed key's record: never the key itself."""

    key_id: str = Field(description="The public part of the key (mms_<key_id>_…).")
    name: str
    role: Literal["reader", "writer", "admin"]
    collections: list[str] | None = Field(description="null: every collection.")
    groups: list[str] | None = Field(description="null: every document of its collections.")
    created: float
    expires: float | None
    revoked: float | None
    state: Literal["active", "expired", "revoked"]


class NewKeyOut(KeyOut):
    key: str = Field(description="The key itself: shown this once, never again (only its hash is kept).")


class KeysResponse(BaseModel):
    keys: list[KeyOut]


class AuditPrincipalOut(BaseModel):
    name: str
    role: str | None
    via: str


class AuditEntryOut(BaseModel):
    time: str = Field(description="UTC, ISO 8601.")
    unix: float
    action: str
    principal: AuditPrincipalOut
    client: str | None
    details: dict[str, Any]


class AuditResponse(BaseModel):
    entries: list[AuditEntryOut] = Field(description="Newest first.")


class QuotaOut(BaseModel):
    """The limit a 507 ran into (``services/ledger.py``)."""

    name: str = Field(description="The setting: server.collection_quotas_mb.NAME, server.collection_quota_mb, "
                      "server.uploads_quota_mb or server.min_free_disk_mb.")  # fmt: skip
    collection: str = Field(description="The collection the upload went to.")
    limit_bytes: int = Field(description="The quota (for the disk: its free space beyond the reserve).")
    used_bytes: int = Field(description="Used by documents and other uploads in flight (for the disk: "
                            "reserved by other uploads in flight, not yet written).")  # fmt: skip
    asked_bytes: int = Field(description="What this upload needs.")


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: list[dict[str, str]] | None = None
    quota: QuotaOut | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


ERRORS = {
    status: {"model": ErrorResponse}
    for status in (400, 401, 403, 404, 409, 413, 415, 422, 429, 500, 503, 507)
}


def with_errors(
    documented: dict[int, dict[str, Any]], statuses: Iterable[int] | None = None
) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: ``documented`` plus the error shape (for ``statuses``, default all)."""
    chosen = ERRORS if statuses is None else {status: ERRORS[status] for status in statuses}
    merged: dict[int | str, dict[str, Any]] = dict(documented.items())
    merged.update(chosen.items())
    return merged


def binary(media_types: Iterable[str], description: str) -> dict[str, Any]:
    """A response whose body is a file of one of ``media_types``."""
    schema = {"type": "string", "format": "binary"}
    return {"description": description, "content": {t: {"schema": schema} for t in media_types}}
