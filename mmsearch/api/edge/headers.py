"""Security headers: of the HTML pages (the web page at ``/``, the API docs at ``/docs``), and of every
stored file and image the server sends.

Each page loads only this server's files, so its Content-Security-Policy allows nothing from elsewhere:
no CDN, and no inline script except the ones a page names by hash.

Files and images are never pages: ``nosniff`` pins the browser to the declared type, and the policy
``default-src 'none'; sandbox`` gives the document an opaque origin that may run no script, so even a
file a browser did render could not reach the API's origin (its keys, its other URLs). The only sources
allowed are what the browser's own viewer of that type needs: the image viewer its own ``<img>`` of the
URL and inline styles, the media player its ``<video>``, the PDF viewer its plugin frame (and no
sandbox: see ``_VIEWERS``).
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


# What the browser's built-in viewer of each kind loads from the file's own URL (its UA styles inline),
# and its sandbox. Images: a plain sandbox (opaque origin, no script). Video: the media document fetches
# the URL again, which an opaque origin may not (CORS), so it keeps its origin ("allow-same-origin"),
# still without "allow-scripts": no script runs. PDF: Chromium refuses to start its PDF viewer in any
# sandboxed document (crbug.com/413851), so none; a PDF is shown only by the browser's PDF viewer,
# whose scripts run isolated from the origin, and nosniff keeps it from ever being read as HTML.
_VIEWERS: dict[str, tuple[str, str]] = {
    "image": ("img-src 'self' data:; style-src 'unsafe-inline'", "sandbox"),
    "video": ("media-src 'self'; style-src 'unsafe-inline'", "sandbox allow-same-origin"),
    "application/pdf": (
        "object-src 'self'; frame-src 'self'; img-src 'self' data:; style-src 'unsafe-inline'",
        "",
    ),
}


def file_headers(media_type: str) -> dict[str, str]:
    """Headers for a stored file or image of ``media_type``: nosniff and a sandboxing CSP."""
    kind = media_type if media_type == "application/pdf" else media_type.split("/", 1)[0]
    sources, sandbox = _VIEWERS.get(kind, ("", "sandbox"))
    policy = "; ".join(part for part in ("default-src 'none'", sources, sandbox) if part)
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
