"""Every error mmsearch raises on purpose, with the HTTP status the API answers it with.

    MmsearchError                 500  base; unknown on purpose (the API hides its details)
     ├── ConfigError              500  a setting is unknown or has a bad value (the server's own fault)
     ├── IngestError              422  one input file could not be turned into units
     │    ├── UnsupportedFile     415  not a PDF, image or video we can read
     │    ├── CorruptFile         422  looks like a supported type but cannot be decoded (or is encrypted)
     │    ├── InvalidName         422  a document name that cannot be used (empty, no extension, control characters, ...)
     │    └── LimitExceeded       413  over a configured bound (pages per file, video length); names it
     ├── ModelNotFound            500  no embedding/reranker model at the configured id or path
     ├── EmbedderError            503  the embedding model or server failed
     │    └── UnprocessableInput  422  one item's media/text cannot be embedded (a per-file failure)
     ├── StoreError               503  the vector store refused or failed
     │    ├── DimensionMismatch   409  the collection was built with another model or dimension
     │    │    └── PreprocessingMismatch  409  ... or with preprocessing this environment renders differently
     │    └── StoreLocked         503  another process holds the embedded store
     ├── RerankerError            503  the reranker could not be loaded or run
     ├── QueryError               400  a query cannot be run as asked (bad image, ...)
     │    └── EmptyCollection     409  nothing is indexed yet
     ├── SearchAbandoned          499  the search's client left; stopped before its next model batch
     ├── InvalidLabel             422  a collection, access group or metadata value out of bounds
     ├── NameTaken                409  a document of that name exists and the caller asked not to replace it
     ├── NotFound                 404  a document asked for by name or id is not in the index
     └── DatasetError             422  an evaluation dataset is missing a file or has a malformed row

Each class states its status as ``http_status`` (datasette's ``handle_exception`` reads it the same way),
and a subclass that states none answers as its parent does; classes defined elsewhere state theirs too
(``api.errors.ApiError`` per instance, ``client.errors.RemoteError``, ``verify.compare.VerifyFailed``), or
inherit it (``index.video_prompt.VideoPromptError``, a ``ConfigError``).
Caller mistakes are 4xx; a failing dependency (model server, vector store) is 503, so load balancers and
clients retry elsewhere or later; 500 is left to the server's own faults (``tests/api/test_errors.py``
walks every subclass and fails on any other 500).

Third-party exceptions are translated at the boundary (``raise X(...) from exc``). Messages name the
thing that failed and say how to fix it. The CLI prints ``Error: <message>`` and exits non-zero; the API
returns one JSON error shape built from ``code`` and ``str(exc)``.
"""

from __future__ import annotations


class MmsearchError(Exception):
    """Base class; ``code`` is a stable machine-readable name used by the CLI's --json and the API, and
    ``http_status`` the status the API answers with (``api/errors.py``)."""

    code = "error"
    http_status = 500


class ConfigError(MmsearchError):
    code = "config_error"
    http_status = 500


class IngestError(MmsearchError):
    code = "ingest_error"
    http_status = 422


class UnsupportedFile(IngestError):
    code = "unsupported_file"
    http_status = 415


class CorruptFile(IngestError):
    code = "corrupt_file"
    http_status = 422


class InvalidName(IngestError):
    """A document name that ``ingest.names.normalise_name`` refuses: a bad request field (400), whether
    it is too long in bytes, empty, or leaves its folder."""

    code = "invalid_name"
    http_status = 400


class LimitExceeded(IngestError):
    code = "limit_exceeded"
    http_status = 413


class EmbedderError(MmsearchError):
    code = "embedder_error"
    http_status = 503


class ModelNotFound(MmsearchError):
    code = "model_not_found"
    http_status = 500


class UnprocessableInput(EmbedderError):
    code = "unprocessable_input"
    http_status = 422


class StoreError(MmsearchError):
    code = "store_error"
    http_status = 503


class DimensionMismatch(StoreError):
    code = "dimension_mismatch"
    http_status = 409


class PreprocessingMismatch(DimensionMismatch):
    """The collection's vectors were made by preprocessing (prompt tokens, pixel pipeline) that this
    environment renders differently (``index/fingerprint.py``)."""

    code = "preprocessing_mismatch"


class StoreLocked(StoreError):
    code = "store_locked"
    http_status = 503


class RerankerError(MmsearchError):
    code = "reranker_error"
    http_status = 503


class QueryError(MmsearchError):
    code = "query_error"
    http_status = 400


class SearchAbandoned(MmsearchError):
    """A search whose caller has gone (``search.ticket``): stopped before its next model batch. 499 is
    nginx's "client closed request": never seen by the client, counted in /metrics."""

    code = "client_gone"
    http_status = 499


class InvalidLabel(MmsearchError):
    """A collection, group list or metadata object that ``ingest.names`` refuses."""

    code = "invalid_label"
    http_status = 422


class NameTaken(MmsearchError):
    """``replace=false`` and a document of that (collection, name) is already there."""

    code = "name_taken"
    http_status = 409


class NotFound(MmsearchError):
    code = "not_found"
    http_status = 404


class DatasetError(MmsearchError):
    code = "dataset_error"
    http_status = 422


class EmptyCollection(QueryError):
    """Nothing is indexed yet: the request is fine, the collection's state is not (HTTP 409)."""

    code = "empty_collection"
    http_status = 409
