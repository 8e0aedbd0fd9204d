"""The last ``mmsearch verify`` result, kept at ``data_dir/verify.json`` so ``/readyz`` can report it."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from mmsearch.config import Settings
from mmsearch.verify.compare import Report

FILE = "verify.json"


def target(settings: Settings) -> dict[str, Any]:
    """Which servers a verification is about: backends and URLs of the embedder and reranker."""
    return {
        "embedding": {"backend": settings.embedding.backend, "url": settings.embedding.url},
        "reranker": {"backend": settings.reranker.backend, "url": settings.reranker.url},
    }


def save(settings: Settings, report: Report) -> Path:
    """Write the result atomically (a reader never sees half a file)."""
    path = settings.data_dir / FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"at": time.time(), "passed": not report.failures, "failures": report.failures, **target(settings)}
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(body))
    os.replace(partial, path)
    return path


def load(settings: Settings) -> dict[str, Any] | None:
    """The last result, with ``current``: whether it was made against the servers configured now;
    ``None`` when verify never ran here (or its file is unreadable)."""
    try:
        body: dict[str, Any] = json.loads((settings.data_dir / FILE).read_text())
    except (OSError, ValueError):
        return None
    here = target(settings)
    body["current"] = all(body.get(k) == v for k, v in here.items())
    return body
