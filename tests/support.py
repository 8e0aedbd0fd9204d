"""Helpers shared by the end-to-end tests: settings and environment pointing at the tiny models."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from mmsearch.config import Settings, load_settings

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


def tiny_settings(data_dir: Path, models: Path, **sections: dict[str, Any]) -> Settings:
    """Settings for tests: no config file (an empty one is passed), tiny models, CPU, ``data_dir``."""
    empty = data_dir.parent / f"{data_dir.name}-config.yaml"
    empty.parent.mkdir(parents=True, exist_ok=True)
    empty.write_text("{}\n")
    overrides = tiny_overrides(data_dir, models)
    for name, values in sections.items():
        overrides.setdefault(name, {}).update(values)
    return load_settings(empty, overrides)


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
