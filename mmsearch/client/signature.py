"""Webhook signatures: the HMAC-SHA256 of a body under ``server.webhook_secret``, in one header.

The server signs each webhook body it sends (``sign``) and puts the result in ``X-Mmsearch-Signature`` as
``sha256=<hex>``; a receiver recomputes it over the raw body it got (``verify_signature``) and drops a
body whose signature does not match. The body carries ``delivery`` (an id, the same on every retry of one
delivery) and ``sent`` (unix seconds), so a receiver can also refuse replays.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Mmsearch-Signature"
PREFIX = "sha256="


def sign(secret: str, body: bytes) -> str:
    """The header value for ``body``: ``sha256=`` and the hex HMAC-SHA256 under ``secret``."""
    return PREFIX + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, header: str | None) -> bool:
    """Whether ``header`` (the ``X-Mmsearch-Signature`` received) signs ``body`` under ``secret``
    (compared in constant time)."""
    if not header or not header.startswith(PREFIX):
        return False
    return hmac.compare_digest(sign(secret, body), header.strip())
