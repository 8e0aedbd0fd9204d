"""Webhooks: an upload's ``notify_url`` hears, in one signed POST, that its job has ended.

Off unless ``server.webhook_hosts`` names the hosts a ``notify_url`` may point at (``*.example.com`` for
subdomains). Never an open SSRF:

- the URL is ``http``/``https`` without credentials, naming an allowed host (checked as the upload
  arrives, before its files are stored: ``allowed``);
- the host is resolved, and every address must be public (not loopback, private, link-local, shared or
  reserved) unless ``server.webhook_private`` says the receivers live inside the network (``check``,
  before the job is queued);
- each delivery resolves again, checks again, and connects to the address it checked (the request names
  the host in ``Host`` and, for TLS, in SNI and the certificate check), so a name that changes its
  address between the check and the delivery reaches nothing it should not; redirects are not followed.

The body is JSON ``{"event": "job.finished", "delivery": ID, "sent": UNIX, "job": <the job, as
GET /v1/jobs/{id} shows it>}``, signed with HMAC-SHA256 under ``server.webhook_secret`` in
``X-Mmsearch-Signature: sha256=<hex>`` (``mmsearch.client.signature``). A delivery that fails to connect,
times out, or gets a 5xx or 429 is retried with backoff, ``server.webhook_attempts`` times at most, on a
small pool of threads (deliveries are best effort: one still pending when the server stops is dropped).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urlsplit, urlunsplit

import httpx
import stamina

from mmsearch import __version__
from mmsearch.api.errors import invalid_request
from mmsearch.api.settings import ApiSettings
from mmsearch.client.signature import SIGNATURE_HEADER, sign

log = logging.getLogger(__name__)

MAX_URL_CHARS = 2048
DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_RETRY_AFTER_S = 60.0
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[IpAddress]]


class DeliveryFailed(Exception):
    """One delivery did not reach the receiver or was not accepted; ``retry_after``: None = do not retry."""

    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Target:
    """A checked ``notify_url``: its parts, and the addresses its host resolved to."""

    url: SplitResult
    host: str  # lower case, no trailing dot, IPv6 without brackets
    port: int


def resolve(host: str, port: int) -> list[IpAddress]:
    """Every address ``host`` resolves to (an IP literal: itself)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos))


