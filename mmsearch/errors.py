"""Every error mmsearch raises on purpose.

    MmsearchError
     ├── ConfigError            a setting is unknown or has a bad value
     ├── IngestError            one input file could not be turned into units
     │    ├── UnsupportedFile   not a PDF, image or video we can read
     │    ├── CorruptFile       looks like a supported type but cannot be decoded (or is encrypted)
     │    └── LimitExceeded     over a configured bound (pages per file, video length); names the setting
     ├── ModelNotFound          no embedding/reranker model at the configured id or path
     ├── EmbedderError          the embedding model or server failed
     │    └── UnprocessableInput  one item's media/text cannot be embedded (a per-file failure)
     ├── StoreError             the vector store refused or failed
     │    ├── DimensionMismatch the collection was built with another model or dimension
     │    │    └── PreprocessingMismatch  ... or with preprocessing this environment renders differently
     │    └── StoreLocked       another process holds the embedded store
     ├── RerankerError          the reranker could not be loaded or run
     ├── QueryError             a query cannot be run as asked (bad image, ...)
     │    └── EmptyCollection   nothing is indexed yet
     ├── NotFound               a document asked for by path or id is not in the index
     └── DatasetError           an evaluation dataset is missing a file or has a malformed row

Third-party exceptions are translated at the boundary (``raise X(...) from exc``). Messages name the
thing that failed and say how to fix it. The CLI prints ``Error: <message>`` and exits non-zero; the API
returns one JSON error shape built from ``code`` and ``str(exc)``.
"""

from __future__ import annotations


class MmsearchError(Exception):
    """Base class; ``code`` is a stable machine-readable name used by the CLI's --json and the API."""

    code = "error"


class ConfigError(MmsearchError):
    code = "config_error"


class IngestError(MmsearchError):
    code = "ingest_error"


class UnsupportedFile(IngestError):
    code = "unsupported_file"


class CorruptFile(IngestError):
    code = "corrupt_file"


class LimitExceeded(IngestError):
    code = "limit_exceeded"


class EmbedderError(MmsearchError):
    code = "embedder_error"


class ModelNotFound(MmsearchError):
    code = "model_not_found"


class UnprocessableInput(EmbedderError):
    code = "unprocessable_input"


class StoreError(MmsearchError):
    code = "store_error"


class DimensionMismatch(StoreError):
    code = "dimension_mismatch"


class PreprocessingMismatch(DimensionMismatch):
    """The collection's vectors were made by preprocessing (prompt tokens, pixel pipeline) that this
    environment renders differently (``index/fingerprint.py``)."""

    code = "preprocessing_mismatch"


class StoreLocked(StoreError):
    code = "store_locked"


class RerankerError(MmsearchError):
    code = "reranker_error"


class QueryError(MmsearchError):
    code = "query_error"


class NotFound(MmsearchError):
    code = "not_found"


class DatasetError(MmsearchError):
    code = "dataset_error"


class EmptyCollection(QueryError):
    """Nothing is indexed yet: the request is fine, the collection's state is not (HTTP 409)."""

    code = "empty_collection"
