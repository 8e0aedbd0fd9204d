"""Documents addressed by (collection, name) through a real uvicorn: same names in two collections stay two
documents, replace=false is a 409, NFC/NFD names are one document, labels ride in the upload ahead of the
files, delete by name or id, and no answer carries a server path."""

from __future__ import annotations

import json
import time
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import WRITE_KEY, LiveServer, budget, live_server, tiny_settings

from mmsearch.api.app import create_app
from mmsearch.api.services.parts import Services, open_services
from mmsearch.config import Settings
from mmsearch.ingest.units import doc_id_for
from mmsearch.samples import make_image, make_pdf

pytestmark = pytest.mark.slow

WRITE = {"Authorization": f"Bearer {WRITE_KEY}"}


@pytest.fixture(scope="module")
def served(
    tiny_models: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Settings, LiveServer]]:
    root = tmp_path_factory.mktemp("api-collections")
    settings = tiny_settings(root / "data", tiny_models, small_media=True, server={"write_keys": [WRITE_KEY]})
    services: Services = open_services(settings)
    try:
        with live_server(create_app(settings, services)) as live:
            yield settings, live
    finally:
        services.close()


@pytest.fixture(scope="module")
def client(served: tuple[Settings, LiveServer]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served[1].url, headers=WRITE, timeout=120) as http:
        yield http


@pytest.fixture(scope="module")
def contracts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("contracts")
    make_pdf(folder / "finance.pdf", 1, topic="finance")
    make_pdf(folder / "legal.pdf", 1, topic="law")
    make_image(folder / "cafe.png", "png", (120, 90), text="cafe")
    return {p.stem: p.read_bytes() for p in folder.iterdir()}


