"""Signed URLs for page/frame images and original files.

An ``<img>`` or ``<video>`` tag cannot send an ``Authorization`` header, and a RAG consumer should be
able to hand a hit's image URL to another program. So when auth is on, the URLs in search results carry
``?exp=<unix time>&sig=<hmac>``: an HMAC-SHA256, under ``server.url_secret``, of the resource path and
the expiry. A valid signature grants read access to that one resource until it expires.

Expiries are rounded up to a multiple of ``ttl``, so the same hit gets the same URL for a while and
browsers can cache the image. A URL lives between ``ttl`` and ``2·ttl`` seconds.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable

MAX_EXP_DIGITS = 12  # unix seconds until the year 33658


class UrlSigner:
    def __init__(self, secret: str | None, ttl_s: int, clock: Callable[[], float] = time.time) -> None:
        self._key = (secret or secrets.token_urlsafe(32)).encode()
        self.ttl_s = ttl_s
        self._clock = clock

    def sign(self, path: str) -> dict[str, str]:
        """Query parameters that grant read access to ``path`` (``/v1/images/<id>``)."""
        expires = (int(self._clock()) // self.ttl_s + 2) * self.ttl_s
        return {"exp": str(expires), "sig": self._mac(path, expires)}

    def verify(self, path: str, exp: str | None, sig: str | None) -> bool:
        """Whether ``sig`` signs ``path`` until ``exp``, and ``exp`` has not passed. Anything malformed
        (non-ASCII digits such as "²", a 5000-digit number, a non-ASCII signature) is simply invalid."""
        if not exp or not sig or not _plain_number(exp) or not sig.isascii():
            return False
        expires = int(exp)
        if expires < self._clock():
            return False
        return hmac.compare_digest(sig.encode(), self._mac(path, expires).encode())

    def _mac(self, path: str, expires: int) -> str:
        digest = hmac.new(self._key, f"{path}\n{expires}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:24]).decode().rstrip("=")


def _plain_number(value: str) -> bool:
    return len(value) <= MAX_EXP_DIGITS and value.isascii() and value.isdigit()
