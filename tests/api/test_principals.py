"""Principals over the wire, under a real uvicorn: two departments on one server.

Legal's documents are in the ``legal`` collection, finance's in ``finance`` (both hold a
``contract.pdf``; finance's ``board.pdf`` is for the ``execs`` group only), ingested as ``mmsearch
ingest --collection`` does. Finance is a managed key and an OIDC token (from the loopback stand-in
provider). Whatever filters, ids, names or collections finance sends, it never sees, lists, downloads,
deletes or cancels anything of legal's, nor a document of a group it is not in. Bad tokens are 401 each;
a key revoked with the CLI stops working on the running server; ``GET /v1/me`` says who the caller is.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import READ_KEY, WRITE_KEY, live_server

from mmsearch import components
from mmsearch.access.keys import mint
from mmsearch.access.principal import Role
from mmsearch.api.app import create_app
from mmsearch.api.services.job_store import new_job_id
from mmsearch.api.services.parts import Services, open_services
from mmsearch.config import Settings
from mmsearch.ingest.names import Labels
from mmsearch.samples import make_landscape, make_pdf
from tests.oidc_standin import CLIENT_ID, OidcStandIn, running_standin
from tests.support import budget, run_cli, tiny_settings

pytestmark = pytest.mark.slow

MAPPING = [
    {"idp_group": "finance", "role": "writer", "collections": ["finance"]},  # document group "finance"
    {"idp_group": "execs", "role": "reader", "collections": ["finance"]},  # document group "execs"
    {"idp_group": "legal", "role": "reader", "collections": ["legal"]},
]


@dataclass
class Portal:
    url: str
    settings: Settings
    services: Services
    provider: OidcStandIn
    keys: dict[str, str]  # name -> plain key
    legal_job: str
    board_job: str  # finance, for the execs group only

    def as_key(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[name]}"}

    def as_user(self, user: str, groups: list[str], **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.provider.token(user, groups, **claims)}"}


def ingest_as(settings: Settings, services: Services, labels: Labels, paths: list[Path]) -> None:
    with components.build_manifest(settings) as manifest:
        indexer = components.build_indexer(settings, services.embedder, services.store, manifest, None)
        indexer.labels = labels
        report = indexer.run(paths)
    assert not report.failed, report.failed


@pytest.fixture(scope="module")
def portal(tiny_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    root = tmp_path_factory.mktemp("portal")
    legal, finance, board = root / "legal", root / "finance", root / "board"
    for folder in (legal, finance, board):
        folder.mkdir()
    make_pdf(legal / "nda.pdf", 2, topic="finance")
    make_pdf(legal / "contract.pdf", 1, topic="birds", with_tables=False)
    make_landscape(legal / "site.jpg", (320, 200))
    make_pdf(finance / "contract.pdf", 1, topic="finance")
    make_pdf(board / "board.pdf", 1, topic="finance")
    with running_standin() as provider:
        access = {"oidc": {"issuer": provider.issuer, "client_id": CLIENT_ID, "mapping": MAPPING}}
        server = {"read_keys": [READ_KEY], "write_keys": [WRITE_KEY]}
        index = {"facets": ["department"]}  # counted by GET /v1/facets
        settings = tiny_settings(
            root / "data", tiny_models, small_media=True, access=access, server=server, index=index
        )
        services = open_services(settings)
        try:
            ingest_as(settings, services, Labels.checked("legal", metadata={"department": "law"}), [legal])
            ingest_as(
                settings, services, Labels.checked("finance", metadata={"department": "money"}), [finance]
            )
            execs = Labels.checked("finance", ["execs"], metadata={"department": "board"})
            ingest_as(settings, services, execs, [board])
            store = components.build_key_store(settings)
            keys = {}
            for name, role, collections, groups in [
                ("finance-reader", Role.READER, ["finance"], ["finance"]),
                ("finance-writer", Role.WRITER, ["finance"], None),
                ("legal-reader", Role.READER, ["legal"], None),
            ]:
                keys[name], record = mint(name, role, collections, groups)
                store.add(record)
            legal_job = new_job_id()
            services.jobs.jobs.create(legal_job, [("contract.pdf", 10)], Labels.checked("legal"))
            services.jobs.cancel(legal_job)  # finished: the worker never runs it
            board_job = new_job_id()
            services.jobs.jobs.create(board_job, [("minutes.pdf", 10)], Labels.checked("finance", ["execs"]))
            services.jobs.cancel(board_job)
            with live_server(create_app(settings, services)) as live:
                yield Portal(live.url, settings, services, provider, keys, legal_job, board_job)
        finally:
            services.close()


def finance_principals(portal: Portal) -> list[dict[str, str]]:
    return [
        portal.as_key("finance-reader"),
        portal.as_key("finance-writer"),
        portal.as_user("fiona", ["finance"]),
    ]


def everything(portal: Portal) -> list[dict[str, Any]]:
    """What is there, as the global reader key lists it."""
    listed = httpx.get(f"{portal.url}/v1/documents", headers={"Authorization": f"Bearer {READ_KEY}"})
    assert listed.status_code == 200, listed.text
    return listed.json()["documents"]


def legal_documents(portal: Portal) -> list[dict[str, Any]]:
    return [d for d in everything(portal) if d["collection"] == "legal"]


def board_document(portal: Portal) -> dict[str, Any]:
    return next(d for d in everything(portal) if d["name"] == "board.pdf")


def points_of(portal: Portal, doc_ids: set[str]) -> list[str]:
    """The stored points' ids (what search hits name) of these documents, from the manifest."""
    with components.build_manifest(portal.settings) as manifest:
        return [u for e in manifest.documents() if e.doc_id in doc_ids for u in e.unit_ids]


