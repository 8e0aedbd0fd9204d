"""Webhooks are never an open SSRF: only allowed hosts, only public addresses unless the setting says
otherwise, checked again at each delivery and sent to the address checked (``api/services/webhooks.py``).

Host names resolve through a resolver the test gives (no DNS); the one delivery test reaches a receiver
on loopback. The end-to-end path (an upload's notify_url, a signed body, a retry) is in
``tests/client/test_client.py``.
"""

from __future__ import annotations

import http.server
import ipaddress
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from pydantic import ValidationError

from mmsearch.api.errors import ApiError
from mmsearch.api.services.webhooks import IpAddress, Webhooks
from mmsearch.api.settings import ApiSettings
from mmsearch.client.signature import SIGNATURE_HEADER, verify_signature
from tests.support import NoDelayHandler

SECRET = "webhook-secret-0123456789abcdef"


def hooks(
    addresses: dict[str, Sequence[str]], hosts: Sequence[str] = ("hooks.example.com", "*.corp.example"),
    private: bool = False,
) -> Webhooks:  # fmt: skip
    def resolver(host: str, port: int) -> list[IpAddress]:
        if host not in addresses:
            raise OSError(f"[Errno -2] Name or service not known: {host}")
        return [ipaddress.ip_address(a) for a in addresses[host]]

    settings = ApiSettings(webhook_hosts=list(hosts), webhook_secret=SECRET, webhook_private=private)
    return Webhooks(settings, resolver)


def refusal(webhooks: Webhooks, url: str) -> str:
    with pytest.raises(ApiError) as refused:
        webhooks.check(url)
    details = refused.value.details or []
    assert refused.value.http_status == 422 and [d["field"] for d in details] == ["notify_url"]
    return str(refused.value)


def test_an_allowed_host_with_public_addresses_passes() -> None:
    webhooks = hooks({"hooks.example.com": ["93.184.216.34"], "ci.corp.example": ["2606:4700::1111"]})
    assert webhooks.check("https://hooks.example.com/mmsearch?token=x").port == 443
    assert webhooks.check("http://CI.corp.example.:8080/hook").host == "ci.corp.example"


@pytest.mark.parametrize(
    ("address", "kind"),
    [("127.0.0.1", "loopback"), ("10.1.2.3", "private"), ("192.168.0.10", "private"), ("169.254.169.254", "link-local"),
     ("100.64.0.1", "shared"), ("0.0.0.0", "unspecified"), ("::1", "loopback"), ("::ffff:10.0.0.1", "mapped"),
     ("fd00::1", "unique local"), ("224.0.0.1", "multicast")],
)  # fmt: skip
def test_a_host_resolving_to_an_internal_address_is_refused(address: str, kind: str) -> None:
    webhooks = hooks({"hooks.example.com": ["93.184.216.34", address]})  # one bad address is enough
    assert "loopback, private or reserved" in refusal(webhooks, "https://hooks.example.com/x"), kind


def test_webhook_private_lets_internal_receivers_in_but_never_unspecified_or_multicast() -> None:
    webhooks = hooks({"hooks.example.com": ["10.0.0.7"], "x.corp.example": ["0.0.0.0"]}, private=True)
    assert webhooks.check("http://hooks.example.com/x").host == "hooks.example.com"
    assert "reserved" in refusal(webhooks, "http://x.corp.example/x")


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://evil.example.net/x", "not a host webhooks may reach"),
        ("https://corp.example/x", "not a host webhooks may reach"),  # *.corp.example: subdomains only
        ("https://hooks.example.com.evil.net/x", "not a host webhooks may reach"),
        ("file:///etc/passwd", "http:// or https://"),
        ("gopher://hooks.example.com/x", "http:// or https://"),
        ("https:///x", "http:// or https://"),
        ("https://u:p@hooks.example.com/x", "credentials"),
        ("https://hooks.example.com:0x50/x", "not a URL"),
        ("https://hooks.example.com/\nx", "printable"),
        ("https://hooks.example.com/" + "a" * 2100, "printable"),
        ("https://hööks.example.com/x", "xn--"),
        ("https://unknown.corp.example/x", "does not resolve"),
    ],
)
def test_bad_urls_are_refused(url: str, why: str) -> None:
    assert why in refusal(hooks({"hooks.example.com": ["93.184.216.34"]}), url)


def test_webhooks_are_off_without_hosts_and_need_a_secret() -> None:
    assert "webhooks are off" in refusal(Webhooks(ApiSettings()), "https://hooks.example.com/x")
    with pytest.raises(ValidationError, match="webhook_secret"):
        ApiSettings(webhook_hosts=["hooks.example.com"])
    with pytest.raises(ValidationError, match="webhook_secret"):
        ApiSettings(webhook_hosts=["hooks.example.com"], webhook_secret="short")
    with pytest.raises(ValidationError, match="not a host name"):
        ApiSettings(webhook_hosts=["https://hooks.example.com"], webhook_secret=SECRET)
    assert ApiSettings(webhook_hosts="a.example.com, b.example.com", webhook_secret=SECRET).webhook_hosts == [
        "a.example.com", "b.example.com",
    ]  # fmt: skip


@pytest.fixture
def receiver() -> Iterator[tuple[int, list[dict[str, Any]]]]:
    got: list[dict[str, Any]] = []

    class Handler(NoDelayHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append(
                {"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body, "path": self.path}
            )
            self.send_response(302)  # a redirect is not followed (and not retried)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1], got
    finally:
        server.shutdown()


def test_a_delivery_goes_to_the_checked_address_and_follows_no_redirect(
    receiver: tuple[int, list[dict[str, Any]]],
) -> None:
    port, got = receiver
    webhooks = hooks({"hooks.example.com": ["127.0.0.1"]}, private=True)  # the name exists only here
    webhooks.send(
        f"http://hooks.example.com:{port}/in?k=1", "job.finished", {"job": {"job_id": "j1"}}
    ).result(30)
    webhooks.close()
    assert len(got) == 1  # the 302 was not followed, and not retried
    headers = got[0]["headers"]
    assert headers["host"] == f"hooks.example.com:{port}" and got[0]["path"] == "/in?k=1"
    assert verify_signature(SECRET, got[0]["body"], headers[SIGNATURE_HEADER.lower()])


def test_a_host_that_moves_to_an_internal_address_is_not_delivered_to(
    receiver: tuple[int, list[dict[str, Any]]],
) -> None:
    port, got = receiver
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])  # public when checked, loopback when delivered

    def rebinding(host: str, port: int) -> list[IpAddress]:
        return [ipaddress.ip_address(a) for a in next(answers)]

    webhooks = Webhooks(
        ApiSettings(webhook_hosts=["hooks.example.com"], webhook_secret=SECRET, webhook_attempts=3), rebinding
    )
    url = f"http://hooks.example.com:{port}/in"
    webhooks.check(url)
    webhooks.send(url, "job.finished", {"job": {}}).result(30)  # refused at delivery: not retried either
    webhooks.close()
    assert got == []
