"""The job list tells its watchers of each write, and ``JobWatch`` wakes the requests waiting on that
job (from the writing thread to their event loop), and only those."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from mmsearch.api.services.job_store import JobFile, JobStore, new_job_id
from mmsearch.api.services.job_watch import JobWatch, changed

pytestmark = pytest.mark.anyio


def test_each_write_is_heard_after_its_commit(tmp_path: Path) -> None:
    heard: list[tuple[str, str]] = []
    with JobStore(tmp_path / "jobs.sqlite") as jobs:
        jobs.watchers.append(lambda job_id: heard.append((job_id, jobs.get(job_id).state)))  # type: ignore[union-attr]
        job_id = new_job_id()
        jobs.create(job_id, [("a.pdf", 1)])
        jobs.claim(job_id)
        jobs.update_file(job_id, JobFile(0, "a.pdf", 1, "running", units=2))
        jobs.finish(job_id, "done")
    assert heard == [(job_id, "queued"), (job_id, "running"), (job_id, "running"), (job_id, "done")]


def test_a_failing_watcher_does_not_undo_the_write(tmp_path: Path) -> None:
    with JobStore(tmp_path / "jobs.sqlite") as jobs:

        def failing(job_id: str) -> None:
            raise RuntimeError(f"watcher of {job_id} failed")

        jobs.watchers.append(failing)
        job_id = new_job_id()
        jobs.create(job_id, [("a.pdf", 1)])
        assert jobs.get(job_id) is not None


async def test_a_write_from_another_thread_wakes_its_waiters_only(tmp_path: Path) -> None:
    watch = JobWatch()
    with watch.subscribe("job-a") as a, watch.subscribe("job-b") as b:
        assert watch.subscribers == 2
        threading.Thread(target=watch.notify, args=("job-a",)).start()
        assert await changed(a, 30.0)  # woken, not timed out
        assert not await changed(b, 0.05)
    assert watch.subscribers == 0
    watch.notify("job-a")  # nobody waits: nothing to do
