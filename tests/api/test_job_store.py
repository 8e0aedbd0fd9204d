"""The job list on disk keeps ``server.keep_finished_jobs`` finished jobs, never pruning an active one, and
records each job's collection and labels (columns given in place to a list written before them)."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

from mmsearch.api.services.job_store import JobStore
from mmsearch.ingest.names import Labels


def test_only_the_newest_finished_jobs_are_kept(tmp_path: Path) -> None:
    with JobStore(tmp_path / "jobs.sqlite", keep_finished=2) as jobs:
        jobs.create("active", [("a.pdf", 10)])
        for n in range(4):
            jobs.create(f"done-{n}", [("b.pdf", 20)])
            jobs.finish(f"done-{n}", "done")
        assert [job.id for job in jobs.jobs()] == ["done-3", "done-2", "active"]
        assert jobs.get("done-0") is None and jobs.get("active") is not None


def test_jobs_keep_their_collection_labels_and_replaces(tmp_path: Path) -> None:
    labels = Labels.checked("finance", ["finance"], {"year": 2024})
    with JobStore(tmp_path / "jobs.sqlite") as jobs:
        job = jobs.create(
            "j", [("a.pdf", 1), ("b.pdf", 2)], labels, replace=False, replaces=frozenset({"b.pdf"})
        )
        assert (job.collection, job.labels, job.replace) == ("finance", labels, False)
        assert [f.replaces for f in job.files] == [False, True]
        jobs.update_file("j", replace(job.files[0], state="indexed", replaces=True))
        assert [f.replaces for f in jobs.get("j").files] == [True, True]  # type: ignore[union-attr]
        assert jobs.create("k", [("c.pdf", 1)]).collection == "default"


def test_a_job_list_from_before_collections_gains_the_columns_in_place(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "jobs.sqlite", isolation_level=None)
    db.executescript(
        "CREATE TABLE jobs (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, state TEXT NOT NULL, "
        "created REAL NOT NULL, started REAL, finished REAL, cancel INTEGER NOT NULL DEFAULT 0, error TEXT);"
        "CREATE TABLE job_files (job_id TEXT NOT NULL, idx INTEGER NOT NULL, name TEXT NOT NULL, size INTEGER "
        "NOT NULL, state TEXT NOT NULL, kind TEXT, units INTEGER NOT NULL DEFAULT 0, seconds REAL NOT NULL "
        "DEFAULT 0, code TEXT, message TEXT, doc_id TEXT, PRIMARY KEY (job_id, idx));"
        "INSERT INTO jobs (id, state, created) VALUES ('old', 'queued', 1.0);"
        "INSERT INTO job_files (job_id, idx, name, size, state) VALUES ('old', 0, 'memo.pdf', 5, 'queued');"
    )
    db.close()
    with JobStore(tmp_path / "jobs.sqlite") as jobs:
        old = jobs.get("old")
        assert old is not None and (old.collection, old.replace, old.state) == ("default", True, "queued")
        assert [(f.name, f.replaces) for f in old.files] == [("memo.pdf", False)]
        assert [j.id for j in jobs.recover()] == ["old"]  # still resumed at the next start
