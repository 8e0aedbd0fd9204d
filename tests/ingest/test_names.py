"""Document names, collections, groups and metadata: what is accepted, how it is normalised, what is refused."""

from __future__ import annotations

import unicodedata

import pytest

from mmsearch.errors import InvalidLabel, InvalidName
from mmsearch.ingest.names import (
    DEFAULT_COLLECTION,
    MAX_NAME_BYTES,
    Labels,
    check_collection,
    check_groups,
    check_metadata,
    normalise_name,
    parse_meta_options,
)
from mmsearch.ingest.units import doc_id_for


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("report.pdf", "report.pdf"),
        ("q3/report.pdf", "q3/report.pdf"),
        (unicodedata.normalize("NFD", "café.png"), "café.png"),  # NFD → NFC
        ("ﬁle.png", "file.png"),  # the ﬁ ligature folds: the same document as file.png
        ("ｒｅｐｏｒｔ（１）.pdf", "report(1).pdf"),  # full-width forms fold too
        ("  report.pdf  ", "report.pdf"),  # surrounding spaces of each part go
        (" q3 / report.pdf", "q3/report.pdf"),
        ("re\u200bport.pdf", "report.pdf"),  # zero-width space removed
        ("re\u00adport.pdf", "report.pdf"),  # soft hyphen removed
        ("\ufeffreport.pdf", "report.pdf"),  # BOM removed
        ("\u202egnp.pdf", "gnp.pdf"),  # bidi override removed
        ("a b.tar.gz", "a b.tar.gz"),
        (".hidden.pdf", ".hidden.pdf"),
        ("x" * 251 + ".pdf", "x" * 251 + ".pdf"),  # exactly 255 bytes
    ],
)
def test_names_are_normalised(raw: str, name: str) -> None:
    assert normalise_name(raw) == name


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("", "empty"),
        ("....png", "stem and an extension"),
        (" .png", "stem and an extension"),
        ("\u200b.png", "stem and an extension"),
        (".png", "stem and an extension"),
        ("png", "stem and an extension"),
        ("report.", "extension"),
        ("report.p df", "extension"),
        ("report.abcdefghijklmnopq", "extension"),
        ("bad\x00name.pdf", "control character"),
        ("bad\nname.pdf", "control character"),
        ("bad\x7fname.pdf", "control character"),
        ("bad\u2028name.pdf", "control character"),
        ("C:\\Users\\scan.png", "backslash"),
        ("../etc/passwd.pdf", "'..'"),
        ("a/./b.pdf", "'..'"),
        ("/etc/x.pdf", "empty"),
        ("a//b.pdf", "empty"),
        ("a/ /b.pdf", "empty"),
        ("x" * 252 + ".pdf", "bytes"),
        ("é" * 130 + ".pdf", "bytes"),  # 130 characters, 264 bytes
    ],
)
def test_bad_names_are_refused_with_a_reason(raw: str, why: str) -> None:
    with pytest.raises(InvalidName, match=why) as caught:
        normalise_name(raw)
    assert caught.value.http_status == 400 and caught.value.code == "invalid_name"


def test_the_four_issue_names_are_not_all_png() -> None:
    refused = 0
    for raw in ("....png", " .png", "\u200b.png"):
        with pytest.raises(InvalidName):
            normalise_name(raw)
        refused += 1
    assert refused == 3
    assert len(normalise_name("x" * 251 + ".pdf").encode()) == MAX_NAME_BYTES


def test_one_name_one_id_per_collection() -> None:
    nfc, nfd = "café.png", unicodedata.normalize("NFD", "café.png")
    assert nfc != nfd
    assert doc_id_for("default", normalise_name(nfc)) == doc_id_for("default", normalise_name(nfd))
    assert doc_id_for("finance", "contract.pdf") != doc_id_for("legal", "contract.pdf")
    assert doc_id_for("default", normalise_name("ﬁle.png")) == doc_id_for("default", "file.png")


@pytest.mark.parametrize("good", ["finance", "a", "legal-2024", "x_y", "0" * 64])
def test_collections(good: str) -> None:
    assert check_collection(good) == good


@pytest.mark.parametrize("bad", ["Finance", "-x", "_x", "a b", "a/b", "é", "0" * 65, ".incoming", "a.b"])
def test_bad_collections_are_refused(bad: str) -> None:
    with pytest.raises(InvalidLabel, match="collection"):
        check_collection(bad)


def test_no_collection_is_default() -> None:
    assert check_collection(None) == check_collection("  ") == DEFAULT_COLLECTION


def test_groups_split_strip_dedupe_and_are_bounded() -> None:
    assert check_groups(["finance, execs", "execs", " ", "legal"]) == ("finance", "execs", "legal")
    with pytest.raises(InvalidLabel, match="at most 32"):
        check_groups([",".join(f"g{i}" for i in range(33))])
    with pytest.raises(InvalidLabel, match="longer than 128"):
        check_groups(["g" * 129])
    with pytest.raises(InvalidLabel, match="control"):
        check_groups(["fin\x00ance"])
    with pytest.raises(InvalidLabel, match="invisible"):
        check_groups(["fin\u200bance"])


def test_metadata_accepts_flat_scalars_and_string_lists() -> None:
    meta = {"department": "finance", "year": 2024, "ratio": 0.5, "final": True, "tags": ["q3", "board"],
            "cost-center": "42", "2fa": False}  # fmt: skip
    assert check_metadata(meta) == meta
    assert check_metadata(None) == {}


@pytest.mark.parametrize(
    ("meta", "why"),
    [
        ([1, 2], "JSON object"),
        ("x", "JSON object"),
        ({"a": {"b": 1}}, "dict is not allowed"),
        ({"a": None}, "NoneType is not allowed"),
        ({"a": [1]}, "strings only"),
        ({"a": float("nan")}, "finite"),
        ({"a": 2**60}, "2\\^53"),
        ({"a.b": 1}, "metadata key"),
        ({"a b": 1}, "metadata key"),
        ({"": 1}, "metadata key"),
        ({"k" * 65: 1}, "metadata key"),
        ({f"k{i}": 1 for i in range(33)}, "33 keys"),
        ({"a": "x" * 1025}, "1025 characters"),
        ({"a": ["x"] * 65}, "65 values"),
        ({f"k{i}": "x" * 1000 for i in range(9)}, "bytes as JSON"),
        ({"a": "x\x00y"}, "control"),
    ],
)
def test_bad_metadata_is_refused(meta: object, why: str) -> None:
    with pytest.raises(InvalidLabel, match=why) as caught:
        check_metadata(meta)
    assert caught.value.http_status == 422


def test_meta_options_are_typed_and_repeat_into_lists() -> None:
    parsed = parse_meta_options(
        ["department=finance", "year=2024", "final=true", "code=007", "tag=a", "tag=b"]
    )
    assert parsed == {"department": "finance", "year": 2024, "final": True, "code": "007", "tag": ["a", "b"]}
    with pytest.raises(InvalidLabel, match="KEY=VALUE"):
        parse_meta_options(["department"])
    with pytest.raises(InvalidLabel, match="metadata key"):
        parse_meta_options(["bad key=1"])


def test_labels_stamp_changes_with_groups_and_metadata() -> None:
    assert Labels().stamp() == ""
    a = Labels.checked("finance", ["finance"], {"year": 2024})
    b = Labels.checked("finance", ["finance", "execs"], {"year": 2024})
    assert a.stamp() and a.stamp() != b.stamp()
    assert Labels.checked("finance", ["finance"], {"year": 2024}).stamp() == a.stamp()
