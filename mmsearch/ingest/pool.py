"""Worker processes for CPU-bound ingest work (PDF page rasterisation, OCR): a pool sized to the cores.

``ordered(fn, jobs)`` runs ``fn(*job)`` in the workers and yields the results in job order, keeping at
most ``window`` jobs in flight, so memory stays bounded however long the input is and the consumer
(the embedder) never waits for a page that could have been rendered meanwhile.

Worker processes are started with ``spawn``: a fork of a process that holds model threads or the
embedded store's lock would copy both (a forked child keeps the store's ``flock`` alive after a
``kill -9`` of its parent). Spawned workers inherit no open files. Nor do they run the parent's main
script: plain ``spawn`` re-runs it in every worker (as ``__mp_main__``), so a program that ingests
through ``Indexer.run`` at its top level, with no ``if __name__ == "__main__":`` guard, would run again
in each worker — a script that begins by clearing its data folder wiped the store its parent was
writing (the parent's points lost, its close failing on segment files gone). The workers only run
mmsearch's own functions, so ``worker_context`` leaves the main module out of what a worker prepares.

A worker would outlive a killed parent (it holds both ends of its task queue, so it never sees
end-of-file): each runs a watchdog thread that exits the process within a second of its parent's death.
Workers ignore Ctrl-C once started: the terminal sends it to them too, and it is the parent's to handle.

The workers also contain hostile input: a renderer that crashes (a segfault in MuPDF) breaks only the
pool, reported as ``WorkerCrashed``; a job that runs past ``timeout_s`` gets its workers killed,
reported as ``WorkerTimedOut``. Either way the pool is replaced for the next file. A pool is shared by
the whole process (``shared_pool``); a crash or timeout caused by one caller's file also fails the
jobs another thread had in flight at that moment.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import popen_spawn_posix, spawn
from multiprocessing.context import BaseContext, SpawnContext, SpawnProcess
from typing import Any, TypeVar

log = logging.getLogger(__name__)

R = TypeVar("R")


class WorkerCrashed(Exception):
    """A worker process died while running job ``index`` (the pool is replaced)."""

    def __init__(self, index: int) -> None:
        super().__init__(f"a worker process died running job {index}")
        self.index = index


class WorkerTimedOut(Exception):
    """Job ``index`` ran past the deadline; its workers were killed (the pool is replaced)."""

    def __init__(self, index: int, timeout_s: float) -> None:
        super().__init__(f"job {index} ran past {timeout_s:g} s")
        self.index = index


def default_workers() -> int:
    """One worker per core this process may run on, less the one it needs itself to receive the pages
    (bench/ingest.py on 2 cores: 1 worker 90 pages/s, 2 workers 76), and at least one."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores - 1)


# Imports a worker never needs. PyMuPDF 2.0 imports its optional layout analysis and pymupdf4llm
# whenever they are installed (it requires both): onnxruntime, numpy and a model, about 1.4 s of every
# worker's start, for text-layout and markdown features that rasterising never calls. ``None`` in
# ``sys.modules`` makes PyMuPDF's guarded imports of them raise ImportError, which it ignores
# (``pymupdf/__init__.py``: ``try: import pymupdf.layout`` and ``try: import pymupdf4llm``).
UNUSED_IN_WORKERS = ("pymupdf.layout", "pymupdf4llm")


def init_worker(parent: int) -> None:
    """In a worker: leave Ctrl-C to the parent (the terminal sends it to the whole process group; the
    parent stops, and the workers follow it), exit when the parent is gone, and skip unused imports."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    watch_parent(parent)
    skip_unused_imports()


def skip_unused_imports() -> None:
    """Keep ``UNUSED_IN_WORKERS`` out of this process. Only for processes that are ours (a worker, the
    ``mmsearch`` command): a program that imports mmsearch as a library may want them."""
    for name in UNUSED_IN_WORKERS:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]  # None: "not importable"


def watch_parent(parent: int, every_s: float = 0.5) -> None:
    """In a worker: exit as soon as ``parent`` is gone (the worker has been handed to another parent)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every_s)
        os._exit(1)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()


