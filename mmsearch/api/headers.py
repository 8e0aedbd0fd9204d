"""Security headers of the HTML pages (the web page at ``/``, the API docs at ``/docs``).

Each page loads only this server's files, so its Content-Security-Policy allows nothing from elsewhere:
no CDN, and no inline script except the ones a page names by hash.
"""

from __future__ import annotations

import base64
import hashlib


def page_headers(*inline_scripts: str) -> dict[str, str]:
    """Headers for an HTML page; ``inline_scripts`` are the exact texts of the inline scripts it may run."""
    script_src = " ".join(["'self'", *(script_hash(s) for s in inline_scripts)])
    return {
        "Cache-Control": "no-cache",
        "Content-Security-Policy": (
            f"default-src 'none'; script-src {script_src}; style-src 'self'; img-src 'self' data: blob:; "
            "media-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; "
            "frame-ancestors 'none'"
        ),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


def script_hash(text: str) -> str:
    """The CSP source that allows exactly this inline script: ``'sha256-<base64 digest>'``."""
    digest = hashlib.sha256(text.encode()).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"
