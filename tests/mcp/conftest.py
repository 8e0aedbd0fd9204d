"""MCP fixtures: one small index in two collections, built once per session with the tiny models.

``finance``: a two-page PDF; ``photos``: one photo. The reranker is off (the tools are under test, not
the models). The index is closed when built: a test module opens it in this process (``/mcp`` of a
live server) or in a child process (``mmsearch mcp`` over stdio), one at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mmsearch import components
from mmsearch.ingest.names import Labels
from mmsearch.samples import make_landscape, make_pdf, marker_word
from tests.mcp.mcp_support import McpIndex
from tests.support import tiny_settings


@pytest.fixture(scope="session")
def mcp_index(tiny_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[McpIndex]:
    root = tmp_path_factory.mktemp("mcp-index")
    pdf = root / "finance" / "quarterly-report.pdf"
    photo = root / "photos" / "lake.jpg"
    make_pdf(pdf, 2, topic="finance")
    photo.parent.mkdir(parents=True)
    make_landscape(photo, (400, 250))
    settings = tiny_settings(root / "data", tiny_models, small_media=True, reranker={"backend": "none"})
    store = components.build_store(settings)
    try:
        embedder = components.build_embedder(settings)
        with components.build_manifest(settings) as manifest:
            for path, collection in ((pdf, "finance"), (photo, "photos")):
                indexer = components.build_indexer(settings, embedder, store, manifest, None)
                indexer.labels = Labels.checked(collection)
                report = indexer.run([path])
                assert not report.failed, report.failed
    finally:
        store.close()
    yield McpIndex(settings, tiny_models, pdf, photo, {p: marker_word("finance", p) for p in (1, 2)})
