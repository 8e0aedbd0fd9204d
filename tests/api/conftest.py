"""API fixtures: one small corpus indexed once per session with the tiny models.

The session index is read-only for the tests that share it (search, images, browser, server); tests
that upload or delete build their own index in their own data dir. Helpers live in ``api_support``; the
headless Chromium and its ``page`` (the browser tests) in ``browser_support``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import Indexed, ingest, make_corpus, tiny_settings
from browser_support import chromium, page  # noqa: F401 - the browser tests' fixtures

from mmsearch.api.services.parts import open_services


@pytest.fixture(scope="session")
def indexed(tiny_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Indexed]:
    root = tmp_path_factory.mktemp("api-index")
    files = make_corpus(root / "corpus")
    settings = tiny_settings(root / "data", tiny_models, small_media=True)
    services = open_services(settings)
    try:
        ingest(settings, services, [root / "corpus"])
        yield Indexed(settings, services, files)
    finally:
        services.close()
