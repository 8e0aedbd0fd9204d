"""``mmsearch serve`` as a user runs it: refuses a public bind without keys and a store another process
holds (plain ``Error:``, exit 1, before any port opens: run in process), and otherwise serves until Ctrl-C
(a real process, as the signal is under test)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from api_support import Indexed, clean_env

from mmsearch import components
from mmsearch.config import load_settings
from mmsearch.samples import make_pdf
from tests.support import budget, run_cli

pytestmark = pytest.mark.slow


def env_for(models: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MMSEARCH_")}
    env.update(
        MMSEARCH_EMBEDDING__MODEL=str(models / "embedding"),
        MMSEARCH_RERANKER__MODEL=str(models / "reranker"),
        MMSEARCH_EMBEDDING__DEVICE="cpu",
        MMSEARCH_RERANKER__DEVICE="cpu",
        HF_HUB_OFFLINE="1",
    )
    return env


def serve(data_dir: Path, models: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A refused ``mmsearch serve``, in process: it stops before any port opens."""
    cwd = data_dir.parent / "serve-cwd"  # no config.yaml there
    cwd.mkdir(parents=True, exist_ok=True)
    return run_cli(["--data-dir", str(data_dir), "serve", *args], env_for(models), cwd)


def test_public_bind_without_keys_is_refused(tmp_path: Path, tiny_models: Path) -> None:
    result = serve(tmp_path / "data", tiny_models, "--host", "0.0.0.0", "--port", "0")
    assert result.returncode == 1
    assert result.stderr.startswith("Error: API keys are required")
    assert "MMSEARCH_SERVER__WRITE_KEYS" in result.stderr and "Traceback" not in result.stderr


def test_a_store_held_by_another_process_is_refused(indexed: Indexed, tiny_models: Path) -> None:
    result = serve(indexed.settings.data_dir, tiny_models, "--port", "0")
    assert result.returncode == 1
    assert "Error:" in result.stderr and "in use by another process" in result.stderr
    assert "Traceback" not in result.stderr


def test_serves_until_interrupted(tmp_path: Path, tiny_models: Path) -> None:
    """... and an upload it ingested (its pages rendered in worker processes) is all there afterwards."""
    data_dir = tmp_path / "data"
    make_pdf(tmp_path / "two.pdf", 2)
    command = [sys.executable, "-m", "mmsearch", "--data-dir", str(data_dir), "serve", "--port", "0"]
    process = subprocess.Popen(command, env=env_for(tiny_models), stderr=subprocess.PIPE, text=True)
    try:
        url = _wait_for_url(process)
        assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
        info = httpx.get(f"{url}/v1/info").json()
        assert info["embedding_model"] == str(tiny_models / "embedding") and info["auth_required"] is False
        _upload(url, tmp_path / "two.pdf")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    with clean_env():
        settings = load_settings(None, {"data_dir": str(data_dir)})
    with components.build_store(settings) as store:  # the lock was released on the way out
        assert store.count() == 2


def _upload(url: str, path: Path) -> None:
    program = {"Authorization": "Bearer any"}  # any value while the server has no keys (guard.py)
    job = httpx.post(
        f"{url}/v1/documents", files=[("files", (path.name, path.read_bytes()))], headers=program
    ).json()
    deadline = time.monotonic() + budget(120)
    while job["state"] in ("queued", "running"):
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
        job = httpx.get(job["url"]).json()  # an absolute URL
    assert job["state"] == "done" and job["files"][0]["status"] == "indexed", job


def _wait_for_url(process: subprocess.Popen[str]) -> str:
    assert process.stderr is not None
    deadline = time.monotonic() + budget(120)
    lines = []
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line and process.poll() is not None:
            break
        lines.append(line)
        found = re.search(r"Uvicorn running on (http://127\.0\.0\.1:\d+)", line)
        if found:
            return found.group(1)
    raise AssertionError("mmsearch serve did not start:\n" + "".join(lines))
