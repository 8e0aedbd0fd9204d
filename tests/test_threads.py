"""Torch's thread count: ``runtime.torch_threads``, its default from the CPUs this process may use, and
its application when a model is built (in a fresh interpreter: the counts are process-wide)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from mmsearch.config import Settings
from mmsearch.threads import available_cpus, cgroup_cpu_limit, torch_threads

ROOT = Path(__file__).resolve().parents[1]


def write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def test_cgroup_v2_quota(tmp_path: Path) -> None:
    assert cgroup_cpu_limit(write(tmp_path / "a", {"cpu.max": "150000 100000\n"})) == 1.5
    assert cgroup_cpu_limit(write(tmp_path / "b", {"cpu.max": "max 100000\n"})) is None


def test_cgroup_v1_quota(tmp_path: Path) -> None:
    root = tmp_path / "v1"
    write(root / "cpu", {"cpu.cfs_quota_us": "50000\n", "cpu.cfs_period_us": "100000\n"})
    assert cgroup_cpu_limit(root) == 0.5
    write(root / "cpu", {"cpu.cfs_quota_us": "-1\n"})
    assert cgroup_cpu_limit(root) is None


def test_no_cgroup_files_means_no_quota(tmp_path: Path) -> None:
    assert cgroup_cpu_limit(tmp_path) is None
    assert cgroup_cpu_limit(write(tmp_path / "bad", {"cpu.max": "garbage\n"})) is None


def test_available_cpus_is_the_affinity_capped_by_the_quota_rounded_up(tmp_path: Path) -> None:
    affinity = len(os.sched_getaffinity(0))
    assert available_cpus(tmp_path) == affinity
    assert available_cpus(write(tmp_path / "half", {"cpu.max": "50000 100000\n"})) == 1
    assert available_cpus(write(tmp_path / "many", {"cpu.max": "6400000 100000\n"})) == affinity
    assert available_cpus(write(tmp_path / "1.5", {"cpu.max": "150000 100000\n"})) == min(affinity, 2)


def test_the_setting_beats_omp_num_threads_which_beats_the_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert torch_threads(5) == 5
    assert torch_threads(None) == 3
    for unusable in ("", "0", "two", "-1"):
        monkeypatch.setenv("OMP_NUM_THREADS", unusable)
        assert torch_threads(None) == available_cpus()
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert torch_threads(None) == available_cpus()


def test_the_setting_refuses_zero_and_reads_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="torch_threads"):
        Settings(runtime={"torch_threads": 0})
    assert Settings().runtime.torch_threads is None
    monkeypatch.setenv("MMSEARCH_RUNTIME__TORCH_THREADS", "2")
    assert Settings().runtime.torch_threads == 2


BUILD = """
import json, sys, torch
from pathlib import Path
from mmsearch import components
from tests.support import tiny_settings
settings = tiny_settings(Path(sys.argv[1]), Path(sys.argv[2]), runtime={"torch_threads": int(sys.argv[3])})
before = torch.get_num_threads()
embedder = components.build_embedder(settings)
print("THREADS", json.dumps([before, torch.get_num_threads(), torch.get_num_interop_threads()]))
"""


def test_building_a_model_sets_torch_threads_once_for_the_process(tmp_path: Path, tiny_models: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MMSEARCH_") and k != "OMP_NUM_THREADS"}
    wanted = 3 if len(os.sched_getaffinity(0)) != 3 else 2  # not torch's own default here
    done = subprocess.run(
        [sys.executable, "-c", BUILD, str(tmp_path), str(tiny_models), str(wanted)],
        cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("THREADS ")), None)
    assert line is not None, done.stderr[-3000:]
    before, intra, interop = json.loads(line.removeprefix("THREADS "))
    assert before != wanted
    assert (intra, interop) == (wanted, wanted)
