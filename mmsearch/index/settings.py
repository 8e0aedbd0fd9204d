"""The ``embedding:``, ``store:`` and ``index:`` sections of config.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mmsearch.ingest.names import METADATA_KEY

MAX_FACETS = 16  # metadata keys an admin may mark as facets (each is one payload index)

DEFAULT_DOCUMENT_INSTRUCTION = "Represent the user's input."
DEFAULT_QUERY_INSTRUCTION = "Find a document image or video segment that matches the given query."


class EmbeddingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: str = Field("transformers", description="transformers | sglang | vllm")
    model: str = Field(
        "Qwen/Qwen3-VL-Embedding-2B", description="Hugging Face id or local directory of the model."
    )
    dim: int | None = Field(None, ge=64, description="MRL dimension; null = the model's full dimension.")
    device: str = Field("auto", description="auto | cpu | cuda | cuda:N (transformers backend)")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="auto = bfloat16 on GPU, float32 on CPU."
    )
    attn_implementation: Literal["auto", "sdpa", "flash_attention_2", "eager"] = Field(
        "auto", description="auto = flash_attention_2 when installed on GPU, else sdpa."
    )
    document_instruction: str = Field(
        DEFAULT_DOCUMENT_INSTRUCTION,
        description="Instruction embedded with every page/image/segment (official default).",
    )
    query_instruction: str = Field(
        DEFAULT_QUERY_INSTRUCTION,
        description="Instruction embedded with every query (retrieval task description).",
    )
    batch_tokens: int = Field(32768, ge=1024, description="Token budget of one forward batch.")
    max_batch_size: int = Field(
        32, ge=1, description="Items per forward batch at most (the token budget usually binds first)."
    )
    # HTTP backends
    url: str | None = Field(None, description="Base URL of the sglang/vllm server.")
    api_key: str | None = Field(None, description="Bearer key for the server.")
    served_model: str | None = Field(None, description="Model name the server serves; default = model.")
    timeout_s: float = Field(120.0, gt=0, description="Seconds before a request times out.")
    retries: int = Field(3, ge=0, description="Retries on 5xx, 408/429 and connection errors, with backoff.")
    concurrency: int = Field(4, ge=1, description="Requests in flight to the server at most.")


class StoreSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: str = Field(
        "qdrant",
        description="qdrant: embedded Qdrant Edge (store.path) or a server (store.url); qdrant-local: the "
        "old qdrant-client local mode (brute force in Python, for small collections only).",
    )
    path: Path | None = Field(None, description="Embedded Qdrant folder; null = <data_dir>/qdrant.")
    url: str | None = Field(None, description="Qdrant server/cluster URL; set to leave embedded mode.")
    api_key: str | None = Field(None, description="Bearer key for the server.")
    collection: str = Field(
        "mmsearch",
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="Qdrant collection name (one per model/dimension).",
    )
    timeout_s: float = Field(30.0, gt=0, description="Seconds before a request times out.")

    @model_validator(mode="after")
    def _one_place(self) -> StoreSettings:
        if self.path is not None and self.url is not None:
            raise ValueError("set store.path (embedded) or store.url (server), not both")
        return self


# The languages of Qdrant's text index (qdrant-client ``http/models/models.py``: ``SnowballLanguage`` for the
# stemmer, ``Language`` for stopwords; qdrant-edge's ``SnowballLanguage``/``Language`` are the same lists).
STEMMER_LANGUAGES = (
    "arabic", "armenian", "danish", "dutch", "english", "finnish", "french", "german", "greek", "hungarian",
    "italian", "norwegian", "portuguese", "romanian", "russian", "spanish", "swedish", "tamil", "turkish",
)  # fmt: skip
STOPWORD_LANGUAGES = (
    "arabic", "azerbaijani", "basque", "bengali", "catalan", "chinese", "danish", "dutch", "english",
    "finnish", "french", "german", "greek", "hebrew", "hinglish", "hungarian", "indonesian", "italian",
    "japanese", "kazakh", "nepali", "norwegian", "portuguese", "romanian", "russian", "slovene", "spanish",
    "swedish", "tajik", "turkish",
)  # fmt: skip


class LexicalSettings(BaseModel):
    """How the lexical (BM25) stage splits each point's ``search_text`` and a query's words into terms.

    Recorded in the collection with its text index: a collection opened for writing with other settings
    has its text index rebuilt in place (nothing re-embedded)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tokenizer: Literal["word", "multilingual", "whitespace"] = Field(
        "word",
        description="word: split on non-letters (Latin, Cyrillic, Greek…); multilingual: also Chinese, "
        "Japanese, Korean and Thai word segmentation; whitespace: split on spaces only.",
    )
    language: str = Field("english", description="Language of the stemmer (english, german, french…).")
    stemmer: bool = Field(True, description="Reduce words to their stem (invoices → invoic) on both sides.")
    stopwords: str = Field(
        "english", description="Language whose stopwords (the, of, and…) are not indexed, or none."
    )

    @model_validator(mode="after")
    def _known_languages(self) -> LexicalSettings:
        if self.stemmer and self.language not in STEMMER_LANGUAGES:
            raise ValueError(
                f"index.lexical.language {self.language!r} has no stemmer: use one of "
                f"{', '.join(STEMMER_LANGUAGES)}, or set index.lexical.stemmer: false"
            )
        if self.stopwords != "none" and self.stopwords not in STOPWORD_LANGUAGES:
            raise ValueError(
                f"index.lexical.stopwords {self.stopwords!r} is not a stopword list: use none or one of "
                f"{', '.join(STOPWORD_LANGUAGES)}"
            )
        return self


class IndexSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    prefetch_dim: int | None = Field(
        None, ge=32, description="Smaller MRL vector searched first, then rescored on the full vector."
    )
    prefetch_limit: int = Field(
        200, ge=1, description="Candidates the prefetch stage hands to the full-vector rescore."
    )
    quantization: Literal["none", "scalar", "binary"] = Field(
        "none", description="none | scalar (int8) | binary (Qdrant Edge and server; not qdrant-local)."
    )
    rescore: bool = Field(True, description="Rescore quantized candidates with the original vectors.")
    oversampling: float = Field(
        2.0, ge=1.0, description="Quantized candidates fetched per result before rescoring."
    )
    hnsw_m: int = Field(32, ge=4, le=128, description="HNSW graph links per node (Edge and server).")
    hnsw_ef_construct: int = Field(
        128,
        ge=16,
        description="HNSW candidates while building the graph (256 builds 1.6x slower for +0.001 recall).",
    )
    hnsw_ef: int = Field(
        192,
        ge=1,
        description="HNSW candidates while searching (higher: better recall, slower; bench/index.py: "
        "recall@50 0.994 at 100k and 0.987 at 1M points).",
    )
    exact_below: int = Field(
        20000,
        ge=0,
        description="Qdrant Edge: collections under this many points are searched exactly (no HNSW graph); "
        "above it `mmsearch optimize` (run at the end of every ingest) builds the graph.",
    )
    shard_number: int = Field(1, ge=1, description="Shards of a new collection (server/cluster mode).")
    replication_factor: int = Field(1, ge=1, description="Replicas of each shard (cluster mode).")
    upsert_batch: int = Field(64, ge=1, description="Points per upsert request.")
    lexical: LexicalSettings = Field(
        default_factory=LexicalSettings,
        description="The BM25 text index over each point's words (qdrant-local: the default word "
        "tokenizer only, no stemmer or stopwords).",
    )
    facets: tuple[str, ...] = Field(
        (),
        max_length=MAX_FACETS,
        description="Metadata keys people filter by (e.g. [department, year]): each gets a keyword payload "
        "index (added to an existing collection when it is next opened for writing), its string values are "
        "counted beside the search page's filters (GET /v1/facets) and offered as a filter.",
    )

    @field_validator("facets")
    @classmethod
    def _facet_keys(cls, keys: tuple[str, ...]) -> tuple[str, ...]:
        for key in keys:
            if not METADATA_KEY.fullmatch(key):
                raise ValueError(f"facet {key!r} is not a metadata key: use 1-64 letters, digits, '_' or '-'")
        if len(set(keys)) != len(keys):
            raise ValueError(f"facets name a key twice: {', '.join(keys)}")
        return keys
