"""Shared fixtures. Tests never reach the Hugging Face hub: models are tiny random Qwen3-VL checkpoints
built offline by ``scripts/make_tiny_models.py``."""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

# Set before transformers / huggingface_hub are imported anywhere, so no test can try the network.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

REPO = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test's hang guard (pytest-timeout: its ``timeout`` mark, else the ini's) scaled to this
    machine (``tests.support.budget``): a loaded CI box gets more time, a hang still fails."""
    from tests.support import budget

    default = float(config.getini("timeout") or 0)
    for item in items:
        marker = item.get_closest_marker("timeout")
        seconds = float(marker.args[0]) if marker is not None and marker.args else default
        if seconds > 0:
            item.add_marker(pytest.mark.timeout(budget(seconds)), append=False)


BUILDER = REPO / "scripts" / "make_tiny_models.py"


def _load_builder() -> Callable[[Path], None]:
    spec = importlib.util.spec_from_file_location("make_tiny_models", BUILDER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    build: Callable[[Path], None] = module.build_tiny_models
    return build


def _is_built(root: Path) -> bool:
    """Built, complete, and by the current recipe (a cache from an older script is rebuilt)."""
    recipe = root / "RECIPE"
    current = hashlib.sha256(BUILDER.read_bytes()).hexdigest()
    return recipe.is_file() and recipe.read_text().strip() == current


def _build_into(root: Path) -> None:
    """Build next to ``root`` and move into place, so a half-written cache is never reused."""
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tiny-", dir=root.parent))
    try:
        _load_builder()(staging)
        if root.exists():
            shutil.rmtree(root)
        staging.rename(root)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (created), held until the block ends: the xdist workers queue here."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This run's temp folder, shared by its xdist workers (each worker's base temp is a child of it)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture
def anyio_backend() -> str:
    """The async tests (``pytest.mark.anyio``: the API, the client, MCP) run on asyncio."""
    return "asyncio"


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder with ``embedding/`` and ``reranker/`` tiny Qwen3-VL checkpoints.

    Built once per run, into the run's temp folder, by whichever xdist worker asks first (the others wait
    on a lock and reuse it: the build is seeded, so each worker would build the same); or reused from
    ``$MMSEARCH_TINY_MODELS`` when set (built there first if missing or by an older recipe)."""
    cached = os.environ.get("MMSEARCH_TINY_MODELS")
    root = Path(cached) if cached else _run_dir(tmp_path_factory) / "tiny_models"
    with _locked(root.parent / f"{root.name}.lock"):
        if not _is_built(root):
            _build_into(root)
    return root
