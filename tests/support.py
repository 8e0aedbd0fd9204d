"""Helpers shared by the end-to-end tests: settings and environment pointing at the tiny models."""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import socket
import subprocess
import sys
import time
import traceback
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import ModuleType
from typing import Any, Literal, TextIO

import pytest
from click.testing import CliRunner

from mmsearch.config import Settings

REPO = Path(__file__).resolve().parents[1]


def tcp_listener() -> socket.socket:
    """A TCP socket on a free loopback port, for uvicorn's ``sockets=``, made as asyncio makes its own:
    with ``IPPROTO_TCP``.

    An accepted socket inherits its listener's ``proto``, and asyncio turns Nagle's algorithm off
    (TCP_NODELAY) only on sockets whose ``proto`` says TCP (``base_events._set_nodelay``). With ``proto`` 0,
    every answer whose body uvicorn writes after its head waited for the client's delayed ACK: 40 ms a
    response, which ``mmsearch serve`` (uvicorn binds its own socket) never pays."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


class NoDelayHandler(BaseHTTPRequestHandler):
    """``http.server``'s handler for the tests' loopback servers, with Nagle's algorithm off: it writes an
    answer's head and body in two writes, and the body would wait for the client's delayed ACK (40 ms)."""

    disable_nagle_algorithm = True


def load_script(name: str) -> ModuleType:
    """``scripts/<name>.py`` imported as a module (scripts are not a package): its functions under test."""
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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


# The interpreter's own warning filters (``python -W`` unset, a release build): what a user's
# ``mmsearch`` process shows on its stderr, instead of pytest's record-everything filters.
PYTHON_DEFAULT_WARNINGS: list[tuple[Literal["default", "ignore"], type[Warning], str]] = [
    ("default", DeprecationWarning, "__main__"),
    ("ignore", DeprecationWarning, ""),
    ("ignore", PendingDeprecationWarning, ""),
    ("ignore", ImportWarning, ""),
    ("ignore", ResourceWarning, ""),
]


def _print_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """As the interpreter shows a warning: on (the current) stderr."""
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


@contextmanager
def _as_a_fresh_process(cwd: Path) -> Iterator[None]:
    """What a new process would have and this one may not: ``cwd`` as the working folder, no root log
    handler (so the command's ``logging.basicConfig`` writes to the captured stderr), Python's default
    warning filters. All put back on the way out."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    before = Path.cwd()
    root.handlers.clear()
    os.chdir(cwd)
    try:
        with warnings.catch_warnings():
            warnings.resetwarnings()
            for action, category, module in reversed(PYTHON_DEFAULT_WARNINGS):
                warnings.filterwarnings(action, category=category, module=module)
            warnings.showwarning = _print_warning  # not into pytest's record
            yield
    finally:
        os.chdir(before)
        for handler in root.handlers:
            handler.close()
        root.handlers[:] = handlers
        root.setLevel(level)


def run_cli(
    args: list[str], env: dict[str, str], cwd: Path, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``mmsearch ARGS`` run in this process through click's ``CliRunner``, as ``python -m mmsearch ARGS``
    would run with exactly ``env`` as its environment, in ``cwd`` (a folder with no config.yaml):
    the console entry point itself (``mmsearch.cli.main``: its ``Error: …`` lines and exit codes), and an
    uncaught exception gives exit code 1 and a traceback on stderr, as the interpreter's would.

    It saves starting a Python with torch for each call (8-10 s of CPU). Tests of the process itself
    (signals, kill -9, start-up, its memory) start a real ``python -m mmsearch``."""
    from mmsearch.cli import main

    unset: dict[str, str | None] = {name: None for name in os.environ if name not in env}
    runner = CliRunner()
    with _as_a_fresh_process(cwd), runner.isolation(input=input, env={**unset, **env}) as streams:
        try:
            main(args, prog_name="mmsearch")
            code = 0
        except SystemExit as exc:
            code = _exit_status(exc.code)
        except Exception:  # noqa: BLE001  (what the interpreter does with it)
            traceback.print_exc()  # to the captured stderr
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        stdout, stderr = streams[0].getvalue(), streams[1].getvalue()
    return subprocess.CompletedProcess(
        ["mmsearch", *args], code, stdout.decode(runner.charset), stderr.decode(runner.charset, "replace")
    )


def _exit_status(code: object) -> int:
    """The status ``sys.exit(code)`` gives a process: None is 0, an int itself, anything else is printed
    and gives 1."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


# -- budgets that scale with the machine -----------------------------------------------------------

# What ``_probe_s`` takes on a quiet core of the machine the budgets were written on (2 shared cores):
# a loaded or slower machine gets proportionally more time, a faster one never less.
PROBE_REFERENCE_S = 0.03


def _probe_s() -> float:
    """The best of three runs of a fixed CPU-bound job (hashing and a Python loop, as ingest mixes)."""
    import hashlib

    data = bytes(range(256)) * 65536  # 16 MiB
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        hashlib.sha256(data).digest()
        sum(i * i for i in range(400_000))
        best = min(best, time.perf_counter() - started)
    return best


@functools.cache
def slowness() -> float:
    """How much slower this machine is now than the one the budgets were written for (≥ 1), measured
    once per test process; ``MMSEARCH_TEST_SLOWNESS`` sets it (a CI box known to be slow)."""
    fixed = os.environ.get("MMSEARCH_TEST_SLOWNESS")
    if fixed:
        return max(1.0, float(fixed))
    return max(1.0, _probe_s() / PROBE_REFERENCE_S)


def budget(seconds: float) -> float:
    """A deadline that only guards a hang: ``seconds`` on the reference machine, scaled by ``slowness``
    (at most 10x, so a hang still fails in bounded time)."""
    return seconds * min(slowness(), 10.0)
