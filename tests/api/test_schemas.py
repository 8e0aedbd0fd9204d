"""The search filter fields have one home, ``Filters``: the HTTP model, the form and the OpenAPI form
all follow it."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from mmsearch.api.openapi import search_form, search_request_schema
from mmsearch.api.routes.search import FORM_FIELDS
from mmsearch.api.schemas import FILTER_FIELDS, FORM_FILTER_FIELDS, FiltersIn, filters_body
from mmsearch.api.settings import ApiSettings
from mmsearch.index.conditions import Bounds
from mmsearch.index.store import Filters


def test_the_filter_fields_are_those_of_filters_but_the_scope() -> None:
    wire = {"not": "not_"}
    assert {wire.get(name, name) for name in FILTER_FIELDS} == {f.name for f in fields(Filters)} - {"scope"}
    assert "scope" not in FILTER_FIELDS  # set by the server, never by a request


def test_every_one_value_filter_is_a_flat_form_field_of_the_route_and_the_openapi_form() -> None:
    assert set(FORM_FILTER_FIELDS) <= set(FORM_FIELDS)
    assert not {"metadata", "metadata_ranges", "not"} & set(FORM_FIELDS)  # those: the `filters` JSON part
    form = search_form(search_request_schema(ApiSettings()))["schema"]["properties"]
    assert set(FORM_FILTER_FIELDS) <= set(form)
    assert form["modality"]["enum"] == ["page", "image", "video"]  # the field's own schema, made flat


def test_a_filter_converts_to_filters() -> None:
    given = FiltersIn.model_validate({"path_prefix": "/docs", "modality": "page", "ingested_after": 10})
    assert given.to_filters() == Filters(path_prefix="/docs", modality="page", ingested_after=10.0)
    assert FiltersIn().to_filters() is None
    assert FiltersIn.model_validate({"not": {}}).to_filters() is None


def test_lists_metadata_ranges_and_not_convert_and_go_back_to_json() -> None:
    body = {
        "collection": ["finance", "execs"], "modality": ["page", "image"], "groups": "finance",
        "metadata": {"year": [2023, 2024], "dept": "fin", "ratio": 0.5, "final": True},
        "metadata_ranges": {"year": {"gte": 2023}, "published": {"lt": "2024-06-01"}},
        "not": {"name": ["draft.pdf"], "metadata": {"status": "void"}},
    }  # fmt: skip
    filters = FiltersIn.model_validate(body).to_filters()
    assert filters == Filters(
        collection=("finance", "execs"), modality=("page", "image"), groups="finance",
        metadata={"year": [2023, 2024], "dept": "fin", "ratio": 0.5, "final": True},
        metadata_ranges={"year": Bounds(gte=2023), "published": Bounds(lt=datetime(2024, 6, 1, tzinfo=UTC))},
        not_=Filters(name="draft.pdf", metadata={"status": "void"}),
    )  # fmt: skip
    assert filters is not None
    assert FiltersIn.model_validate(filters_body(filters)).to_filters() == filters  # the CLI's --server


@pytest.mark.parametrize(
    ("body", "where", "message"),
    [
        ({"colour": "red"}, ("colour",), "Extra inputs"),
        ({"modality": "audio"}, ("modality",), "'audio': Input should be 'page', 'image' or 'video'"),
        ({"modality": []}, ("modality",), "list of 1 to 100, not 0"),
        ({"name": [f"n{i}" for i in range(101)]}, ("name",), "list of 1 to 100, not 101"),
        ({"name": 5}, ("name",), "valid string"),
        ({"collection": ["  "]}, ("collection",), "pattern"),
        ({"metadata": {"a b": 1}}, ("metadata", "a b", "[key]"), "pattern"),
        ({"metadata": {"k": {"x": 1}}}, ("metadata", "k"), "valid string"),
        ({"metadata": {f"k{i}": 1 for i in range(33)}}, ("metadata",), "at most 32"),
        ({"metadata_ranges": {"year": {"gte": 5, "lt": 1}}}, (), "range is empty"),
        ({"metadata_ranges": {"year": {}}}, (), "at least one of gte, gt, lte, lt"),
        ({"metadata_ranges": {"year": {"gte": 1, "lt": "2024-01-01"}}}, (), "mixes numbers and dates"),
        ({"metadata_ranges": {"year": {"from": 1}}}, ("metadata_ranges", "year", "from"), "Extra inputs"),
        ({"not": {"not": {"modality": "page"}}}, ("not", "not"), "Extra inputs"),
        ({"ingested_after": "2024-01-02", "ingested_before": "2024-01-01"}, (), "time range is empty"),
        ({"name": [f"{i:03d}" + "n" * 1000 for i in range(40)]}, (), "bytes of text; at most"),
    ],
)  # fmt: skip
def test_bad_filters_are_validation_errors_naming_the_field(
    body: dict[str, object], where: tuple[str, ...], message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        FiltersIn.model_validate(body)
    errors = caught.value.errors()
    assert any(e["loc"][: len(where)] == where and message in e["msg"] for e in errors), errors


def test_the_openapi_filter_schema_is_precise() -> None:
    schema = FiltersIn.model_json_schema()
    props = schema["properties"]
    one, many = props["collection"]["anyOf"][:2]
    assert one["type"] == "string" and (many["type"], many["maxItems"]) == ("array", 100)
    metadata = props["metadata"]["anyOf"][0]
    assert metadata["additionalProperties"] is False and metadata["maxProperties"] == 32
    assert list(metadata["patternProperties"]) == ["^[A-Za-z0-9_-]{1,64}$"]
    bounds = schema["$defs"]["RangeIn"]
    assert bounds["minProperties"] == 1 and bounds["additionalProperties"] is False
    assert {b.get("type") for b in bounds["properties"]["gte"]["anyOf"]} == {"number", "string"}  # no null
    assert "not" in props and "scope" not in props
