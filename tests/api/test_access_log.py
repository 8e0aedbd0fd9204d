"""What keeps secrets out of the server's logs: redacted query values, scrubbed records and tracebacks,
and the access line with its principal."""

from __future__ import annotations

import io
import logging

from mmsearch.api.edge.access_log import (
    REDACTED,
    ScrubFilter,
    access_line,
    log_config,
    redact_query,
    scrub,
)

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLWJ5dGVz"


def test_secret_query_values_are_redacted_and_the_rest_kept() -> None:
    query = "v=3f2a&by=key%3Afinance&exp=1796327400&sig=AbC-_12&w=480"
    assert redact_query(query) == f"v=3f2a&by=key%3Afinance&exp=1796327400&sig={REDACTED}&w=480"
    callback = "code=SplxlOBeZQQYbYS6WxSbIA&state=af0ifjsldkj&session_state=x&iss=https%3A%2F%2Fidp"
    assert (
        redact_query(callback)
        == f"code={REDACTED}&state={REDACTED}&session_state={REDACTED}&iss=https%3A%2F%2Fidp"
    )
    for name in ("SIG", "Token", "access_token", "id_token", "api_key", "%73ig", "key"):
        assert redact_query(f"{name}=hunter2hunter2&a=1") == f"{name}={REDACTED}&a=1"
    assert redact_query("sig&sig=&x=1") == f"sig&sig={REDACTED}&x=1"  # no value: nothing to hide, kept as is
    assert redact_query("") == "" and redact_query("a=1&&b") == "a=1&&b"


def test_scrub_finds_credentials_anywhere_in_a_message() -> None:
    secrets = ["write-key-0123456789abcdef"]
    message = (
        "GET /v1/images/x?exp=1&sig=AbC123 failed; headers {'authorization': 'Bearer write-key-0123456789abcdef'} "
        f"token {JWT}; retry with Authorization: Basic dXNlcjpwYXNz; Cookie: mmsearch_session=s3cr3t"
    )
    cleaned = scrub(message, secrets)
    for secret in ("write-key-0123456789abcdef", "AbC123", JWT, "dXNlcjpwYXNz", "s3cr3t", "eyJ"):
        assert secret not in cleaned
    assert "/v1/images/x?exp=1&sig=" in cleaned and "failed" in cleaned


def test_the_filter_scrubs_records_their_arguments_and_tracebacks() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ScrubFilter(["configured-read-key-0123"]))
    logger = logging.getLogger("tests.access_log.scrub")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("calling %s with %s", "https://idp/token?code=abc123xyz", "configured-read-key-0123")
        try:
            raise ValueError(f"bad token {JWT}")
        except ValueError:
            logger.exception("refused")
        logger.warning("100% plain")  # a message with a percent sign and no args is left alone
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "abc123xyz" not in text and "configured-read-key-0123" not in text and JWT not in text
    assert "ValueError: bad token" in text and "100% plain" in text and text.count(REDACTED) == 3


def test_uvicorns_own_access_records_keep_their_shape() -> None:
    """uvicorn's AccessFormatter unpacks five arguments: the filter redacts the target among them."""
    from uvicorn.logging import AccessFormatter

    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/v1/documents/d/file?v=1&exp=2&sig=SeCrEt", "1.1", 200), None,
    )  # fmt: skip
    assert ScrubFilter().filter(record)
    line = AccessFormatter("%(client_addr)s - %(request_line)s %(status_code)s", use_colors=False).format(
        record
    )
    assert "SeCrEt" not in line and f"sig={REDACTED}" in line and "/v1/documents/d/file?v=1&exp=2" in line


def test_an_access_line_names_the_principal() -> None:
    scope = {"type": "http", "client": ("10.0.0.7", 50312), "method": "GET", "http_version": "1.1",
             "path": "/v1/images/abc", "root_path": "", "query_string": b"v=1&by=key%3Aapp&exp=9&sig=XyZ"}  # fmt: skip
    line = access_line(scope, "key:finance app", 200, 0.0123)
    assert (
        line
        == f'10.0.0.7:50312 - key:finance_app "GET /v1/images/abc?v=1&by=key%3Aapp&exp=9&sig={REDACTED} HTTP/1.1" 200 12ms'
    )


def test_the_log_config_scrubs_every_handler_and_quiets_with_the_level() -> None:
    config = log_config("info", ["k" * 20])
    assert all(h["filters"] == ["scrub"] for h in config["handlers"].values())
    assert config["filters"]["scrub"]["secrets"] == ["k" * 20]
    assert config["loggers"]["mmsearch.access"]["level"] == "INFO"
    assert log_config("warning")["loggers"]["mmsearch.access"]["level"] == "WARNING"
