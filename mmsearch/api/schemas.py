"""The HTTP edge: request and response bodies as pydantic models (they also write the OpenAPI schema).

Requests forbid unknown fields, so a misspelt option is a 422 naming it rather than silently ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
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
    WithJsonSchema,
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
from mmsearch.search.selection import MAX_PAGE_END, Collapse

# Something str.strip() leaves: Python's whitespace is JSON Schema's \s plus the separators \x1c-\x1f.
NOT_BLANK = r"[^\s\x1c-\x1f]"


# Search controls (issue 21).
MAX_BATCH_QUERIES = 16  # queries in one POST /v1/search/batch (embedded in one model call)
IncludeImages = Literal["url", "base64", "none"]
ScoreKind = Literal["rerank", "vector", "fusion", "keyword"]
MIN_SCORE_DOC = (
    "Leave out hits whose `score` is below this, on that score's scale (the reply's `score_kind`): "
    "reranked, the rerank score, a sigmoid probability from 0 to 1 (0.5: as likely relevant as not); "
    "unreranked, in vector mode the cosine similarity from -1 to 1 (how high a relevant hit scores depends "
    "on the model and corpus); in hybrid mode the fused score, a rank-based number that is not comparable "
    "across queries (threshold with reranking on instead); in keyword mode the BM25 score."
)


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


def _not_boolean(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("give an ISO date/time or unix seconds, not true or false")  # noqa: TRY004 - pydantic reports ValueError
    return value


# An ingest time, optional: an ISO 8601 date/time or unix seconds (a number), as the schema says.
Instant = Annotated[
    datetime | None,
    BeforeValidator(_not_boolean),
    WithJsonSchema(
        {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "number"}, {"type": "null"}]}
    ),
]


class RangeIn(_Request):
    """Bounds on a metadata value: numbers, or dates (ISO 8601; naive = UTC) against date strings."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})

    gte: Moment | SkipJsonSchema[None] = None
    gt: Moment | SkipJsonSchema[None] = None
    lte: Moment | SkipJsonSchema[None] = None
    lt: Moment | SkipJsonSchema[None] = None

    @model_validator(mode="before")
    @classmethod
    def _numbers_or_dates(cls, data: Any) -> Any:
        """A bound is a number or a date, or absent, as the schema says: ``null`` and ``true``/``false``
        (which a float would otherwise take as 1 and 0) are refused."""
        if isinstance(data, dict) and (
            bad := sorted(str(k) for k, v in data.items() if v is None or isinstance(v, bool))
        ):
            raise ValueError(f"{', '.join(bad)}: give a number or a date, or leave it out")
        return data

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
    ingested_after: Instant = Field(None, description="ISO date/time or unix seconds; naive = UTC.")
    ingested_before: Instant = None
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
    """A search: at least one of `text` and `image` (or, in `POST /v1/search/upload`, a `video` part), and
    the options."""

    text: str | None = Field(None, description="Query text (with or without an image).")
    image: str | None = Field(
        None, description="Query image as base64 (a `data:image/...;base64,` URL is fine). To send a "
        "file instead, or a video clip, use `POST /v1/search/upload`."
    )  # fmt: skip
    # Numbers and booleans as JSON types only (Strict*): a JSON `false` is not an offset, nor `0` a boolean.
    top_k: StrictInt | None = Field(None, ge=1, le=1000, description="Hits to return (default search.top_k).")
    candidates: StrictInt | None = Field(
        None, ge=1, le=1000,
        description="Vector hits to rerank (default search.candidates, 50); raised to top_k when below it "
        "(the reply's `candidates` says how many were taken).",
    )  # fmt: skip
    rerank: StrictBool = Field(True, description="false = keep the vector order (faster).")
    filters: FiltersIn | None = None
    # Words (issue 20)
    mode: SearchMode | None = Field(
        None, description="How candidates are found: `hybrid` (BM25 over the text fused with the vectors), "
        "`vector` or `keyword` (default search.mode)."
    )  # fmt: skip
    include_text: StrictBool = Field(
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

    # --- search controls (issue 21): a score floor, pages, collapsing, how images come ---
    min_score: StrictFloat | None = Field(
        None, allow_inf_nan=False, description=MIN_SCORE_DOC
    )  # fmt: skip
    offset: StrictInt = Field(
        0, ge=0, lt=MAX_PAGE_END,
        description="Skip this many hits (after `min_score` and `collapse`): the next page is "
        "`offset + top_k` (the reply's `next_offset`). Pages of one query with the same `candidates` "
        f"neither overlap nor leave a gap. `offset + top_k` is at most {MAX_PAGE_END}; when reranking, at "
        "most `candidates` (a reranked query pages through its candidates: ask every page with the "
        "candidates the last one needs).",
    )  # fmt: skip
    collapse: Collapse | None = Field(
        None,
        description="`document`: one hit per document (its best unit); `content`: one hit per identical "
        "content (`content_hash`: the same bytes uploaded under two names come back once).",
    )
    include_images: IncludeImages | None = Field(
        None,
        description="How each hit's image comes: `url` (default: `image_url`, `thumbnail_url`), `base64` "
        "(also the bytes in `image_base64`), `none` (neither URL: smaller replies).",
    )
    inline_images: StrictBool = Field(
        False, json_schema_extra={"deprecated": True},
        description="Deprecated: `include_images: base64`. true puts each hit's image in the reply as base64.",
    )  # fmt: skip

    @model_validator(mode="after")
    def _one_image_choice(self) -> SearchRequest:
        if self.inline_images and self.include_images not in (None, "base64"):
            raise ValueError("inline_images (deprecated) means include_images: base64; give one of them")
        return self

    @property
    def images(self) -> IncludeImages:
        """``include_images`` with its deprecated alias and default applied."""
        return self.include_images or ("base64" if self.inline_images else "url")


class BatchSearchRequest(_Request):
    """Several searches in one request: their queries are embedded in one batch, and each runs as
    `POST /v1/search` would (the caller's scope applies to each)."""

    queries: list[SearchRequest] = Field(min_length=1, max_length=MAX_BATCH_QUERIES)


class HitOut(BaseModel):
    rank: int = Field(description="1-based, across pages: the first hit of `offset: 10` is rank 11.")
    point_id: str
    score: float = Field(
        description="What the ranking used: the rerank score if reranked, else the vector score "
        "(the reply's `score_kind` says which; `min_score` applies to it)."
    )
    vector_score: float = Field(
        description="The first stage's score, by the reply's `mode`: vector, the cosine of query and unit "
        "embeddings (-1 to 1); hybrid, the fused score; keyword, the BM25 score."
    )
    rerank_score: float | None = Field(
        description="The reranker's relevance, a sigmoid probability from 0 to 1; null when not reranked."
    )
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
    content_hash: str = Field(
        description="The unit's content: the same page of the same bytes has the same hash under any name "
        "or collection (`collapse: content` keeps one)."
    )
    frames: int = Field(description="Stored images of this hit: 1, or the sampled frames of a video segment.")
    preview_frame: int
    image_url: str | None = Field(
        description="The page/frame image the models saw (`?frame=N` for other frames); null with "
        "`include_images: none`."
    )
    thumbnail_url: str | None = Field(description="A smaller JPEG of it; null with `include_images: none`.")
    file_url: str = Field(description="The original file (Range requests supported).")
    link: str = Field(description="Opens the hit in place: `file_url#page=N` or `file_url#t=SECONDS`.")
    image_base64: str | None = Field(
        None, description="The image's bytes (JPEG as stored), with `include_images: base64`."
    )
    # Words (issue 20)
    snippet_ranges: list[Annotated[list[int], Field(min_length=2, max_length=2)]] = Field(
        description="Where the query's terms are in `snippet`: [start, end) offsets in Unicode code points "
        "(JavaScript: index `Array.from(snippet)`). Plain offsets: mark them yourself, the snippet is text."
    )  # fmt: skip
    highlights: list[Annotated[list[int], Field(min_length=4, max_length=4)]] = Field(
        description=f"Boxes [x0, y0, x1, y1] of the matched words, in pixels of the image at `image_url` "
        f"(scale them for a thumbnail); pages and images whose words are known; at most {MAX_HIGHLIGHTS}."
    )  # fmt: skip
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
    score_kind: ScoreKind = Field(
        description="What each hit's `score` (and `min_score`) is: `rerank`, a sigmoid from 0 to 1; "
        "`vector`, a cosine from -1 to 1; `fusion` (hybrid mode, unreranked), the fused rank score, which "
        "orders hits but means nothing across queries; `keyword`, a BM25 score (0 and up, unbounded)."
    )
    next_offset: int | None = Field(
        description="The `offset` of the next page; null when no hit follows this one."
    )


class BatchSearchResponse(BaseModel):
    results: list[SearchResponse] = Field(description="One per query, in the order asked.")
    timings_ms: dict[str, float] = Field(
        description="`embed`: the one embedding call of every query; `total`: the whole batch."
    )


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
        None, description="Lifetime from now, like 30d, 12h, 2w; null = until revoked.",
        # What ``access.keys.parse_expiry`` takes (1 to 10⁶ of s, m, h, d, w), in the schema only: the
        # server's own refusal stays its 400 ``key_refused``.
        json_schema_extra={"pattern": r"^\s*0*([1-9][0-9]{0,5}|1000000)[smhdwSMHDW]\s*$"},
    )  # fmt: skip


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
    """A response whose body is a file of one of ``media_types`` (its ``Content-Type`` says which).
    ``application/octet-stream`` is always listed too: generators that type a binary body only under
    that name (openapi-python-client) then give the bytes instead of dropping the response."""
    schema = {"type": "string", "format": "binary"}
    types = dict.fromkeys([*media_types, "application/octet-stream"])
    return {"description": description, "content": {t: {"schema": schema} for t in types}}
