"""The job list on disk keeps ``server.keep_finished_jobs`` finished jobs, never pruning an active one."""

from __future__ import annotations

from pathlib import Path

from mmsearch.api.services.job_store import JobStore


def test_only_the_newest_finished_jobs_are_kept(tmp_path: Path) -> None:
    with JobStore(tmp_path / "jobs.sqlite", keep_finished=2) as jobs:
        jobs.create("active", [("a.pdf", 10)])
        for n in range(4):
            jobs.create(f"done-{n}", [("b.pdf", 20)])
            jobs.finish(f"done-{n}", "done")
        assert [job.id for job in jobs.jobs()] == ["done-3", "done-2", "active"]
        assert jobs.get("done-0") is None and jobs.get("active") is not None
