"""Helpers shared by the end-to-end tests: settings and environment pointing at the tiny models."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from mmsearch.config import Settings

REPO = Path(__file__).resolve().parents[1]


# One render worker process per ingesting process: the pooled path, at half the process starts (the
# suite runs many ingesting processes side by side on 2 cores); tests/ingest/test_pool.py runs two.
RENDER_WORKERS = 1


def tiny_overrides(data_dir: Path, models: Path) -> dict[str, Any]:
    return {
        "data_dir": str(data_dir),
        "embedding": {"model": str(models / "embedding"), "device": "cpu"},
        "reranker": {"model": str(models / "reranker"), "device": "cpu"},
        "ingest": {"render_workers": RENDER_WORKERS},
    }


# Small pages and frames (~128 visual tokens) keep CPU reranking of a search well under a second: the
# API tests' corpus is ingested at these budgets (``tiny_settings(..., small_media=True)``).
SMALL_MEDIA: dict[str, Any] = {
    "video_segment_seconds": 2.0,
    "video_fps": 1.0,
    "pdf_dpi": 72.0,
    "max_pixels": 128 * 32 * 32,
    "video_frame_max_pixels": 64 * 32 * 32,
}


@contextmanager
def clean_env() -> Iterator[None]:
    """No ``MMSEARCH_*`` variable of the caller's shell leaks into settings built here."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("MMSEARCH_"):
                patch.delenv(name)
        yield


def tiny_settings(
    data_dir: Path, models: Path, *, small_media: bool = False, **sections: dict[str, Any]
) -> Settings:
    """Settings for tests: the tiny models on CPU, everything under ``data_dir``, no config file and no
    ``MMSEARCH_*`` variable of the caller's shell; ``small_media``: the small page and frame budgets of
    ``SMALL_MEDIA``. ``sections`` update the sections they name (``ingest={"pdf_dpi": 36.0}``)."""
    overrides = tiny_overrides(data_dir, models)
    if small_media:
        overrides["ingest"].update(SMALL_MEDIA)
    for name, values in sections.items():
        overrides[name] = {**overrides.get(name, {}), **values}
    with clean_env():
        return Settings(**overrides)


def tiny_env(data_dir: Path, models: Path, **extra: str) -> dict[str, str]:
    """Environment for running the real ``mmsearch`` command against the tiny models."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MMSEARCH_")}
    env.update(
        MMSEARCH_DATA_DIR=str(data_dir),
        MMSEARCH_EMBEDDING__MODEL=str(models / "embedding"),
        MMSEARCH_EMBEDDING__DEVICE="cpu",
        MMSEARCH_RERANKER__MODEL=str(models / "reranker"),
        MMSEARCH_RERANKER__DEVICE="cpu",
        MMSEARCH_INGEST__RENDER_WORKERS=str(RENDER_WORKERS),
        HF_HUB_OFFLINE="1",
        OMP_NUM_THREADS="1",
    )
    env.update(extra)
    return env


def run_cli(
    args: list[str], env: dict[str, str], cwd: Path, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m mmsearch ARGS`` in ``cwd`` (a folder with no config.yaml)."""
    return subprocess.run(
        [sys.executable, "-m", "mmsearch", *args],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