_launching = threading.local()  # set while this thread starts one of our workers
_MAIN_KEYS = ("init_main_from_path", "init_main_from_name")  # what makes a spawned child run __main__
_stdlib_preparation_data = spawn.get_preparation_data


def _preparation_data(name: str) -> dict[str, Any]:
    """``multiprocessing.spawn.get_preparation_data``, less the parent's main module while this thread
    starts a worker; unchanged for every other process anyone starts."""
    data: dict[str, Any] = _stdlib_preparation_data(name)
    if getattr(_launching, "worker", False):
        for key in _MAIN_KEYS:
            data.pop(key, None)
    return data


class _WorkerPopen(popen_spawn_posix.Popen):
    def _launch(self, process_obj: Any) -> None:
        _launching.worker = True
        try:
            super()._launch(process_obj)  # type: ignore[misc]  # not in typeshed's stub
        finally:
            _launching.worker = False


class _WorkerProcess(SpawnProcess):
    @staticmethod
    def _Popen(process_obj: Any) -> Any:
        return _WorkerPopen(process_obj)


class _WorkerContext(SpawnContext):
    Process = _WorkerProcess


def worker_context() -> BaseContext:
    """The ``spawn`` context, but a worker does not import (run) the parent's main module: see the
    module docstring. Where ``spawn`` has no POSIX launcher (Windows), plain ``spawn``."""
    if sys.platform == "win32":
        return multiprocessing.get_context("spawn")
    spawn.get_preparation_data = _preparation_data  # popen_spawn_posix looks it up at each start
    return _WorkerContext()


class WorkerPool:
    """A process pool that yields results in order from a bounded window (see the module docstring)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._executor = ProcessPoolExecutor(
            workers,
            mp_context=worker_context(),
            initializer=init_worker,
            initargs=(os.getpid(),),
        )
        self.broken = False

    def ordered(
        self, fn: Callable[..., R], jobs: Iterable[tuple[Any, ...]], *, window: int, timeout_s: float
    ) -> Generator[R, None, None]:
        """``fn(*job)`` for every job, in order. Closing the iterator early cancels what has not started.
        Exceptions raised by ``fn`` reach the caller as they are (they must pickle)."""
        pending: deque[Future[R]] = deque()
        todo = iter(jobs)
        index = 0
        try:
            while True:
                while len(pending) < window and (job := next(todo, None)) is not None:
                    pending.append(self._submit(fn, job, index + len(pending)))
                if not pending:
                    return
                yield self._result(pending.popleft(), index, timeout_s)
                index += 1
        finally:
            for future in pending:
                future.cancel()

    def _submit(self, fn: Callable[..., R], job: tuple[Any, ...], index: int) -> Future[R]:
        try:
            return self._executor.submit(fn, *job)
        except (BrokenProcessPool, RuntimeError) as exc:  # broken by another caller, or shut down
            self.broken = True
            raise WorkerCrashed(index) from exc

    def _result(self, future: Future[R], index: int, timeout_s: float) -> R:
        try:
            return future.result(timeout=timeout_s)
        except FutureTimeout:
            self.kill()
            raise WorkerTimedOut(index, timeout_s) from None
        except BrokenProcessPool as exc:
            self.broken = True
            raise WorkerCrashed(index) from exc

    def kill(self) -> None:
        """Kill the workers now (a job that hangs cannot be cancelled any other way) and retire the pool."""
        self.broken = True
        kill_workers = getattr(self._executor, "kill_workers", None)  # Python 3.14+
        if kill_workers is not None:
            kill_workers()
        else:
            for process in list((getattr(self._executor, "_processes", None) or {}).values()):
                process.kill()
        self._executor.shutdown(wait=False, cancel_futures=True)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


_lock = threading.Lock()
_pool: WorkerPool | None = None


def shared_pool(workers: int) -> WorkerPool:
    """The process's pool of ``workers`` processes, started on first use and replaced when broken."""
    global _pool
    with _lock:
        if _pool is not None and (_pool.broken or _pool.workers != workers):
            old, _pool = _pool, None
            if not old.broken:
                old.shutdown()
        if _pool is None:
            log.debug("starting %d render worker process(es)", workers)
            _pool = WorkerPool(workers)
        return _pool
