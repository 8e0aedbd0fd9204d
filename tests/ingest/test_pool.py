"""PDF pages rendered in worker processes: the same pages as in process, in order, bounded, and a hostile
file that hangs or crashes the renderer fails only itself."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Generator, Iterator
from pathlib import Path

import numpy as np
import pytest

from mmsearch.errors import LimitExceeded
from mmsearch.ingest import pool
from mmsearch.ingest.reader import read_file
from mmsearch.ingest.render import RenderOptions, render_in_worker
from mmsearch.ingest.settings import IngestSettings
from mmsearch.ingest.units import PageUnit, Unit
from mmsearch.samples import make_pdf, marker_word
from tests.support import budget

POOLED = IngestSettings(render_workers=2)
IN_PROCESS = IngestSettings(render_workers=0)


def page_of(unit: Unit) -> PageUnit:
    assert isinstance(unit, PageUnit), unit
    return unit


def test_pooled_pages_equal_in_process_pages(tmp_path: Path) -> None:
    make_pdf(tmp_path / "report.pdf", 7, topic="owls")
    here = [page_of(u) for u in read_file(tmp_path / "report.pdf", IN_PROCESS)[1]]
    pooled = [page_of(u) for u in read_file(tmp_path / "report.pdf", POOLED)[1]]
    assert [p.page for p in pooled] == list(range(1, 8))
    for a, b in zip(here, pooled, strict=True):
        assert b.page_count == 7
        assert (a.id, a.text, a.width_pt, a.height_pt) == (b.id, b.text, b.width_pt, b.height_pt)
        assert a.image.size == b.image.size and a.image.mode == b.image.mode == "RGB"
        assert np.array_equal(np.asarray(a.image), np.asarray(b.image))


def test_a_worker_imports_only_what_rendering_needs(tmp_path: Path) -> None:
    """Every ingest of a PDF starts workers: PyMuPDF's layout analysis (onnxruntime), pydantic and the
    model stack would cost seconds of each start for nothing."""
    make_pdf(tmp_path / "one.pdf", 1)
    workers = pool.WorkerPool(1)
    probe = "sorted(m for m in MODULES if __import__('sys').modules.get(m) is not None)"
    modules = ("pymupdf", "pymupdf.layout", "pymupdf4llm", "onnxruntime", "pydantic", "torch", "transformers")
    try:
        job = (str(tmp_path / "one.pdf"), 1, RenderOptions(144.0, 64 * 32 * 32, 100), "one.pdf")
        assert len(list(workers.ordered(render_in_worker, [job], window=1, timeout_s=60))) == 1
        loaded = workers.ordered(eval, [(probe, {"MODULES": modules})], window=1, timeout_s=60)
        assert list(loaded) == [["pymupdf"]]
    finally:
        workers.shutdown()


def test_two_files_with_one_name_in_turn_are_not_confused(tmp_path: Path) -> None:
    """A worker keeps its document open between pages; a new file under the same path is a new document."""
    target = tmp_path / "same.pdf"
    make_pdf(target, 2, topic="cats")
    first = [page_of(u).text for u in read_file(target, POOLED)[1]]
    make_pdf(target, 3, topic="dogs")
    second = [page_of(u).text for u in read_file(target, POOLED)[1]]
    assert [marker_word("cats", n) in text for n, text in enumerate(first, start=1)] == [True, True]
    assert [marker_word("dogs", n) in text for n, text in enumerate(second, start=1)] == [True] * 3


def test_a_page_over_the_time_limit_fails_its_file_and_the_next_file_renders(tmp_path: Path) -> None:
    make_pdf(tmp_path / "slow.pdf", 3)
    make_pdf(tmp_path / "next.pdf", 2)
    strict = IngestSettings(render_workers=2, render_timeout_s=0.001)  # no page renders in a millisecond
    _, units = read_file(tmp_path / "slow.pdf", strict)
    with pytest.raises(
        LimitExceeded, match=r"slow\.pdf: page 1 of 3 took longer than ingest\.render_timeout_s"
    ):
        next(units)
    assert [page_of(u).page for u in read_file(tmp_path / "next.pdf", POOLED)[1]] == [1, 2]


def test_closing_early_leaves_the_pool_usable(tmp_path: Path) -> None:
    make_pdf(tmp_path / "long.pdf", 12, with_charts=False)
    _, units = read_file(tmp_path / "long.pdf", POOLED)
    assert page_of(next(units)).page == 1
    assert isinstance(units, Generator)
    units.close()
    assert len(list(read_file(tmp_path / "long.pdf", POOLED)[1])) == 12


def test_results_come_in_order_from_a_bounded_window() -> None:
    workers = pool.WorkerPool(2)
    try:
        jobs = [(0.2 if i % 3 == 0 else 0.0,) for i in range(9)]  # early jobs finish last
        started = time.perf_counter()
        assert list(workers.ordered(time.sleep, jobs, window=4, timeout_s=30)) == [None] * 9
        assert time.perf_counter() - started < 30
        taken: list[int] = []

        def jobs_counted() -> Iterator[tuple[float]]:
            for i in range(100):
                taken.append(i)
                yield (0.0,)

        results = workers.ordered(time.sleep, jobs_counted(), window=4, timeout_s=30)
        next(results)
        assert len(taken) <= 4  # never more than the window submitted ahead of the consumer
        results.close()
    finally:
        workers.shutdown()


def test_a_crashed_worker_is_reported_and_the_shared_pool_replaced() -> None:
    crashing = pool.shared_pool(2)
    with pytest.raises(pool.WorkerCrashed) as caught:
        list(crashing.ordered(os._exit, [(9,)], window=2, timeout_s=60))
    assert caught.value.index == 0 and crashing.broken
    fresh = pool.shared_pool(2)
    assert fresh is not crashing
    assert list(fresh.ordered(abs, [(-1,), (-2,)], window=2, timeout_s=60)) == [1, 2]


def test_a_hung_worker_is_killed_at_the_deadline() -> None:
    hanging = pool.WorkerPool(1)
    started = time.perf_counter()
    with pytest.raises(pool.WorkerTimedOut):
        list(hanging.ordered(time.sleep, [(600,)], window=1, timeout_s=0.5))
    assert time.perf_counter() - started < 30
    assert hanging.broken


UNGUARDED = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from mmsearch.ingest.reader import read_file
    from mmsearch.ingest.settings import IngestSettings
    with open("ran.txt", "a") as ran:  # top-level code, and no ``if __name__ == "__main__":`` guard
        ran.write(__name__ + "\\n")
    units = list(read_file(Path(sys.argv[1]), IngestSettings(render_workers=1))[1])
    print(len(units), flush=True)
    """
)