def test_me_says_who_the_caller_is(portal: Portal) -> None:
    me = httpx.get(f"{portal.url}/v1/me", headers=portal.as_key("finance-reader")).json()
    assert me == {
        "name": "key:finance-reader", "role": "reader", "via": "key", "collections": ["finance"],
        "all_collections": False, "groups": ["finance"], "may_write": False, "write_collections": [],
    }  # fmt: skip
    user = httpx.get(f"{portal.url}/v1/me", headers=portal.as_user("fiona", ["finance", "other"])).json()
    assert (user["name"], user["role"], user["via"], user["collections"]) == (
        "oidc:fiona", "writer", "oidc", ["finance"]
    )  # fmt: skip
    assert user["groups"] == ["finance"] and user["may_write"] is True
    assert user["write_collections"] == ["finance"]
    config = httpx.get(f"{portal.url}/v1/me", headers={"Authorization": f"Bearer {READ_KEY}"}).json()
    assert config["name"] == "config:read" and config["all_collections"] is True
    assert config["collections"] == ["finance", "legal"]  # those that hold documents
    assert config["groups"] is None and config["may_write"] is False and config["write_collections"] == []
    assert httpx.get(f"{portal.url}/v1/me").status_code == 401


@pytest.mark.parametrize(
    "kind",
    ["bad signature", "expired", "wrong audience", "wrong issuer", "alg none", "hs256 with public key"],
)
def test_bad_tokens_are_401(portal: Portal, kind: str) -> None:
    p = portal.provider
    now = int(time.time())
    token = {
        "bad signature": lambda: p.bad_signature("fiona", ["finance"]),
        "expired": lambda: p.token("fiona", ["finance"], exp=now - 3600, iat=now - 7200, nbf=now - 7200),
        "wrong audience": lambda: p.token("fiona", ["finance"], audience="someone-else"),
        "wrong issuer": lambda: p.token("fiona", ["finance"], iss="http://127.0.0.1:9/other"),
        "alg none": lambda: p.alg_none("fiona", ["finance"]),
        "hs256 with public key": lambda: p.hs256_with_public_key("fiona", ["finance"]),
    }[kind]()
    for method, path in [("GET", "/v1/me"), ("GET", "/v1/documents"), ("GET", "/v1/jobs")]:
        answer = httpx.request(method, f"{portal.url}{path}", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 401, (kind, path, answer.text)
        assert answer.headers["www-authenticate"].startswith("Bearer")
        assert answer.json()["error"]["code"] == "unauthorized"
        assert "signature" not in answer.text and "audience" not in answer.text  # says no more than that


def test_a_valid_token_whose_groups_grant_nothing_is_403(portal: Portal) -> None:
    answer = httpx.get(f"{portal.url}/v1/me", headers=portal.as_user("mallory", ["marketing"]))
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "forbidden"


def test_a_job_for_groups_is_seen_only_by_who_may_read_what_it_writes(portal: Portal) -> None:
    """A job names its files: a finance reader outside ``execs`` neither lists nor opens the board's."""
    for headers in (portal.as_key("finance-reader"), portal.as_user("fiona", ["finance"])):
        listed = httpx.get(f"{portal.url}/v1/jobs", headers=headers)
        assert listed.status_code == 200 and portal.board_job not in listed.text
        assert "minutes.pdf" not in listed.text
        assert httpx.get(f"{portal.url}/v1/jobs/{portal.board_job}", headers=headers).status_code == 404
    writer = portal.as_key("finance-writer")  # every document of finance, whatever its groups
    assert portal.board_job in httpx.get(f"{portal.url}/v1/jobs", headers=writer).text
    assert httpx.get(f"{portal.url}/v1/jobs/{portal.board_job}", headers=writer).status_code == 200


def test_finance_never_cancels_or_sees_legal_jobs(portal: Portal) -> None:
    for headers in finance_principals(portal):
        listed = httpx.get(f"{portal.url}/v1/jobs", headers=headers)
        assert listed.status_code == 200 and portal.legal_job not in listed.text
        assert httpx.get(f"{portal.url}/v1/jobs/{portal.legal_job}", headers=headers).status_code == 404
    for headers in finance_principals(portal)[1:]:  # the writers
        gone = httpx.delete(f"{portal.url}/v1/jobs/{portal.legal_job}", headers=headers)
        assert gone.status_code == 404
        gone = httpx.post(f"{portal.url}/v1/jobs/{portal.legal_job}/cancel", headers=headers)
        assert gone.status_code == 404
    reader = httpx.delete(f"{portal.url}/v1/jobs/{portal.legal_job}", headers=portal.as_key("finance-reader"))
    assert reader.status_code == 403  # its role, whatever the job: says nothing about it
    legal = httpx.get(f"{portal.url}/v1/jobs", headers=portal.as_key("legal-reader"))
    assert portal.legal_job in legal.text
    write = {"Authorization": f"Bearer {WRITE_KEY}"}
    assert httpx.get(f"{portal.url}/v1/jobs/{portal.legal_job}", headers=write).status_code == 200


def test_each_principal_lists_its_own_documents_only(portal: Portal) -> None:
    legal_ids = {d["doc_id"] for d in legal_documents(portal)}
    assert len(legal_ids) == 3
    seen = {
        "finance-reader": {"contract.pdf"},  # in group finance: not the execs' board.pdf
        "finance-writer": {"contract.pdf", "board.pdf"},  # every document of finance
    }
    for name, expected in seen.items():
        listed = httpx.get(f"{portal.url}/v1/documents", headers=portal.as_key(name)).json()
        assert {(d["collection"], d["name"]) for d in listed["documents"]} >= {
            ("finance", n) for n in expected
        }
        assert not legal_ids & {d["doc_id"] for d in listed["documents"]}
    for headers in finance_principals(portal):
        for query in ("", "?limit=10000", "?offset=0&limit=1", "?offset=1"):
            listed = httpx.get(f"{portal.url}/v1/documents{query}", headers=headers)
            assert listed.status_code == 200, listed.text
            assert not legal_ids & {d["doc_id"] for d in listed.json()["documents"]}
            assert "nda" not in listed.text and "site.jpg" not in listed.text
    fiona = httpx.get(f"{portal.url}/v1/documents", headers=portal.as_user("fiona", ["finance"])).text
    assert "board.pdf" not in fiona
    execs = httpx.get(f"{portal.url}/v1/documents", headers=portal.as_user("erin", ["execs"])).text
    assert "board.pdf" in execs
    legal = httpx.get(f"{portal.url}/v1/documents", headers=portal.as_key("legal-reader")).json()
    assert {d["doc_id"] for d in legal["documents"]} == legal_ids


def test_finance_never_finds_legal_documents_whatever_it_sends(portal: Portal) -> None:
    docs = legal_documents(portal)
    bodies: list[dict[str, Any]] = [
        {"text": "finance report", "rerank": False},
        {"text": "nda", "rerank": False, "top_k": 50, "candidates": 200},
        *({"text": "x", "rerank": False, "filters": {"doc_id": d["doc_id"]}} for d in docs),
        {"text": "x", "rerank": False, "filters": {"doc_id": [d["doc_id"] for d in docs]}},
        {"text": "x", "rerank": False, "filters": {"modality": "image"}},
        {"text": "nda", "rerank": False, "filters": {"collection": "legal"}},
        {"text": "nda", "rerank": False, "filters": {"collection": ["legal", "finance"]}},
        {"text": "nda", "rerank": False, "filters": {"not": {"collection": "finance"}}},
        {"text": "nda", "rerank": False, "filters": {"name": [d["name"] for d in docs]}},
        {"text": "nda", "rerank": False, "filters": {"groups": ["legal", "execs"]}},
    ]
    legal_ids = {d["doc_id"] for d in docs}
    for headers in finance_principals(portal):
        for body in bodies:
            found = httpx.post(f"{portal.url}/v1/search", json=body, headers=headers)
            assert found.status_code == 200, (body, found.text)
            assert not legal_ids & {h["doc_id"] for h in found.json()["hits"]}, body
        form = {"text": (None, "nda"), "rerank": (None, "false"), "collection": (None, "legal")}
        found = httpx.post(f"{portal.url}/v1/search", files=form, headers=headers)  # multipart
        assert found.status_code == 200 and found.json()["hits"] == [], found.text
        form["scope"] = (None, "{}")
        assert httpx.post(f"{portal.url}/v1/search", files=form, headers=headers).status_code == 422
        scope = httpx.post(f"{portal.url}/v1/search", json={"text": "x", "scope": {}}, headers=headers)
        assert scope.status_code == 422  # no request names a scope
        in_filters = {"text": "x", "filters": {"scope": {"collections": None}}}
        assert httpx.post(f"{portal.url}/v1/search", json=in_filters, headers=headers).status_code == 422
    legal = httpx.post(
        f"{portal.url}/v1/search", json=bodies[1], headers=portal.as_key("legal-reader")
    ).json()
    assert {h["doc_id"] for h in legal["hits"]} == legal_ids


def test_a_document_of_another_group_is_never_found(portal: Portal) -> None:
    board = board_document(portal)["doc_id"]
    body = {"text": "finance report", "rerank": False, "top_k": 50, "filters": {"groups": "execs"}}
    for headers in (portal.as_key("finance-reader"), portal.as_user("fiona", ["finance"])):
        found = httpx.post(f"{portal.url}/v1/search", json=body, headers=headers).json()
        assert board not in {h["doc_id"] for h in found["hits"]}
    for headers in (portal.as_key("finance-writer"), portal.as_user("erin", ["execs"])):
        found = httpx.post(f"{portal.url}/v1/search", json=body, headers=headers).json()
        assert {h["doc_id"] for h in found["hits"]} == {board}


def test_the_counts_beside_the_filters_are_of_what_each_principal_may_see(portal: Portal) -> None:
    def facets(headers: dict[str, str], **params: str) -> dict[str, Any]:
        answer = httpx.get(f"{portal.url}/v1/facets", headers=headers, params=params)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    legal = [{"value": "page", "count": 3}, {"value": "image", "count": 1}]
    everything = facets({"Authorization": f"Bearer {READ_KEY}"})
    assert everything["collections"] == [{"value": "legal", "count": 4}, {"value": "finance", "count": 2}]
    assert everything["metadata"] == {"department": [
        {"value": "law", "count": 4}, {"value": "board", "count": 1}, {"value": "money", "count": 1},
    ]}  # fmt: skip
    assert facets(portal.as_key("legal-reader")) == {
        "total": 4, "kinds": legal, "collections": [{"value": "legal", "count": 4}],
        "metadata": {"department": [{"value": "law", "count": 4}]},
    }  # fmt: skip
    for finance in finance_principals(portal)[::2]:  # a key and a token of the finance group: not board.pdf
        counted = facets(finance)
        assert counted["total"] == 1 and counted["collections"] == [{"value": "finance", "count": 1}]
        assert counted["metadata"] == {"department": [{"value": "money", "count": 1}]}
        elsewhere = facets(finance, collection="legal")  # asking for legal counts nothing
        assert elsewhere["total"] == 0 and elsewhere["metadata"] == {"department": []}


def test_nobody_downloads_outside_its_scope(portal: Portal) -> None:
    legal_ids = {d["doc_id"] for d in legal_documents(portal)}
    board = board_document(portal)["doc_id"]
    outside = [
        (finance_principals(portal), legal_ids),
        ([portal.as_key("finance-reader"), portal.as_user("fiona", ["finance"])], {board}),
        ([portal.as_key("legal-reader")], {board}),
    ]
    for principals, doc_ids in outside:
        points = points_of(portal, doc_ids)
        assert points
        for headers in principals:
            for doc_id in doc_ids:
                answer = httpx.get(f"{portal.url}/v1/documents/{doc_id}/file", headers=headers)
                assert answer.status_code == 404, answer.text
            for point_id in points:
                for query in ("", "?w=64", "?frame=0"):
                    answer = httpx.get(f"{portal.url}/v1/images/{point_id}{query}", headers=headers)
                    assert answer.status_code == 404, answer.text
                    assert "nda" not in answer.text and "board" not in answer.text
    inside = [
        (portal.as_key("legal-reader"), legal_ids),
        (portal.as_user("erin", ["execs"]), {board}),
        ({"Authorization": f"Bearer {READ_KEY}"}, legal_ids | {board}),
    ]
    for headers, doc_ids in inside:
        for doc_id in doc_ids:
            answer = httpx.get(f"{portal.url}/v1/documents/{doc_id}/file", headers=headers)
            assert answer.status_code == 200, answer.text
        assert httpx.get(
            f"{portal.url}/v1/images/{points_of(portal, doc_ids)[0]}", headers=headers
        ).is_success


def test_the_same_name_in_two_departments_is_two_documents(portal: Portal) -> None:
    contracts = [d for d in everything(portal) if d["name"] == "contract.pdf"]
    assert sorted(d["collection"] for d in contracts) == ["finance", "legal"]
    finance = next(d for d in contracts if d["collection"] == "finance")
    legal = next(d for d in contracts if d["collection"] == "legal")
    assert finance["doc_id"] != legal["doc_id"] and finance["source_sha256"] != legal["source_sha256"]
    mine = httpx.get(
        f"{portal.url}/v1/documents/{finance['doc_id']}/file", headers=portal.as_key("finance-reader")
    )
    assert mine.status_code == 200
    theirs = httpx.get(
        f"{portal.url}/v1/documents/{legal['doc_id']}/file", headers=portal.as_key("finance-reader")
    )
    assert theirs.status_code == 404


def test_finance_never_deletes_legal_documents(portal: Portal) -> None:
    docs = legal_documents(portal)
    for headers in finance_principals(portal)[1:]:
        for doc in docs:
            answer = httpx.delete(f"{portal.url}/v1/documents/{doc['doc_id']}", headers=headers)
            assert answer.status_code == 404, answer.text
            by_name = {"collection": "legal", "name": doc["name"]}
            answer = httpx.delete(f"{portal.url}/v1/documents", params=by_name, headers=headers)
            assert answer.status_code == 404, answer.text
    assert legal_documents(portal) == docs


def test_a_writer_in_one_department_and_reader_in_another_writes_only_the_first(
    portal: Portal, tmp_path: Path
) -> None:
    """Roles stay per IdP group: finance's writer who is also in legal's readers reads legal, and never
    uploads to, deletes from or cancels in it."""
    both = portal.as_user("felix", ["finance", "legal"])
    me = httpx.get(f"{portal.url}/v1/me", headers=both).json()
    assert (me["collections"], me["write_collections"], me["role"]) == (
        ["finance", "legal"],
        ["finance"],
        "writer",
    )
    docs = legal_documents(portal)
    listed = httpx.get(f"{portal.url}/v1/documents", headers=both).json()["documents"]
    assert {d["doc_id"] for d in docs} <= {d["doc_id"] for d in listed}  # it reads legal
    for doc in docs:
        answer = httpx.delete(f"{portal.url}/v1/documents/{doc['doc_id']}", headers=both)
        assert answer.status_code == 403, answer.text
        by_name = {"collection": "legal", "name": doc["name"]}
        assert httpx.delete(f"{portal.url}/v1/documents", params=by_name, headers=both).status_code == 403
    assert legal_documents(portal) == docs
    cancel = httpx.delete(f"{portal.url}/v1/jobs/{portal.legal_job}", headers=both)
    assert cancel.status_code == 403, cancel.text
    make_landscape(tmp_path / "y.jpg", (64, 64))
    with (tmp_path / "y.jpg").open("rb") as handle:
        answer = httpx.post(f"{portal.url}/v1/documents", headers=both, data={"collection": "legal"},
                            files={"files": handle})  # fmt: skip
    assert answer.status_code == 403, answer.text


def test_an_upload_into_a_collection_not_writable_is_403(portal: Portal, tmp_path: Path) -> None:
    make_landscape(tmp_path / "x.jpg", (64, 64))
    staged = portal.settings.data_dir / "uploads" / ".incoming"
    for headers in [portal.as_key("finance-writer"), portal.as_user("fiona", ["finance"])]:
        for target in ({}, {"collection": "default"}, {"collection": "legal"}):
            with (tmp_path / "x.jpg").open("rb") as handle:
                answer = httpx.post(
                    f"{portal.url}/v1/documents", headers=headers, data=target, files={"files": handle}
                )
            assert answer.status_code == 403, answer.text
            assert repr(target.get("collection", "default")) in answer.json()["error"]["message"]
    assert not any(p.is_file() for p in staged.rglob("*"))  # refused before a byte was stored
    with (tmp_path / "x.jpg").open("rb") as handle:
        reader = httpx.post(
            f"{portal.url}/v1/documents", headers=portal.as_key("legal-reader"), files={"files": handle}
        )
    assert reader.status_code == 403


def test_finance_uploads_into_finance_and_legal_never_sees_it(portal: Portal, tmp_path: Path) -> None:
    make_landscape(tmp_path / "budget.jpg", (96, 64))
    with (tmp_path / "budget.jpg").open("rb") as handle:
        answer = httpx.post(
            f"{portal.url}/v1/documents", headers=portal.as_key("finance-writer"),
            data={"collection": "finance"}, files={"files": handle},
        )  # fmt: skip
    assert answer.status_code == 202, answer.text
    job_id = answer.json()["job_id"]
    deadline = time.monotonic() + budget(120)
    while (job := httpx.get(answer.json()["url"], headers=portal.as_key("finance-reader")).json())[
        "state"
    ] in ("queued", "running"):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert job["state"] == "done" and job["indexed"] == 1, job
    fiona = portal.as_user("fiona", ["finance"])
    visible = httpx.get(f"{portal.url}/v1/documents", headers=fiona).json()["documents"]
    mine = [d for d in visible if d["name"] == "budget.jpg"]
    assert [(d["collection"], d["groups"]) for d in mine] == [("finance", [])]
    legal = portal.as_key("legal-reader")
    assert "budget" not in httpx.get(f"{portal.url}/v1/documents", headers=legal).text
    assert httpx.get(f"{portal.url}/v1/jobs/{job_id}", headers=legal).status_code == 404
    assert job_id not in httpx.get(f"{portal.url}/v1/jobs", headers=legal).text
    assert httpx.get(f"{portal.url}/v1/documents/{mine[0]['doc_id']}/file", headers=legal).status_code == 404
    photo = {"text": "a photo", "rerank": False, "top_k": 50}
    found = {
        h["doc_id"] for h in httpx.post(f"{portal.url}/v1/search", json=photo, headers=fiona).json()["hits"]
    }
    assert mine[0]["doc_id"] in found and found <= {d["doc_id"] for d in visible}
    hits = httpx.post(f"{portal.url}/v1/search", json=photo, headers=legal).json()["hits"]
    assert mine[0]["doc_id"] not in {h["doc_id"] for h in hits}


def test_a_key_made_and_revoked_with_the_cli_counts_on_the_running_server(portal: Portal) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "MMSEARCH_DATA_DIR": str(portal.settings.data_dir)}
    made = run_cli(["keys", "create", "temp", "--collections", "default", "--json"], env, Path.cwd())
    assert made.returncode == 0, made.stderr
    key = json.loads(made.stdout)["key"]
    headers = {"Authorization": f"Bearer {key}"}
    assert httpx.get(f"{portal.url}/v1/me", headers=headers).json()["name"] == "key:temp"
    revoked = run_cli(["keys", "revoke", "temp"], env, Path.cwd())
    assert revoked.returncode == 0, revoked.stderr
    deadline = time.monotonic() + 3.0
    status = 200
    while time.monotonic() < deadline and status != 401:
        status = httpx.get(f"{portal.url}/v1/me", headers=headers).status_code
    assert status == 401
    for path in ("/v1/documents", "/v1/jobs"):
        assert httpx.get(f"{portal.url}{path}", headers=headers).status_code == 401
