"""Principals over the wire, under a real uvicorn: two departments on one server.

Legal's documents are in the ``default`` collection (ingested as ``mmsearch ingest`` does); finance is
a managed key and an OIDC token (from the loopback stand-in provider) for the ``finance`` collection.
Whatever filters, ids or collections finance sends, it never sees, lists, downloads, deletes or cancels
anything of legal's. Bad tokens are 401 each; a key revoked with the CLI stops working on the running
server; ``GET /v1/me`` says who the caller is.
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
from api_support import READ_KEY, WRITE_KEY, ingest, live_server

from mmsearch import components
from mmsearch.access.keys import mint
from mmsearch.access.principal import Role
from mmsearch.api.app import create_app
from mmsearch.api.services.job_store import new_job_id
from mmsearch.api.services.parts import Services, open_services
from mmsearch.config import Settings
from mmsearch.samples import make_landscape, make_pdf
from tests.oidc_standin import CLIENT_ID, OidcStandIn, running_standin
from tests.support import run_cli, tiny_settings

pytestmark = pytest.mark.slow

MAPPING = [
    {"idp_group": "finance", "role": "writer", "collections": ["finance"]},
    {"idp_group": "legal", "role": "reader", "collections": ["default"]},
]


@dataclass
class Portal:
    url: str
    settings: Settings
    services: Services
    provider: OidcStandIn
    keys: dict[str, str]  # name -> plain key
    legal_job: str

    def as_key(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[name]}"}

    def as_user(self, user: str, groups: list[str], **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.provider.token(user, groups, **claims)}"}


@pytest.fixture(scope="module")
def portal(tiny_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    root = tmp_path_factory.mktemp("portal")
    corpus = root / "legal"
    corpus.mkdir()
    make_pdf(corpus / "nda.pdf", 2, topic="finance")
    make_landscape(corpus / "site.jpg", (320, 200))
    with running_standin() as provider:
        access = {"oidc": {"issuer": provider.issuer, "client_id": CLIENT_ID, "mapping": MAPPING}}
        server = {"read_keys": [READ_KEY], "write_keys": [WRITE_KEY]}
        settings = tiny_settings(root / "data", tiny_models, small_media=True, access=access, server=server)
        services = open_services(settings)
        try:
            ingest(settings, services, [corpus])
            store = components.build_key_store(settings)
            keys = {}
            for name, role, collections in [
                ("finance-reader", Role.READER, ["finance"]),
                ("finance-writer", Role.WRITER, ["finance"]),
                ("legal-reader", Role.READER, ["default"]),
            ]:
                keys[name], record = mint(name, role, collections, None)
                store.add(record)
            legal_job = new_job_id()
            services.jobs.jobs.create(legal_job, [("contract.pdf", 10)], "default")
            services.jobs.cancel(legal_job)  # finished: the worker never runs it
            with live_server(create_app(settings, services)) as live:
                yield Portal(live.url, settings, services, provider, keys, legal_job)
        finally:
            services.close()


def finance_principals(portal: Portal) -> list[dict[str, str]]:
    return [
        portal.as_key("finance-reader"),
        portal.as_key("finance-writer"),
        portal.as_user("fiona", ["finance"]),
    ]


def legal_documents(portal: Portal) -> list[dict[str, Any]]:
    """What is there, as the global reader key lists it."""
    listed = httpx.get(f"{portal.url}/v1/documents", headers={"Authorization": f"Bearer {READ_KEY}"})
    assert listed.status_code == 200, listed.text
    return listed.json()["documents"]


def test_me_says_who_the_caller_is(portal: Portal) -> None:
    me = httpx.get(f"{portal.url}/v1/me", headers=portal.as_key("finance-reader")).json()
    assert me == {
        "name": "key:finance-reader", "role": "reader", "via": "key", "collections": ["finance"],
        "all_collections": False, "groups": None, "may_write": False,
    }  # fmt: skip
    user = httpx.get(f"{portal.url}/v1/me", headers=portal.as_user("fiona", ["finance", "other"])).json()
    assert (user["name"], user["role"], user["via"], user["collections"]) == (
        "oidc:fiona", "writer", "oidc", ["finance"]
    )  # fmt: skip
    assert user["groups"] == ["finance"] and user["may_write"] is True
    config = httpx.get(f"{portal.url}/v1/me", headers={"Authorization": f"Bearer {READ_KEY}"}).json()
    assert config["name"] == "config:read" and config["all_collections"] is True
    assert config["collections"] == ["default"]  # those that hold documents
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


def test_finance_never_cancels_or_sees_legal_jobs(portal: Portal) -> None:
    for headers in finance_principals(portal):
        listed = httpx.get(f"{portal.url}/v1/jobs", headers=headers)
        assert listed.status_code == 200 and portal.legal_job not in listed.text
        assert "contract.pdf" not in listed.text
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


def test_finance_never_lists_legal_documents(portal: Portal) -> None:
    legal_ids = {d["doc_id"] for d in legal_documents(portal)}
    for headers in finance_principals(portal):
        for query in ("", "?limit=10000", "?offset=0&limit=1"):
            listed = httpx.get(f"{portal.url}/v1/documents{query}", headers=headers)
            assert listed.status_code == 200, listed.text
            assert not legal_ids & {d["doc_id"] for d in listed.json()["documents"]}
            assert "nda" not in listed.text and "site.jpg" not in listed.text
    legal = httpx.get(f"{portal.url}/v1/documents", headers=portal.as_key("legal-reader")).json()
    assert legal["total"] == 2 and {d["file_name"] for d in legal["documents"]} == {"nda.pdf", "site.jpg"}


def test_finance_never_finds_legal_documents_whatever_it_sends(portal: Portal) -> None:
    docs = legal_documents(portal)
    folder = str(Path(docs[0]["source_path"]).parent)
    bodies: list[dict[str, Any]] = [
        {"text": "finance report", "rerank": False},
        {"text": "nda", "rerank": False, "top_k": 50, "candidates": 200},
        {"text": "nda", "rerank": False, "filters": {"path_prefix": folder}},
        *({"text": "x", "rerank": False, "filters": {"doc_id": d["doc_id"]}} for d in docs),
        {"text": "x", "rerank": False, "filters": {"modality": "image"}},
        {"text": "nda", "rerank": False, "filters": {"collection": "default"}},
        {"text": "nda", "rerank": False, "filters": {"collection": ["default", "finance"]}},
        {"text": "nda", "rerank": False, "filters": {"not": {"collection": "finance"}}},
        {"text": "nda", "rerank": False, "filters": {"name": [d["file_name"] for d in docs]}},
    ]
    legal_ids = {d["doc_id"] for d in docs}
    for headers in finance_principals(portal):
        for body in bodies:
            found = httpx.post(f"{portal.url}/v1/search", json=body, headers=headers)
            assert found.status_code == 200, (body, found.text)
            assert not legal_ids & {h["doc_id"] for h in found.json()["hits"]}, body
        form = {"text": (None, "nda"), "rerank": (None, "false"), "path_prefix": (None, folder)}
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
    assert {h["doc_id"] for h in legal["hits"]} == {d["doc_id"] for d in docs}


def test_finance_never_downloads_legal_images_or_files(portal: Portal) -> None:
    docs = legal_documents(portal)
    assert {d["file_name"] for d in docs} == {"nda.pdf", "site.jpg"}
    points = list(_points(portal))
    assert points
    for headers in finance_principals(portal):
        for doc in docs:
            answer = httpx.get(f"{portal.url}/v1/documents/{doc['doc_id']}/file", headers=headers)
            assert answer.status_code == 404, answer.text
        for point_id in points:
            for query in ("", "?w=64", "?frame=0"):
                answer = httpx.get(f"{portal.url}/v1/images/{point_id}{query}", headers=headers)
                assert answer.status_code == 404, answer.text
                assert "nda" not in answer.text and "site" not in answer.text
    legal = portal.as_key("legal-reader")
    assert httpx.get(f"{portal.url}/v1/images/{points[0]}", headers=legal).status_code == 200
    for headers in [legal, {"Authorization": f"Bearer {READ_KEY}"}]:
        for doc in docs:
            answer = httpx.get(f"{portal.url}/v1/documents/{doc['doc_id']}/file", headers=headers)
            assert answer.status_code == 200, answer.text


def _points(portal: Portal) -> list[str]:
    """Every stored point's id (what search hits name), from the manifest."""
    ids: list[str] = []
    with components.build_manifest(portal.settings) as manifest:
        for entry in manifest.documents():
            ids.extend(entry.unit_ids)
    return ids


def test_finance_never_deletes_legal_documents(portal: Portal) -> None:
    docs = legal_documents(portal)
    for headers in finance_principals(portal)[1:]:
        for doc in docs:
            answer = httpx.delete(f"{portal.url}/v1/documents/{doc['doc_id']}", headers=headers)
            assert answer.status_code == 404, answer.text
    assert len(legal_documents(portal)) == len(docs)


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
