"""The admin endpoints under a real uvicorn: managed keys (list, create shown once, revoke) and the audit
trail's newest entries, for administrators only; the jobs list's ``mine`` and who sent a job (shown to
administrators); what a wrong key or a too-low role is told (no setting names).

One server for the module, with managed keys: ``ops`` (admin of everything), ``fin-admin`` (admin of
finance, group finance), ``fin-writer`` and ``fin-reader``, and the configured read and write keys.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from api_support import READ_KEY, WRITE_KEY, live_server, tiny_settings

from mmsearch import components
from mmsearch.access.keys import mint
from mmsearch.access.principal import Role
from mmsearch.api.app import create_app
from mmsearch.api.services.parts import open_services
from mmsearch.samples import make_image

pytestmark = pytest.mark.slow

ADMIN_ROUTES = [("GET", "/v1/keys"), ("POST", "/v1/keys"), ("DELETE", "/v1/keys/fin-reader"),
                ("GET", "/v1/audit")]  # fmt: skip
NEW_KEY = {"name": "report-bot", "role": "reader", "collections": ["finance"], "expires": "30d"}


@dataclass
class Server:
    url: str
    keys: dict[str, str]  # name -> plain key (and "read", "write": the configured ones)

    def get(self, path: str, who: str, **kwargs: object) -> httpx.Response:
        return httpx.get(self.url + path, headers=self.auth(who), **kwargs)  # type: ignore[arg-type]

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}


@pytest.fixture(scope="module")
def server(tiny_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("admin-api")
    keys = {"read": READ_KEY, "write": WRITE_KEY}
    settings = tiny_settings(root / "data", tiny_models, small_media=True,
                             server={"read_keys": [READ_KEY], "write_keys": [WRITE_KEY]})  # fmt: skip
    store = components.build_key_store(settings)
    for name, role, collections, groups in [
        ("ops", Role.ADMIN, ["*"], None),
        ("fin-admin", Role.ADMIN, ["finance"], ["finance"]),
        ("fin-writer", Role.WRITER, ["finance"], None),
        ("fin-reader", Role.READER, ["finance"], ["finance"]),
    ]:
        keys[name], record = mint(name, role, collections, groups)
        store.add(record)
    services = open_services(settings)
    try:
        with live_server(create_app(settings, services)) as live:
            yield Server(live.url, keys)
    finally:
        services.close()


@pytest.mark.parametrize("who", ["read", "write", "fin-writer", "fin-reader"])
def test_a_non_admin_is_refused_every_admin_route(server: Server, who: str) -> None:
    for method, path in ADMIN_ROUTES:
        body = NEW_KEY if method == "POST" else None
        answer = httpx.request(method, server.url + path, headers=server.auth(who), json=body)
        assert answer.status_code == 403, (who, method, path, answer.text)
        message = answer.json()["error"]["message"]
        assert "administrator" in message and "server." not in message, message
    for method, path in ADMIN_ROUTES:  # and without a key: 401
        assert httpx.request(method, server.url + path).status_code == 401
    assert server.get("/v1/keys/x", "fin-reader").status_code == 405  # no such route to probe


def test_an_admin_creates_a_key_shown_once_and_revokes_it(server: Server) -> None:
    made = httpx.post(f"{server.url}/v1/keys", json=NEW_KEY, headers=server.auth("ops"))
    assert made.status_code == 201, made.text
    key = made.json()
    assert key["key"].startswith(f"mms_{key['key_id']}_") and key["state"] == "active"
    assert (key["name"], key["role"], key["collections"], key["groups"]) == (
        "report-bot",
        "reader",
        ["finance"],
        None,
    )
    assert key["expires"] > key["created"] + 29 * 86400
    listed = server.get("/v1/keys", "ops").json()["keys"]
    row = next(k for k in listed if k["name"] == "report-bot")
    assert "key" not in row and key["key"] not in str(listed)  # shown once: never listed
    me = httpx.get(f"{server.url}/v1/me", headers={"Authorization": f"Bearer {key['key']}"}).json()
    assert me["name"] == "key:report-bot" and me["collections"] == ["finance"]

    gone = httpx.delete(f"{server.url}/v1/keys/report-bot", headers=server.auth("ops"))
    assert gone.status_code == 200 and gone.json()["state"] == "revoked" and "key" not in gone.json()
    assert (
        httpx.get(f"{server.url}/v1/me", headers={"Authorization": f"Bearer {key['key']}"}).status_code == 401
    )
    again = httpx.delete(f"{server.url}/v1/keys/report-bot", headers=server.auth("ops"))
    assert again.status_code == 404

    entries = server.get("/v1/audit", "ops", params={"limit": 5}).json()["entries"]
    assert [e["action"] for e in entries[:3]] == ["denied", "key_revoked", "key_created"]  # newest first
    assert entries[0]["details"]["status"] == 401  # the revoked key, refused
    revoked, created = entries[1], entries[2]
    assert revoked["principal"]["name"] == created["principal"]["name"] == "key:ops"
    assert created["details"]["key"] == "report-bot" and created["details"]["collections"] == ["finance"]
    assert created["client"] == "127.0.0.1" and key["key"] not in str(entries)
    assert len(server.get("/v1/audit", "ops", params={"limit": 1}).json()["entries"]) == 1
    only = server.get("/v1/audit", "ops", params={"action": "key_created"}).json()["entries"]
    assert only and {e["action"] for e in only} == {"key_created"}


def test_an_admin_of_some_collections_manages_keys_within_its_reach_only(server: Server) -> None:
    def create(**fields: object) -> httpx.Response:
        body = {**NEW_KEY, "name": "fin-bot", **fields}
        return httpx.post(f"{server.url}/v1/keys", json=body, headers=server.auth("fin-admin"))

    assert create(collections=["*"]).status_code == 403  # every collection: beyond finance
    assert create(collections=["finance", "legal"]).status_code == 403
    assert create(groups=None).status_code == 403  # every document: beyond its group
    assert create(groups=["execs"]).status_code == 403
    made = create(groups=["finance"])
    assert made.status_code == 201, made.text
    names = {k["name"] for k in server.get("/v1/keys", "fin-admin").json()["keys"]}
    assert names == {"fin-admin", "fin-reader", "fin-bot"}  # not ops (everything) nor fin-writer (all groups)
    assert httpx.delete(f"{server.url}/v1/keys/ops", headers=server.auth("fin-admin")).status_code == 404
    assert httpx.delete(f"{server.url}/v1/keys/fin-bot", headers=server.auth("fin-admin")).status_code == 200
    refused = server.get("/v1/audit", "fin-admin")
    assert refused.status_code == 403 and "every collection" in refused.json()["error"]["message"]


@pytest.mark.parametrize(
    ("fields", "status", "needle"),
    [
        ({"name": "bad name"}, 422, "name"),
        ({"name": ""}, 422, "name"),
        ({"collections": []}, 422, "collections"),
        ({"collections": ["no spaces"]}, 422, "collections"),
        ({"groups": ["a,b"]}, 422, "groups"),
        ({"role": "root"}, 422, "role"),
        ({"expires": "soon"}, 400, "expiry"),
        ({"expires": "0d"}, 400, "expiry"),
        ({"extra": 1}, 422, "extra"),
        ({"name": "fin-reader"}, 400, "exists"),  # an unrevoked key has the name
    ],
)
def test_bad_key_requests_are_refused_with_the_field_named(
    server: Server, fields: dict[str, object], status: int, needle: str
) -> None:
    answer = httpx.post(f"{server.url}/v1/keys", json={**NEW_KEY, **fields}, headers=server.auth("ops"))
    assert answer.status_code == status, answer.text
    assert needle in answer.text


@pytest.mark.parametrize(
    "query", [{"limit": 0}, {"limit": 1001}, {"action": "bogus"}, {"principal": "x" * 201}]
)
def test_bad_audit_queries_are_422(server: Server, query: dict[str, object]) -> None:
    assert server.get("/v1/audit", "ops", params=query).status_code == 422


def test_mine_lists_the_caller_s_own_jobs_and_admins_see_who_sent_each(
    server: Server, tmp_path: Path
) -> None:
    image = make_image(tmp_path / "chart.png", "png", (64, 48)).read_bytes()
    sent = httpx.post(f"{server.url}/v1/documents", params={"collection": "finance"},
                      files=[("files", ("chart.png", io.BytesIO(image), "image/png"))],
                      headers=server.auth("fin-writer"))  # fmt: skip
    assert sent.status_code == 202, sent.text
    job_id = sent.json()["job_id"]
    assert sent.json()["principal"] is None  # a writer is not told who sends jobs

    def listed(who: str, **params: object) -> dict[str, dict[str, object]]:
        jobs = server.get("/v1/jobs", who, params=params).json()["jobs"]
        return {j["job_id"]: j for j in jobs}

    assert job_id in listed("fin-writer", mine=True)
    assert job_id not in listed("fin-reader", mine=True)  # not its upload
    assert job_id in listed("fin-reader") and listed("fin-reader")[job_id]["principal"] is None
    assert listed("ops")[job_id]["principal"] == "key:fin-writer"
    assert server.get(f"/v1/jobs/{job_id}", "fin-admin").json()["principal"] == "key:fin-writer"


def test_a_wrong_key_is_told_plainly_without_setting_names(server: Server) -> None:
    for bad in ("wrong-key-000000000000", "mms_0123456789ab_" + "x" * 43):
        answer = httpx.get(f"{server.url}/v1/me", headers={"Authorization": f"Bearer {bad}"})
        assert answer.status_code == 401
        message = answer.json()["error"]["message"]
        assert "read_keys" not in message and "write_keys" not in message and "server." not in message
