"""What the lexical (BM25) stage indexes for one unit: its text, its document's name and its metadata's text.

Pages have their text layer (or OCR text); images and videos often have no words but their name and
metadata, which are what a user types for them ("invoice 2024-117", "site-visit.mp4"). The name is split
into words as well as kept whole, so ``quarterly-report.pdf`` is found by ``quarterly`` and by its full
name. Both the pipeline (new points) and the store's in-place upgrade (old points) build it here, so an
upgraded point indexes exactly what a new one would.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_NAME_SPLIT = re.compile(r"[\W_]+", re.UNICODE)
MAX_SEARCH_TEXT_CHARS = 16_000  # bounds one point's index entry (a page's text is cut at ingest.text_chars)


def search_text_for(text: str, name: str, metadata: Mapping[str, Any] | None = None) -> str:
    """``text``, then the name (whole and split into words), then each metadata string or list of strings,
    one per line, cut at ``MAX_SEARCH_TEXT_CHARS``."""
    lines = [text.strip()] if text.strip() else []
    if name:
        words = " ".join(w for w in _NAME_SPLIT.split(name) if w)
        lines.append(f"{name} {words}" if words and words != name else name)
    for value in (metadata or {}).values():
        if isinstance(value, str) and value.strip():
            lines.append(value.strip())
        elif isinstance(value, list | tuple):
            lines.extend(v.strip() for v in value if isinstance(v, str) and v.strip())
    return "\n".join(lines)[:MAX_SEARCH_TEXT_CHARS]
