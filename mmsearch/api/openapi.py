"""The OpenAPI document, made exact enough for a generated client (and a fuzzer) to trust it.

FastAPI writes most of it from the routes. What it cannot know is added here, once per auth state, on
first request:

- the search request bodies: routes read them by hand (to bound them while they stream, ``edge/body.py``),
  so FastAPI never sees ``SearchRequest`` or ``BatchSearchRequest``; their schemas (and ``FiltersIn``) go
  into ``components/schemas``, with this server's own limits (``server.max_query_chars``). One body type
  per operation: JSON at ``POST /v1/search`` and ``/v1/search/batch``, the form at ``/v1/search/upload``.
  "At least one of text, image, video" is said in words and checked by the route: a top-level ``anyOf``
  makes generators split the request type (openapi-python-client emits one class per branch, each
  without the options);
- the multipart search form: the same fields as form fields, ``filters`` as a JSON part (its one-value
  fields also flat), the image and video parts with the types the server decodes;
- the upload form: one to ``server.max_upload_files`` ``files`` parts, nothing else;
- security as this server enforces it now (``Authenticator.required``, which the first managed key
  turns on): with auth off no operation declares any; with auth on, the operations that check a key
  declare the bearer scheme, ``/metrics`` unless ``server.metrics_public``, and images and files the
  bearer scheme or a signed URL. Probes and ``/v1/info`` never do.

``tests/api/test_openapi.py`` runs schemathesis against live servers (auth off, and with keys) with every
check on, and generates Python and TypeScript clients from the document.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from mmsearch.api.schemas import FORM_FILTER_FIELDS, BatchSearchRequest, FiltersIn, SearchRequest
from mmsearch.api.settings import ApiSettings

REF = "#/components/schemas/{model}"
QUERY_IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp", "image/gif", "image/bmp", "image/tiff")
QUERY_VIDEO_TYPES = ("video/mp4", "video/webm", "video/quicktime", "video/x-matroska", "video/x-msvideo")
AT_LEAST_ONE = (
    "A query is at least one of `text` (not blank), `image` and `video`: checked by the server (400)."
)
BEARER = "HTTPBearer"  # the scheme FastAPI names after ``HTTPBearer`` (``services/context.py``)
SIGNED = "SignedUrl"
SIGNED_SCHEME = {
    "type": "apiKey",
    "in": "query",
    "name": "sig",
    "description": "A signed URL: `image_url`, `thumbnail_url`, `file_url` and `link` of a search hit or "
    "listing carry `sig` with `v`, `by` and `exp`; such a URL works without a key until `exp`.",
}
# The request bodies' schemas (components): their defaults are said in words (``_defaults_in_words``).
REQUEST_SCHEMAS = ("SearchRequest", "BatchSearchRequest", "FiltersIn", "NotFiltersIn", "RangeIn")
SIGNED_PATHS = ("/v1/images/{point_id}", "/v1/documents/{doc_id}/file")
NO_AUTH_NOTE = (
    "\n\nThis server has no keys (auth is off): no operation needs a credential. Writes (POST, DELETE) "
    "must still show they are not a cross-site browser form: send an `Authorization` header (any value, "
    "e.g. `Bearer local`), as programs do, or come from this server's own web page."
)


def install(app: FastAPI, server: ApiSettings, auth_required: Callable[[], bool]) -> None:
    """Patch ``app.openapi`` so the document it serves carries the additions above; ``auth_required``
    says whether the server needs a credential now (it may change while it runs)."""
    generate = app.openapi
    made: dict[bool, dict[str, Any]] = {}

    def openapi() -> dict[str, Any]:
        required = auth_required()
        if required not in made:
            document = copy.deepcopy(generate())
            _complete(document, server)
            _secure(document, required, server.metrics_public)
            made[required] = document
        return made[required]

    app.openapi = openapi  # type: ignore[method-assign]


def operation_id(route: APIRoute) -> str:
    """An operation's id: its route's name (``search``, ``search_upload``, ``list_documents``), which
    generated clients name their calls after; route names are unique (a test holds them so)."""
    return route.name


def _complete(document: dict[str, Any], server: ApiSettings) -> None:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    request = search_request_schema(server)
    schemas.update(request.pop("$defs", {}))
    batch = BatchSearchRequest.model_json_schema(ref_template=REF)
    batch.pop("$defs", None)  # SearchRequest and FiltersIn: as written here
    schemas["SearchRequest"] = request
    schemas["BatchSearchRequest"] = batch
    for name in REQUEST_SCHEMAS:
        _defaults_in_words(schemas[name])
    bodies = {
        "/v1/search": ("application/json", {"schema": {"$ref": REF.format(model="SearchRequest")}}),
        "/v1/search/batch": ("application/json", {"schema": {"$ref": REF.format(model="BatchSearchRequest")}}),
        "/v1/search/upload": ("multipart/form-data", search_form(request)),
        "/v1/documents": ("multipart/form-data", upload_form(server)),
    }  # fmt: skip
    paths = document.get("paths", {})
    for path, (media_type, body) in bodies.items():
        operation = paths.get(path, {}).get("post")
        if operation is not None:
            operation["requestBody"]["content"] = {media_type: body}


def _secure(document: dict[str, Any], required: bool, metrics_public: bool) -> None:
    """Security as enforced: none with auth off; with auth on, as FastAPI declared it from the routes'
    ``Credentials`` dependency, but not on a public ``/metrics``, and images and files by a key or a
    signed URL (``context.check_signed``)."""
    components = document.setdefault("components", {})
    operations = [(path, op) for path, ops in document.get("paths", {}).items() for op in ops.values()]
    if not required:
        for _, operation in operations:
            operation.pop("security", None)
        components.pop("securitySchemes", None)
        document["info"]["description"] = document["info"].get("description", "") + NO_AUTH_NOTE
        return
    components.setdefault("securitySchemes", {})[SIGNED] = SIGNED_SCHEME
    for path, operation in operations:
        if path in SIGNED_PATHS:
            operation["security"] = [{BEARER: []}, {SIGNED: []}]
        elif path == "/metrics" and metrics_public:
            operation.pop("security", None)


def search_request_schema(server: ApiSettings) -> dict[str, Any]:
    """``SearchRequest`` as JSON Schema: the text bounded by ``max_query_chars``, the image as base64."""
    schema = SearchRequest.model_json_schema(ref_template=REF)
    properties = schema["properties"]
    _string_branch(properties["text"])["maxLength"] = server.max_query_chars
    image = _string_branch(properties["image"])
    image.update(format="byte", contentMediaType="image/*")
    schema["description"] = f"{schema.get('description', '')}\n\n{AT_LEAST_ONE}".strip()
    return schema


def _defaults_in_words(schema: dict[str, Any]) -> None:
    """A request schema's defaults said in each property's description instead of ``default``. A request
    component with ``default`` reads as "always present" to generators that type responses
    (openapi-typescript makes every such field required, ``default: null`` ones included); an absent field
    takes its default on the server all the same."""
    for prop in schema.get("properties", {}).values():
        if "default" not in prop:
            continue
        default = prop.pop("default")
        if default is not None:
            words = f"Default: {json.dumps(default)}."
            prop["description"] = f"{prop['description']} {words}" if prop.get("description") else words


def search_form(request: dict[str, Any]) -> dict[str, Any]:
    """The multipart form of a search: each JSON field as a form field (``filters`` as a JSON part, or
    its fields flat), and the image and the video clip as file parts."""
    fields = {k: _plain(v) for k, v in request["properties"].items() if k not in ("image", "filters")}
    filters = FiltersIn.model_json_schema(ref_template=REF)["properties"]
    fields.update({name: _one_value(_plain(filters[name])) for name in FORM_FILTER_FIELDS})
    fields["filters"] = {"$ref": REF.format(model="FiltersIn"), "description": "As in the JSON body."}
    fields["image"] = {"type": "string", "format": "binary", "description": "Query image file."}
    fields["video"] = {
        "type": "string", "format": "binary",
        "description": "Query video clip (sampled as `mmsearch query --video` samples it).",
    }  # fmt: skip
    schema = {
        "type": "object",
        "description": f"A search with files. {AT_LEAST_ONE}",
        "properties": fields,
        "additionalProperties": False,
    }
    encoding = {
        "filters": {"contentType": "application/json"},
        "image": {"contentType": ", ".join(QUERY_IMAGE_TYPES)},
        "video": {"contentType": ", ".join(QUERY_VIDEO_TYPES)},
    }
    return {"schema": schema, "encoding": encoding}


def upload_form(server: ApiSettings) -> dict[str, Any]:
    return {
        "schema": {
            "type": "object",
            "properties": {
                "files": {
                    "type": "array",
                    "items": {"type": "string", "format": "binary"},
                    "minItems": 1,
                    "maxItems": server.max_upload_files,
                    "description": "PDFs, images and videos; each part's file name names the document "
                    "(folders kept, e.g. `docs/q3/report.pdf`); two parts may not share a name.",
                }
            },
            "required": ["files"],
            "additionalProperties": False,
        }
    }


def _string_branch(prop: dict[str, Any]) -> dict[str, Any]:
    """The ``{"type": "string"}`` part of an optional string property (pydantic writes ``anyOf``)."""
    for branch in prop.get("anyOf", [prop]):
        if branch.get("type") == "string":
            return branch
    raise ValueError(f"no string branch in {prop}")


def _one_value(prop: dict[str, Any]) -> dict[str, Any]:
    """A flat filter form field takes one value (several: the ``filters`` JSON part)."""
    branches = [b for b in prop.get("anyOf", [prop]) if b.get("type") != "array"]
    chosen = dict(branches[0]) if len(branches) == 1 else {"anyOf": branches}
    for key in ("description", "title"):
        if key in prop:
            chosen[key] = prop[key]
    return chosen


def _plain(prop: dict[str, Any]) -> dict[str, Any]:
    """A form field's schema: a form sends no nulls, so an optional field is its non-null branch."""
    branches = [b for b in prop.get("anyOf", [prop]) if b.get("type") != "null"]
    chosen = dict(branches[0]) if len(branches) == 1 else {"anyOf": branches}
    for key in ("description", "title"):
        if key in prop:
            chosen[key] = prop[key]
    return chosen
