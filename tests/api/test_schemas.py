"""The search filter fields have one home, ``Filters``: the HTTP model, the form and the OpenAPI form
all follow it."""

from __future__ import annotations

from dataclasses import fields

from mmsearch.api.openapi import search_form, search_request_schema
from mmsearch.api.routes.search import FORM_FIELDS
from mmsearch.api.schemas import FILTER_FIELDS, FiltersIn
from mmsearch.api.settings import ApiSettings
from mmsearch.index.store import Filters


def test_the_filter_fields_are_those_of_filters() -> None:
    assert FILTER_FIELDS == tuple(field.name for field in fields(Filters) if field.name != "scope")
    assert set(FiltersIn.model_fields) == set(FILTER_FIELDS)
    assert "scope" not in FILTER_FIELDS  # set by the server from the principal, never by a request


def test_every_filter_is_a_flat_form_field_of_the_route_and_the_openapi_form() -> None:
    assert set(FILTER_FIELDS) <= set(FORM_FIELDS)
    form = search_form(search_request_schema(ApiSettings()))["schema"]["properties"]
    assert set(FILTER_FIELDS) <= set(form)
    assert form["modality"]["enum"] == ["page", "image", "video"]  # the field's own schema, made flat


def test_a_filter_converts_to_filters() -> None:
    given = FiltersIn.model_validate({"path_prefix": "/docs", "modality": "page", "ingested_after": 10})
    assert given.to_filters() == Filters(path_prefix="/docs", modality="page", ingested_after=10.0)
    assert FiltersIn().to_filters() is None
