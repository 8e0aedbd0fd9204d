"""A short piece of a unit's text for display: around the first query word found, else its start."""

from __future__ import annotations

import re

_WORD = re.compile(r"\w{3,}", re.UNICODE)


def make_snippet(text: str, query: str | None, width: int = 240) -> str:
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    start = 0
    for word in _WORD.findall(query or ""):
        found = text.lower().find(word.lower())
        if found >= 0:
            start = max(0, found - width // 3)
            break
    end = min(len(text), start + width)
    start = max(0, end - width)
    piece = text[start:end]
    return ("…" if start > 0 else "") + piece + ("…" if end < len(text) else "")
