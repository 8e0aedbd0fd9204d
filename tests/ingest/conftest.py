"""Fixtures for ingest tests: generated files only (``mmsearch.samples``), written under pytest's tmp dirs."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmsearch.ingest.settings import IngestSettings
from mmsearch.samples import make_bad_files, make_sample_corpus


@pytest.fixture
def settings() -> IngestSettings:
    return IngestSettings()


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("corpus")
    make_sample_corpus(folder)
    return folder


@pytest.fixture(scope="session")
def bad_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    folder = tmp_path_factory.mktemp("bad")
    return folder, make_bad_files(folder)
