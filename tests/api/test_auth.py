"""API keys: when they are required, read vs write, and how they are compared and parsed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from starlette.requests import Request

from mmsearch.api.edge.auth import Access, KeyRing, bearer_token
from mmsearch.api.errors import ApiError
from mmsearch.api.settings import ApiSettings
from mmsearch.config import load_settings
from mmsearch.errors import ConfigError

READ = "r" * 24
WRITE = "w" * 24


def request(authorization: str | None) -> Request:
    headers = [(b"authorization", authorization.encode())] if authorization is not None else []
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers})


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.8.9.10"])
def test_loopback_without_keys_is_open(host: str) -> None:
    ring = KeyRing(ApiSettings(host=host))
    assert not ring.required
    ring.check(request(None), Access.WRITE)  # no error


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "search.example.org"])
def test_non_loopback_without_keys_refuses_to_start(host: str) -> None:
    with pytest.raises(ConfigError) as err:
        KeyRing(ApiSettings(host=host))
    message = str(err.value)
    assert host in message and "server.write_keys" in message and "require_auth: false" in message


def test_require_auth_true_without_keys_refuses_even_on_loopback() -> None:
    with pytest.raises(ConfigError, match="server.require_auth is true"):
        KeyRing(ApiSettings(require_auth=True))


def test_require_auth_false_opens_a_public_bind_on_purpose() -> None:
    assert not KeyRing(ApiSettings(host="0.0.0.0", require_auth=False)).required


def test_configured_keys_are_enforced_on_loopback_too() -> None:
    assert KeyRing(ApiSettings(read_keys=[READ])).required


def test_access_levels() -> None:
    ring = KeyRing(ApiSettings(host="0.0.0.0", read_keys=[READ], write_keys=[WRITE]))
    assert ring.access(READ) == Access.READ
    assert ring.access(WRITE) == Access.WRITE
    assert ring.access(None) == Access.NONE
    assert ring.access("") == Access.NONE
    assert ring.access(READ[:-1]) == Access.NONE  # a prefix is not the key
    assert ring.access(READ + "x") == Access.NONE
    assert ring.access("x" * 24) == Access.NONE  # same length, other bytes


def test_check_says_401_without_a_key_and_403_for_a_read_key_on_write() -> None:
    ring = KeyRing(ApiSettings(host="0.0.0.0", read_keys=[READ], write_keys=[WRITE]))
    with pytest.raises(ApiError) as missing:
        ring.check(request(None), Access.READ)
    assert missing.value.http_status == 401 and missing.value.headers["WWW-Authenticate"].startswith("Bearer")
    with pytest.raises(ApiError) as wrong:
        ring.check(request("Bearer " + "z" * 24), Access.READ)
    assert wrong.value.http_status == 401
    with pytest.raises(ApiError) as read_only:
        ring.check(request(f"Bearer {READ}"), Access.WRITE)
    assert read_only.value.http_status == 403 and "write key" in str(read_only.value)
    ring.check(request(f"Bearer {READ}"), Access.READ)
    ring.check(request(f"bearer {WRITE}"), Access.WRITE)  # the scheme is case-insensitive
    ring.check(request(f"Bearer {WRITE}"), Access.READ)  # write implies read


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
