"""Torch's CPU threads: the ``runtime:`` section of config.yaml, the CPUs this process may use, and
setting torch's thread counts once, when the first in-process model is built.

Torch's own default is one intra-op thread per core of the machine, whatever the process's CPU affinity
or its container's CPU quota: on a shared or limited host its threads then spin against each other and
against other processes (on a loaded 2-core host a 30×128×256 linear took 3.5–9.2 ms with 2 threads and
0.27–0.30 ms with 1). So the count is a setting, and its default is the CPUs this process may really use.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

log = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")


class RuntimeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    torch_threads: int | None = Field(
        None,
        ge=1,
        description="CPU threads of in-process models (torch intra- and inter-op threads, for the whole "
        "process); null = $OMP_NUM_THREADS when set, else the CPUs this process may use (its CPU affinity "
        "and its cgroup CPU quota).",
    )


def cgroup_cpu_limit(root: Path = CGROUP_ROOT) -> float | None:
    """CPUs the cgroup quota allows (cgroup v2 ``cpu.max``, else v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``),
    or None without a quota."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    for folder in (root / "cpu", root / "cpu,cpuacct", root):
        try:
            quota_us = int((folder / "cpu.cfs_quota_us").read_text())
            period_us = int((folder / "cpu.cfs_period_us").read_text())
        except (OSError, ValueError):
            continue
        return None if quota_us <= 0 or period_us <= 0 else quota_us / period_us
    return None


def available_cpus(root: Path = CGROUP_ROOT) -> int:
    """The CPUs this process may run on (its affinity), capped by its cgroup's CPU quota (rounded up)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cpus = os.cpu_count() or 1
    limit = cgroup_cpu_limit(root)
    if limit is not None:
        cpus = min(cpus, max(1, math.ceil(limit)))
    return max(1, cpus)


def torch_threads(setting: int | None) -> int:
    """The thread count for ``runtime.torch_threads``: the setting, else ``$OMP_NUM_THREADS`` (a positive
    integer), else :func:`available_cpus`."""
    if setting is not None:
        return setting
    omp = os.environ.get("OMP_NUM_THREADS", "").strip()
    if omp.isdigit() and int(omp) > 0:
        return int(omp)
    return available_cpus()


_applied: int | None = None


def apply_torch_threads(setting: int | None) -> int:
    """Set torch's intra-op and inter-op thread counts from ``runtime.torch_threads``, before a model is
    built. The first call sets both; torch allows the inter-op count once, before any parallel work, so
    a later call with another count changes the intra-op count only. Returns the count."""
    global _applied
    import torch

    threads = torch_threads(setting)
    if _applied == threads and torch.get_num_threads() == threads:
        return threads
    torch.set_num_threads(threads)
    if _applied is None:
        try:
            torch.set_num_interop_threads(threads)
        except RuntimeError as exc:  # parallel work already ran in this process (a library did some)
            log.debug("torch inter-op threads left at %d: %s", torch.get_num_interop_threads(), exc)
    _applied = threads
    log.info(
        "torch threads: %d intra-op, %d inter-op", torch.get_num_threads(), torch.get_num_interop_threads()
    )
    return threads
