"""Signed URLs for page/frame images and original files, bound to the document's version.

An ``<img>`` or ``<video>`` tag cannot send an ``Authorization`` header, and a RAG consumer should be
able to hand a hit's image URL to another program. So the URLs in search results carry ``?v=<version>``
(the first 16 hex digits of the document's ``source_sha256``: which bytes the URL means) and, when auth
is on, ``&by=<principal>&exp=<unix time>&sig=<hmac>``: an HMAC-SHA256, under ``server.url_secret``, of
the resource path, the version, the principal it was issued to and the expiry. A valid signature grants
read access to that one resource, in that one version, until it expires; a document deleted and
uploaded again with other bytes under the same name (the same document id) is another version, so the
old URL answers 404 (``routes/documents.py``, ``routes/images.py`` compare ``v`` with what is stored).

Expiries are rounded up to a multiple of ``ttl``, so the same hit gets the same URL for a while and
browsers can cache the image. A URL lives between ``ttl`` and ``2·ttl`` seconds (``server.url_ttl_s``,
300 by default: 5 to 10 minutes). The signature never reaches a log: the access log redacts it
(``edge/access_log.py``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Mapping

MAX_EXP_DIGITS = 12  # unix seconds until the year 33658
VERSION_CHARS = 16  # of the hex sha256: 64 bits, and the signature covers them
MAX_BY_CHARS = 256


def version_tag(source_sha256: str) -> str:
    """The ``v`` of a document version's URLs."""
    return source_sha256[:VERSION_CHARS]


class UrlSigner:
    def __init__(self, secret: str | None, ttl_s: int, clock: Callable[[], float] = time.time) -> None:
        self._key = (secret or secrets.token_urlsafe(32)).encode()
        self.ttl_s = ttl_s
        self._clock = clock

    def sign(self, path: str, version: str, by: str) -> dict[str, str]:
        """Query parameters that grant ``by`` (a principal's name, for the audit trail) read access to
        ``path`` (``/v1/images/<id>``) in ``version``."""
        expires = (int(self._clock()) // self.ttl_s + 2) * self.ttl_s
        by = by[:MAX_BY_CHARS]
        return {"v": version, "by": by, "exp": str(expires), "sig": self._mac(path, version, by, expires)}

    def verify(self, path: str, query: Mapping[str, str]) -> bool:
        """Whether ``query``'s ``sig`` signs ``path`` with its ``v``, ``by`` and ``exp``, and ``exp`` has
        not passed. Anything malformed (non-ASCII digits such as "²", a 5000-digit number, a non-ASCII
        signature) is simply invalid."""
        exp, sig = query.get("exp"), query.get("sig")
        version, by = query.get("v", ""), query.get("by", "")
        if not exp or not sig or not _plain_number(exp) or not sig.isascii():
            return False
        if len(version) > VERSION_CHARS or len(by) > MAX_BY_CHARS:
            return False
        expires = int(exp)
        if expires < self._clock():
            return False
        return hmac.compare_digest(sig.encode(), self._mac(path, version, by, expires).encode())

    def seconds_left(self, query: Mapping[str, str]) -> int:
        """How long a URL verified by ``verify`` still lives (for ``Cache-Control: max-age``)."""
        return max(0, int(query["exp"]) - int(self._clock()))

    def _mac(self, path: str, version: str, by: str, expires: int) -> str:
        message = json.dumps([path, version, by, expires]).encode()  # unambiguous, whatever a name holds
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:24]).decode().rstrip("=")


def _plain_number(value: str) -> bool:
    return len(value) <= MAX_EXP_DIGITS and value.isascii() and value.isdigit()
