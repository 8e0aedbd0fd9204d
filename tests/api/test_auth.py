"""Who a request acts for: when auth is required, configured keys as global reader/writer, managed keys,
401 vs 403, and how keys are compared and parsed."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from starlette.requests import Request

from mmsearch import components
from mmsearch.access.keys import mint
from mmsearch.access.principal import ANONYMOUS, Role
from mmsearch.api.edge import auth
from mmsearch.api.edge.auth import Authenticator, KeyRing, bearer_token
from mmsearch.api.errors import ApiError
from mmsearch.api.settings import ApiSettings
from mmsearch.config import Settings, load_settings
from mmsearch.errors import ConfigError
from tests.support import clean_env

READ = "r" * 24
WRITE = "w" * 24


def request(authorization: str | None) -> Request:
    headers = [(b"authorization", authorization.encode())] if authorization is not None else []
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers, "state": {}})


def settings(tmp_path: Path, **server: Any) -> Settings:
    with clean_env():
        return Settings(data_dir=tmp_path / "data", server=server)


def authenticator(tmp_path: Path, **server: Any) -> Authenticator:
    return Authenticator.create(settings(tmp_path, **server))


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.8.9.10"])
def test_loopback_without_keys_is_open(tmp_path: Path, host: str) -> None:
    ring = authenticator(tmp_path, host=host)
    assert not ring.required
    assert ring.check(request(None), Role.ADMIN) is ANONYMOUS


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "search.example.org"])
def test_non_loopback_without_keys_refuses_to_start(tmp_path: Path, host: str) -> None:
    with pytest.raises(ConfigError) as err:
        authenticator(tmp_path, host=host)
    message = str(err.value)
    assert host in message and "server.write_keys" in message and "require_auth: false" in message
    assert "mmsearch keys create" in message and "access.oidc" in message


def test_require_auth_true_without_keys_refuses_even_on_loopback(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="server.require_auth is true"):
        authenticator(tmp_path, require_auth=True)


def test_require_auth_false_opens_a_public_bind_on_purpose(tmp_path: Path) -> None:
    assert not authenticator(tmp_path, host="0.0.0.0", require_auth=False).required


def test_configured_keys_are_enforced_on_loopback_too(tmp_path: Path) -> None:
    assert authenticator(tmp_path, read_keys=[READ]).required


def test_a_managed_key_counts_as_configured_auth(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = settings(tmp_path, host="0.0.0.0")
    plain, record = mint("app", Role.READER, ["finance"], None)
    components.build_key_store(config).add(record)
    ring = Authenticator.create(config)  # no ConfigError: a managed key exists
    assert ring.required
    principal = ring.check(request(f"Bearer {plain}"), Role.READER)
    assert principal.name == "key:app" and principal.collections == frozenset({"finance"})


def test_the_first_managed_key_switches_auth_on_for_an_open_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(auth, "MANAGED_CHECK_S", 0.0)
    config = settings(tmp_path)
    ring = Authenticator.create(config)
    assert not ring.required
    components.build_key_store(config).add(mint("app", Role.READER, None, None)[1])
    assert ring.required
    with pytest.raises(ApiError) as missing:
        ring.check(request(None), Role.READER)
    assert missing.value.http_status == 401


def test_configured_keys_are_global_reader_and_writer() -> None:
    ring = KeyRing(ApiSettings(host="0.0.0.0", read_keys=[READ], write_keys=[WRITE]))
    reader, writer = ring.principal(READ), ring.principal(WRITE)
    assert reader is not None and (reader.name, reader.role, reader.via) == (
        "config:read",
        Role.READER,
        "config",
    )
    assert writer is not None and (writer.name, writer.role) == ("config:write", Role.WRITER)
    assert reader.collections is None and reader.groups is None and writer.scope.is_everything
    assert ring.principal(None) is None
    assert ring.principal("") is None
    assert ring.principal(READ[:-1]) is None  # a prefix is not the key
    assert ring.principal(READ + "x") is None
    assert ring.principal("x" * 24) is None  # same length, other bytes


def test_check_says_401_without_a_key_and_403_for_a_read_key_on_write(tmp_path: Path) -> None:
    ring = authenticator(tmp_path, host="0.0.0.0", read_keys=[READ], write_keys=[WRITE])
    with pytest.raises(ApiError) as missing:
        ring.check(request(None), Role.READER)
    assert missing.value.http_status == 401 and missing.value.headers["WWW-Authenticate"].startswith("Bearer")
    with pytest.raises(ApiError) as wrong:
        ring.check(request("Bearer " + "z" * 24), Role.READER)
    assert wrong.value.http_status == 401
    with pytest.raises(ApiError) as read_only:
        ring.check(request(f"Bearer {READ}"), Role.WRITER)
    assert read_only.value.http_status == 403 and "write key" in str(read_only.value)
    ring.check(request(f"Bearer {READ}"), Role.READER)
    ring.check(request(f"bearer {WRITE}"), Role.WRITER)  # the scheme is case-insensitive
    ring.check(request(f"Bearer {WRITE}"), Role.READER)  # write implies read


def test_a_wrong_revoked_or_expired_managed_key_is_401_with_one_message(tmp_path: Path) -> None:
    config = settings(tmp_path, read_keys=[READ])
    store = components.build_key_store(config)
    revoked, record = mint("gone", Role.WRITER, None, None)
    store.add(record)
    store.revoke("gone", time.time())
    expired, old = mint("old", Role.WRITER, None, None, expires=time.time() + 0.2)
    store.add(old)
    time.sleep(0.3)
    ring = Authenticator.create(config)
    messages = set()
    for token in (revoked, expired, revoked[:-2] + "zz", "mms_" + "0" * 12 + "_" + "a" * 43, "z" * 30):
        req = request(f"Bearer {token}")
        with pytest.raises(ApiError) as refused:
            ring.check(req, Role.READER)
        assert refused.value.http_status == 401
        messages.add(str(refused.value))
    assert len(messages) == 1


def test_the_principal_is_kept_on_the_request(tmp_path: Path) -> None:
    ring = authenticator(tmp_path, read_keys=[READ])
    req = request(f"Bearer {READ}")
    principal = ring.check(req, Role.READER)
    assert req.state.principal is principal
    assert ring.resolve(req) is principal


def test_sources_appended_to_the_chain_are_asked_last(tmp_path: Path) -> None:
    ring = authenticator(tmp_path, read_keys=[READ])
    asked: list[str] = []

    def session(req: Request) -> Any:
        asked.append("session")
        return KeyRing.WRITER if req.headers.get("cookie") == "s=1" else None

    ring.sources.append(session)
    assert ring.check(request(f"Bearer {READ}"), Role.READER).name == "config:read"
    assert asked == []
    cookie = Request(
        {"type": "http", "method": "GET", "path": "/", "headers": [(b"cookie", b"s=1")], "state": {}}
    )
    assert ring.check(cookie, Role.WRITER).name == "config:write"
    assert asked == ["session"]


@pytest.mark.parametrize(
    ("header", "token"),
    [
        (None, None),
        ("", None),
        ("Bearer", None),
        ("Bearer   ", None),
        ("Basic abc", None),
        ("Bearer abc", "abc"),
    ],
)
def test_bearer_token_parsing(header: str | None, token: str | None) -> None:
    assert bearer_token(request(header)) == token


@pytest.fixture
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No MMSEARCH_* variable and no ./config.yaml from the caller."""
    for name in list(os.environ):
        if name.startswith("MMSEARCH_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.mark.usefixtures("clean")
def test_keys_from_env_as_comma_list_or_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMSEARCH_SERVER__READ_KEYS", f"{READ}, {READ}2")
    monkeypatch.setenv("MMSEARCH_SERVER__WRITE_KEYS", f'["{WRITE}"]')
    server = load_settings().server
    assert server.read_keys == [READ, READ + "2"]
    assert server.write_keys == [WRITE]


@pytest.mark.parametrize(
    ("value", "needle"),
    [("short", "at least 16 characters"), ("[not json", "not a JSON list")],
)
@pytest.mark.usefixtures("clean")
def test_bad_keys_are_config_errors(monkeypatch: pytest.MonkeyPatch, value: str, needle: str) -> None:
    monkeypatch.setenv("MMSEARCH_SERVER__WRITE_KEYS", value)
    with pytest.raises(ConfigError, match=needle):
        load_settings()


def test_an_unreachable_identity_provider_is_503_not_401(tmp_path: Path) -> None:
    from tests.oidc_standin import CLIENT_ID, running_standin

    with clean_env():
        config = Settings(
            data_dir=tmp_path / "data",
            access={"oidc": {"issuer": "http://127.0.0.1:9", "client_id": CLIENT_ID, "mapping": []}},
        )
    ring = Authenticator.create(config)
    assert ring.required  # OIDC counts as configured auth
    with running_standin() as provider:
        token = provider.token("alice", ["finance"])
    with pytest.raises(ApiError) as down:
        ring.check(request(f"Bearer {token}"), Role.READER)
    assert down.value.http_status == 503 and down.value.headers["Retry-After"] == "5"
    with pytest.raises(ApiError) as other:
        ring.check(request("Bearer not-a-jwt-and-not-a-key"), Role.READER)
    assert other.value.http_status == 401
