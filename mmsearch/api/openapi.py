"""The OpenAPI document, made exact enough for a generated client (and a fuzzer) to trust it.

FastAPI writes most of it from the routes. What it cannot know is added here, once, on first request:

- the search request bodies: routes read them by hand (to bound them while they stream, ``edge/body.py``),
  so FastAPI never sees ``SearchRequest``; its schema (and ``FiltersIn``) go into
  ``components/schemas``, with this server's own limits (``server.max_query_chars``) and the rule
  that a query has text with something in it, an image, or both;
- the multipart search form: the same fields as form fields, ``filters`` as a JSON part (its one-value
  fields also flat), and the image types the server decodes;
- the upload form: one to ``server.max_upload_files`` ``files`` parts, nothing else.

``tests/api/test_openapi.py`` runs schemathesis against a live server with every check on.
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI

from mmsearch.api.schemas import FORM_FILTER_FIELDS, NOT_BLANK, FiltersIn, SearchRequest
from mmsearch.api.settings import ApiSettings

REF = "#/components/schemas/{model}"
QUERY_IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp", "image/gif", "image/bmp", "image/tiff")
# Fields that make a query on their own (w10's `video` joins them when the model has it).
QUERY_FIELDS = ("text", "image", "video")


def install(app: FastAPI, server: ApiSettings) -> None:
    """Patch ``app.openapi`` so the document it serves carries the additions above."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            _complete(document, server)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _complete(document: dict[str, Any], server: ApiSettings) -> None:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    request = search_request_schema(server)
    schemas.update(request.pop("$defs", {}))
    schemas["SearchRequest"] = request
    paths = document.get("paths", {})
    search = paths.get("/v1/search", {}).get("post")
    if search is not None:
        content = search["requestBody"]["content"]
        content["application/json"] = {"schema": {"$ref": REF.format(model="SearchRequest")}}
        content["multipart/form-data"] = search_form(request)
    upload = paths.get("/v1/documents", {}).get("post")
    if upload is not None:
        upload["requestBody"]["content"]["multipart/form-data"] = upload_form(server)


def search_request_schema(server: ApiSettings) -> dict[str, Any]:
    """``SearchRequest`` as JSON Schema: the text bounded by ``max_query_chars``, the image as base64,
    and at least one of text (not blank) or image."""
    schema = SearchRequest.model_json_schema(ref_template=REF)
    properties = schema["properties"]
    _string_branch(properties["text"])["maxLength"] = server.max_query_chars
    image = _string_branch(properties["image"])
    image.update(format="byte", contentMediaType="image/*")
    present = [name for name in QUERY_FIELDS if name in properties]
    schema["anyOf"] = [
        {"required": [name], "properties": {name: {"type": "string", **({"pattern": NOT_BLANK} if name == "text" else {})}}}
        for name in present
    ]  # fmt: skip
    schema.setdefault("$defs", {})["FiltersIn"] = FiltersIn.model_json_schema(ref_template=REF)
    return schema


def search_form(request: dict[str, Any]) -> dict[str, Any]:
    """The multipart form of a search: each JSON field as a form field (``filters`` as a JSON part, or
    its fields flat), and the image as a file part."""
    fields = {
        k: _plain(v) for k, v in request["properties"].items() if k not in ("image", "video", "filters")
    }
    filters = FiltersIn.model_json_schema(ref_template=REF)["properties"]
    fields.update({name: _one_value(_plain(filters[name])) for name in FORM_FILTER_FIELDS})
    fields["filters"] = {"$ref": REF.format(model="FiltersIn"), "description": "As in the JSON body."}
    for name in ("image", "video"):
        if name in request["properties"]:
            fields[name] = {"type": "string", "format": "binary", "description": f"Query {name} file."}
    schema = {
        "type": "object",
        "properties": fields,
        "additionalProperties": False,
        "anyOf": copy.deepcopy(request["anyOf"]),
    }
    for branch in schema["anyOf"]:
        for name in ("image", "video"):
            if name in branch["properties"]:
                branch["properties"][name] = {"type": "string", "format": "binary"}
    schema["anyOf"] = [b for b in schema["anyOf"] if set(b["required"]) <= set(fields)]
    encoding = {
        "filters": {"contentType": "application/json"},
        "image": {"contentType": ", ".join(QUERY_IMAGE_TYPES)},
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