def follow(client: httpx.Client, response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 202, response.text
    job = response.json()
    deadline = time.monotonic() + budget(120)
    while job["state"] in ("queued", "running"):
        assert time.monotonic() < deadline, job
        time.sleep(0.05)
        job = client.get(job["url"]).json()
    return job


def multipart(fields: list[tuple[str, str]], files: list[tuple[str, bytes]]) -> tuple[bytes, str]:
    """A multipart body with the parts in exactly this order (fields first, unless a test says otherwise)."""
    out = b""
    for name, value in fields:
        out += f'--b\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    for filename, data in files:
        head = f'--b\r\nContent-Disposition: form-data; name="files"; filename="{filename}"\r\n\r\n'
        out += head.encode() + data + b"\r\n"
    return out + b"--b--\r\n", "multipart/form-data; boundary=b"


def no_server_path(settings: Settings, *responses: httpx.Response) -> None:
    data_dir = str(settings.data_dir.resolve())
    for response in responses:
        assert data_dir not in response.text and "source_path" not in response.text, response.text[:400]


def test_the_same_name_in_two_collections_is_two_documents(
    served: tuple[Settings, LiveServer], client: httpx.Client, contracts: dict[str, bytes]
) -> None:
    settings, _ = served
    finance = follow(client, client.post("/v1/documents", data={"collection": "finance", "groups": "finance,execs",
                     "metadata": json.dumps({"department": "finance", "year": 2024})},
                     files=[("files", ("contract.pdf", contracts["finance"]))]))  # fmt: skip
    legal = follow(client, client.post("/v1/documents", params={"collection": "legal"},
                   files=[("files", ("contract.pdf", contracts["legal"]))]))  # fmt: skip
    assert (finance["collection"], legal["collection"]) == ("finance", "legal")
    f, g = finance["files"][0], legal["files"][0]
    assert (f["status"], g["status"]) == ("indexed", "indexed") and not f["replaces"] and not g["replaces"]
    assert (
        f["doc_id"]
        == doc_id_for("finance", "contract.pdf")
        != g["doc_id"]
        == doc_id_for("legal", "contract.pdf")
    )
    stored = settings.data_dir / "uploads"
    assert (stored / "finance" / "contract.pdf").read_bytes() == contracts["finance"]
    assert (stored / "legal" / "contract.pdf").read_bytes() == contracts["legal"]

    listing = client.get("/v1/documents")
    docs = {(d["collection"], d["name"]): d for d in listing.json()["documents"]}
    assert {("finance", "contract.pdf"), ("legal", "contract.pdf")} <= set(docs)
    fin = docs[("finance", "contract.pdf")]
    assert fin["groups"] == ["finance", "execs"] and fin["metadata"] == {
        "department": "finance",
        "year": 2024,
    }
    assert fin["file_name"] == "contract.pdf"
    search = client.post("/v1/search", json={"text": "contract", "rerank": False, "top_k": 10})
    hits = {h["doc_id"]: h for h in search.json()["hits"]}
    assert hits[f["doc_id"]]["collection"] == "finance" and hits[f["doc_id"]]["name"] == "contract.pdf"
    assert hits[f["doc_id"]]["metadata"]["year"] == 2024 and hits[g["doc_id"]]["groups"] == []
    original = client.get(hits[g["doc_id"]]["file_url"])
    assert original.content == contracts["legal"]
    assert 'filename="contract.pdf"' in original.headers["content-disposition"]
    jobs = client.get("/v1/jobs")
    broken = follow(client, client.post("/v1/documents", params={"collection": "finance"},
                    files=[("files", ("broken.pdf", b"%PDF-1.7\n" + b"\x00" * 300))]))  # fmt: skip
    assert broken["files"][0]["code"] == "corrupt_file" and broken["files"][0]["name"] == "broken.pdf"
    assert not broken["files"][0]["message"].startswith("broken.pdf")  # the name once: in `name`
    missing = client.get(f"/v1/documents/{doc_id_for('finance', 'nope.pdf')}/file")
    no_server_path(settings, listing, search, jobs, client.get(finance["url"]), client.get(broken["url"]),
                   client.get("/readyz"), client.get("/v1/info"), missing)  # fmt: skip


def test_the_same_name_again_replaces_and_says_so_and_replace_false_is_409(
    served: tuple[Settings, LiveServer], client: httpx.Client, contracts: dict[str, bytes]
) -> None:
    settings, _ = served
    first = follow(client, client.post("/v1/documents", params={"collection": "hr"},
                   files=[("files", ("memo.pdf", contracts["finance"]))]))  # fmt: skip
    again = client.post(
        "/v1/documents", params={"collection": "hr"}, files=[("files", ("memo.pdf", contracts["legal"]))]
    )
    assert again.json()["files"][0]["replaces"] is True  # said at once
    done = follow(client, again)
    assert done["files"][0]["status"] == "indexed" and done["files"][0]["replaces"] is True
    assert done["files"][0]["doc_id"] == first["files"][0]["doc_id"]
    refused = client.post("/v1/documents", data={"collection": "hr", "replace": "false"},
                          files=[("files", ("memo.pdf", contracts["finance"]))])  # fmt: skip
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "name_taken"
    assert "memo.pdf" in refused.json()["error"]["message"]
    fresh = follow(client, client.post("/v1/documents", params={"collection": "hr", "replace": "false"},
                   files=[("files", ("other.pdf", contracts["finance"]))]))  # fmt: skip
    assert fresh["files"][0]["status"] == "indexed" and fresh["files"][0]["replaces"] is False
    hr = [d for d in client.get("/v1/documents").json()["documents"] if d["collection"] == "hr"]
    assert sorted(d["name"] for d in hr) == ["memo.pdf", "other.pdf"]
    assert (settings.data_dir / "uploads" / "hr" / "memo.pdf").read_bytes() == contracts["legal"]
    assert not list((settings.data_dir / "uploads" / ".incoming").iterdir())


def test_nfc_and_nfd_names_are_one_document_and_lookalikes_fold(
    client: httpx.Client, contracts: dict[str, bytes]
) -> None:
    nfc, nfd = "café.png", unicodedata.normalize("NFD", "café.png")
    one = follow(client, client.post("/v1/documents", params={"collection": "names"},
                 files=[("files", (nfc, contracts["cafe"]))]))  # fmt: skip
    two = follow(client, client.post("/v1/documents", params={"collection": "names"},
                 files=[("files", (nfd, contracts["cafe"]))]))  # fmt: skip
    assert one["files"][0]["name"] == two["files"][0]["name"] == nfc
    assert two["files"][0]["status"] == "unchanged" and one["files"][0]["doc_id"] == doc_id_for("names", nfc)
    follow(client, client.post("/v1/documents", params={"collection": "names"},
           files=[("files", ("file.png", contracts["cafe"]))]))  # fmt: skip
    lookalike = follow(client, client.post("/v1/documents", params={"collection": "names"},
                       files=[("files", ("ﬁle.png", contracts["cafe"]))]))  # fmt: skip
    assert lookalike["files"][0]["name"] == "file.png" and lookalike["files"][0]["status"] == "unchanged"
    names = [d["name"] for d in client.get("/v1/documents").json()["documents"] if d["collection"] == "names"]
    assert sorted(names) == ["café.png", "file.png"]
    both = client.post("/v1/documents", params={"collection": "names"},
                       files=[("files", (nfc, contracts["cafe"])), ("files", (nfd, contracts["cafe"]))])  # fmt: skip
    assert both.status_code == 409 and "sent twice" in both.json()["error"]["message"]


@pytest.mark.parametrize("name", ["....png", " .png", "\u200b.png", "png", "a/../b.png", "x\x01.png"])
def test_bad_names_are_400_and_store_nothing(
    served: tuple[Settings, LiveServer], client: httpx.Client, contracts: dict[str, bytes], name: str
) -> None:
    settings, _ = served
    body, kind = multipart([("collection", "names")], [(name, contracts["cafe"])])
    response = client.post("/v1/documents", content=body, headers={"Content-Type": kind})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_name"
    assert not list((settings.data_dir / "uploads" / ".incoming").iterdir())


@pytest.mark.parametrize(
    ("fields", "params", "needle"),
    [
        ([("collection", "Finance")], {}, "collection 'Finance'"),
        ([("collection", "a/b")], {}, "collection"),
        ([("metadata", "[1, 2]")], {}, "JSON object"),
        ([("metadata", "{not json")], {}, "not JSON"),
        ([("metadata", json.dumps({"a": {"b": 1}}))], {}, "not allowed"),
        ([("groups", ",".join(f"g{i}" for i in range(40)))], {}, "at most 32"),
        ([("replace", "maybe")], {}, "true or false"),
        ([("collection", "a"), ("collection", "b")], {}, "sent 2 times"),
        ([("collection", "a")], {"collection": "b"}, "both as a query parameter and as a form field"),
        ([], {"collection": "-bad"}, "collection"),
    ],
)
def test_bad_labels_are_422_before_any_byte_is_stored(
    served: tuple[Settings, LiveServer], client: httpx.Client, contracts: dict[str, bytes],
    fields: list[tuple[str, str]], params: dict[str, str], needle: str,
) -> None:  # fmt: skip
    settings, _ = served
    body, kind = multipart(fields, [("x.png", contracts["cafe"])])
    response = client.post("/v1/documents", content=body, params=params, headers={"Content-Type": kind})
    assert response.status_code == 422, response.text
    assert (
        response.json()["error"]["code"] == "invalid_label" and needle in response.json()["error"]["message"]
    )
    assert not list((settings.data_dir / "uploads" / ".incoming").iterdir())


def test_a_label_field_after_a_file_is_422(
    served: tuple[Settings, LiveServer], client: httpx.Client, contracts: dict[str, bytes]
) -> None:
    settings, _ = served
    body, kind = multipart([], [("late.png", contracts["cafe"])])
    body = (
        body.removesuffix(b"--b--\r\n")
        + b'--b\r\nContent-Disposition: form-data; name="collection"\r\n\r\nx\r\n--b--\r\n'
    )
    response = client.post("/v1/documents", content=body, headers={"Content-Type": kind})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and "before the files" in error["message"]
    assert error["details"][0]["field"] == "form.collection"
    assert not list((settings.data_dir / "uploads" / ".incoming").iterdir())


def test_delete_by_name_and_by_id(
    served: tuple[Settings, LiveServer], client: httpx.Client, contracts: dict[str, bytes]
) -> None:
    settings, _ = served
    for collection in ("ops", "sales"):
        follow(client, client.post("/v1/documents", params={"collection": collection},
               files=[("files", ("plan.pdf", contracts["finance"]))]))  # fmt: skip
    gone = client.delete("/v1/documents", params={"collection": "ops", "name": "plan.pdf"})
    assert gone.status_code == 200, gone.text
    assert gone.json() == {"doc_id": doc_id_for("ops", "plan.pdf"), "collection": "ops", "name": "plan.pdf",
                           "deleted_points": 1}  # fmt: skip
    assert not (settings.data_dir / "uploads" / "ops" / "plan.pdf").exists()
    assert (settings.data_dir / "uploads" / "sales" / "plan.pdf").is_file()  # the other collection's stays
    again = client.delete("/v1/documents", params={"collection": "ops", "name": "plan.pdf"})
    assert again.status_code == 404 and again.json()["error"]["code"] == "not_found"
    bad = client.delete("/v1/documents", params={"collection": "ops", "name": "....png"})
    assert bad.status_code == 404  # a name no document could have is not there
    by_id = client.delete(f"/v1/documents/{doc_id_for('sales', 'plan.pdf')}")
    assert by_id.status_code == 200 and by_id.json()["name"] == "plan.pdf"
    left = {(d["collection"], d["name"]) for d in client.get("/v1/documents").json()["documents"]}
    assert not {("ops", "plan.pdf"), ("sales", "plan.pdf")} & left
    no_server_path(settings, gone, by_id)


def test_replace_false_holds_for_two_uploads_of_one_name_in_flight(
    client: httpx.Client, contracts: dict[str, bytes]
) -> None:
    """Both may be accepted while neither is indexed; the job that comes second then fails that file
    (``name_taken``) instead of replacing the first: the check is made again when the file is ingested."""
    params = {"collection": "race", "replace": "false"}
    first = client.post("/v1/documents", params=params, files=[("files", ("one.pdf", contracts["finance"]))])
    second = client.post("/v1/documents", params=params, files=[("files", ("one.pdf", contracts["legal"]))])
    assert follow(client, first)["files"][0]["status"] == "indexed"
    if second.status_code == 409:  # the first was already indexed when the second arrived
        assert second.json()["error"]["code"] == "name_taken"
    else:
        late = follow(client, second)["files"][0]
        assert (late["status"], late["code"]) == ("failed", "name_taken")
    docs = [d for d in client.get("/v1/documents").json()["documents"] if d["collection"] == "race"]
    assert [(d["name"], d["doc_id"]) for d in docs] == [("one.pdf", doc_id_for("race", "one.pdf"))]
    original = client.get(docs[0]["file_url"])
    assert original.content == contracts["finance"]  # the first one's bytes stayed
