"""The benchmarks still run: each one once, at a tiny size, on the CPU. Figures are not checked here —
performance targets live in the benchmarks' own output, never in timed tests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO

pytestmark = pytest.mark.slow

CASES = {
    "ingest": ["--pages", "3", "--images", "2", "--video-seconds", "4", "--render-workers", "1", "--json"],
    "index": ["--n", "300", "--dim", "128", "--prefetch-dim", "32", "--queries", "5", "--json"],
    "embed": ["--tiny", "--pages", "2", "--json"],
    "rerank": ["--tiny", "--documents", "3", "--max-batch-size", "3", "--json"],
    "upload": ["--tiny", "--pages", "20", "--side", "1000", "--small", "3", "--json"],
    "query": ["--tiny", "--pdfs", "1", "--pages", "2", "--queries", "2", "--candidates", "4", "--json"],
    "served_fidelity": ["--json"],
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_benchmark_runs_and_prints_figures(name: str, tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / f"{name}.py"), *CASES[name]],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert figures(done.stdout), "no figures printed"


def test_query_benchmark_serves_batched_and_unbatched_side_by_side(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    args = ["--tiny", "--serve", "--pdfs", "1", "--pages", "2", "--points", "300", "--requests", "6",
            "--concurrency", "1", "4", "--json"]  # fmt: skip
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "query.py"), *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout)
    assert out["points"] == 300 and set(out["modes"]) == {"unbatched", "batched"}
    for rows in out["modes"].values():
        assert [row["concurrency"] for row in rows] == [1, 4]
        assert all(row["requests"] == 6 and row["qps"] > 0 and row["p99_ms"] >= row["p50_ms"] for row in rows)


def figures(stdout: str) -> list[object]:
    """--json output: one JSON document, or one JSON object per line."""
    text = stdout.strip()
    try:
        return [json.loads(text)] if text else []
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
