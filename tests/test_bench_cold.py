"""``bench/query.py --cold``: cold ``mmsearch query`` processes, side by side with another checkout. A file of
its own: the suite spreads files over its workers (``--dist loadfile``), and this one takes a while."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO

pytestmark = pytest.mark.slow


def test_query_benchmark_times_cold_queries_side_by_side_with_another_checkout(tmp_path: Path) -> None:
    """``--cold`` runs each checkout's own ``mmsearch`` (here this one twice: the path is what matters)."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    bench = [sys.executable, str(REPO / "bench" / "query.py"), "--tiny", "--pdfs", "1", "--pages", "2"]
    done = subprocess.run(
        [*bench, "--cold", "1", "--against", str(REPO), "--json"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout)
    assert out["runs"] == 1 and out["points"] > 2
    assert set(out["cold_query_s"]) == {"this", "against"}
    for row in out["cold_query_s"].values():
        assert len(row["all"]) == 1 and 0 < row["min"] <= row["median"]
    assert out["ratio_median"] > 0
    wrong = subprocess.run(
        [*bench, "--cold", "1", "--against", str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert wrong.returncode != 0 and "not an mmsearch checkout" in wrong.stderr