class Webhooks:
    def __init__(self, server: ApiSettings, resolver: Resolver = resolve) -> None:
        self.hosts = tuple(server.webhook_hosts)
        self.secret = server.webhook_secret or ""
        self.private = server.webhook_private
        self.attempts = server.webhook_attempts
        self.timeout_s = server.webhook_timeout_s
        self.resolver = resolver
        self._pool: ThreadPoolExecutor | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.hosts)

    # -- checks ------------------------------------------------------------------------------------

    def allowed(self, url: str) -> Target:
        """The parts of ``url`` if it is one a webhook may use by its form and its host name (no DNS
        yet); else a 422 naming ``notify_url``."""
        if not self.enabled:
            raise _refused("webhooks are off on this server (server.webhook_hosts is empty)")
        if len(url) > MAX_URL_CHARS or any(ch.isspace() or not ch.isprintable() for ch in url):
            raise _refused(f"not a URL a webhook can use (at most {MAX_URL_CHARS} printable characters)")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise _refused(f"not a URL: {exc}") from exc
        host = (parts.hostname or "").rstrip(".")
        if parts.scheme not in DEFAULT_PORTS or not host:
            raise _refused("give an http:// or https:// URL with a host name")
        if parts.username is not None or parts.password is not None:
            raise _refused("a webhook URL may not carry credentials (user:password@)")
        if not host.isascii():
            raise _refused("write the host name in its ASCII (xn--) form")
        if not any(_matches(host, pattern) for pattern in self.hosts):
            raise _refused(f"{host!r} is not a host webhooks may reach (server.webhook_hosts)")
        return Target(parts._replace(fragment=""), host, port or DEFAULT_PORTS[parts.scheme])

    def check(self, url: str) -> Target:
        """``allowed``, and the host resolves to addresses a webhook may reach (blocking: DNS)."""
        target = self.allowed(url)
        self.addresses(target)
        return target

    def addresses(self, target: Target) -> list[IpAddress]:
        """The addresses of ``target``'s host, every one of them reachable by a webhook; else a 422."""
        try:
            found = list(self.resolver(target.host, target.port))
        except (OSError, UnicodeError, ValueError) as exc:
            raise _refused(f"{target.host!r} does not resolve ({exc})") from exc
        if not found:
            raise _refused(f"{target.host!r} does not resolve")
        for address in found:
            if not self._reachable(address):
                raise _refused(
                    f"{target.host!r} resolves to {address}, a loopback, private or reserved address "
                    "(server.webhook_private allows those)"
                )
        return found

    def _reachable(self, address: IpAddress) -> bool:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if address.is_multicast or address.is_unspecified:
            return False
        return self.private or address.is_global

    # -- delivery ----------------------------------------------------------------------------------

    def send(self, url: str, event: str, data: dict[str, Any]) -> Future[None]:
        """Deliver ``{"event": event, ...data}`` to ``url`` in the background (retried, signed)."""
        body = {"event": event, "delivery": uuid.uuid4().hex, "sent": time.time(), **data}
        if self._pool is None:
            self._pool = ThreadPoolExecutor(2, thread_name_prefix="mmsearch-webhook")
        return self._pool.submit(self._deliver, url, json.dumps(body).encode("utf-8"))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def _deliver(self, url: str, body: bytes) -> None:
        try:
            for attempt in stamina.retry_context(
                on=_backoff, attempts=self.attempts, timeout=None, wait_initial=1.0, wait_max=60.0,
                wait_jitter=0.5,
            ):  # fmt: skip
                with attempt:
                    self._post(url, body)
        except DeliveryFailed as exc:
            log.warning("webhook %s not delivered: %s", _shown(url), exc)
        except Exception:
            log.exception("webhook %s not delivered", _shown(url))

    def _post(self, url: str, body: bytes) -> None:
        """One delivery, to the address just checked; ``DeliveryFailed`` unless the receiver says 2xx."""
        try:
            target = self.allowed(url)
            address = self.addresses(target)[0]
        except Exception as exc:  # refused now (the host moved to an address not allowed): never retried
            raise DeliveryFailed(f"refused: {exc}", None) from exc
        netloc = f"[{address}]" if address.version == 6 else str(address)
        pinned = urlunsplit(
            target.url._replace(netloc=f"{netloc}:{target.port}", path=target.url.path or "/")
        )
        headers = {
            "Host": target.url.netloc,  # as the URL names it (no credentials: ``allowed`` refuses them)
            "Content-Type": "application/json",
            "User-Agent": f"mmsearch-webhook/{__version__}",
            SIGNATURE_HEADER: sign(self.secret, body),
        }
        extensions = {"sni_hostname": target.host} if target.url.scheme == "https" else {}
        try:
            with httpx.Client(timeout=self.timeout_s, follow_redirects=False, trust_env=False) as client:
                response = client.post(pinned, content=body, headers=headers, extensions=extensions)
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"{type(exc).__name__}: {exc}", 0.0) from exc
        if response.is_success:
            return
        retry = response.status_code >= 500 or response.status_code == 429
        wait = _retry_after(response.headers.get("retry-after")) if retry else None
        raise DeliveryFailed(f"the receiver answered {response.status_code}", wait if retry else None)


def _backoff(exc: Exception) -> bool | float:
    """stamina's hook: retry a failed delivery that may succeed later (after ``Retry-After`` if given)."""
    if not isinstance(exc, DeliveryFailed) or exc.retry_after is None:
        return False
    return exc.retry_after or True


def _retry_after(value: str | None) -> float:
    """Seconds a ``Retry-After`` asks for (0: the usual backoff), at most ``MAX_RETRY_AFTER_S``."""
    try:
        return min(max(float(value or 0), 0.0), MAX_RETRY_AFTER_S)
    except ValueError:
        return 0.0


def _matches(host: str, pattern: str) -> bool:
    if pattern == "*":
        return True
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and len(host) > len(pattern) - 1
    return host == pattern


def _shown(url: str) -> str:
    """The URL for a log line: scheme, host and path, no query (it may carry a token)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _refused(message: str) -> Exception:
    return invalid_request([{"field": "notify_url", "message": message}])
