"""The search gate (bounded running + queued, then 503) and serialised model calls."""

from __future__ import annotations

import threading
import time

import anyio
import pytest

from mmsearch.api.edge.gate import Gate
from mmsearch.api.errors import ApiError
from mmsearch.api.services.serial import serialised

pytestmark = pytest.mark.anyio


async def test_gate_runs_queues_then_refuses() -> None:
    gate = Gate(running=1, queued=1)
    release = threading.Event()
    results: list[str] = []

    def blocked() -> str:
        release.wait(10)
        return "done"

    async def call() -> None:
        results.append(await gate.run(blocked))

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(call)
        tasks.start_soon(call)
        await anyio.sleep(0.1)
        assert gate.pending == 2
        with pytest.raises(ApiError) as busy:
            await gate.run(blocked)
        release.set()
    assert busy.value.http_status == 503 and busy.value.code == "busy"
    assert busy.value.headers["Retry-After"] == "1"
    assert results == ["done", "done"] and gate.pending == 0


async def test_gate_passes_errors_through_and_frees_its_slot() -> None:
    gate = Gate(running=1, queued=0)

    def fail() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        await gate.run(fail)
    assert gate.pending == 0
    assert await gate.run(lambda: 7) == 7


class Model:
    """Records how many calls overlap; a real in-process model must never see two at once."""

    def __init__(self) -> None:
        self.inside = 0
        self.most = 0
        self.dim = 4

    def embed(self, x: int) -> int:
        self.inside += 1
        self.most = max(self.most, self.inside)
        time.sleep(0.01)
        self.inside -= 1
        return x * 2


def test_serialised_calls_never_overlap() -> None:
    model = Model()
    locked = serialised(model, threading.RLock())
    out: list[int] = []
    threads = [threading.Thread(target=lambda i=i: out.append(locked.embed(i))) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert model.most == 1 and sorted(out) == [i * 2 for i in range(8)]
    assert locked.dim == 4  # attributes pass through


def test_without_serialising_calls_do_overlap() -> None:
    """The control for the test above: the same load on the bare model overlaps."""
    model = Model()
    threads = [threading.Thread(target=model.embed, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert model.most > 1