def test_a_worker_does_not_run_the_parents_main_script(tmp_path: Path) -> None:
    """``spawn`` re-runs the main script in each worker unless it is guarded; a script that ingests at
    its top level must run once (it cleared its data folder in each worker: the parent's store lost)."""
    make_pdf(tmp_path / "two.pdf", 2)
    (tmp_path / "script.py").write_text(UNGUARDED)
    done = subprocess.run(
        [sys.executable, "script.py", str(tmp_path / "two.pdf")],
        check=False, cwd=tmp_path, capture_output=True, text=True, timeout=budget(60),
    )  # fmt: skip
    assert (tmp_path / "ran.txt").read_text().splitlines() == ["__main__"], done.stderr
    assert (done.returncode, done.stdout.split()) == (0, ["2"]), done.stderr


PARENT = textwrap.dedent(
    """
    import os, sys, time
    from mmsearch.ingest import pool
    workers = pool.shared_pool(2)
    seen = set()
    while len(seen) < 2:  # both workers started (and so set up: before that a signal is the default's)
        seen |= set(workers.ordered(os.getpid, [()] * 8, window=8, timeout_s=60))
    print(" ".join(str(pid) for pid in seen), flush=True)
    time.sleep(600)
    """
)


def test_workers_ignore_ctrl_c_and_die_with_a_killed_parent(tmp_path: Path) -> None:
    """kill -9 of the ingesting process must not leave renderers behind (nor anything they hold)."""
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True, cwd=tmp_path)
    assert parent.stdout is not None
    pids = [int(p) for p in parent.stdout.readline().split()]
    assert len(pids) == 2
    for pid in pids:  # Ctrl-C reaches the whole process group: it is the parent's to handle
        os.kill(pid, signal.SIGINT)
    time.sleep(1)
    assert all(_running(pid) for pid in pids)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + budget(20)
    alive = pids
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [pid for pid in pids if _running(pid)]
    assert alive == []


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"
