"""A rich progress display for ingest, shown only on a terminal and never under --json."""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Self

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from mmsearch.index.pipeline import Progress as Event


class IngestProgress:
    """Files bar (done/total) plus a units counter with throughput; a no-op when disabled."""

    def __init__(self, enabled: bool, waiting: str = "starting…") -> None:
        """``waiting`` is shown until the first file starts (e.g. while the model loads)."""
        self.enabled = enabled and sys.stderr.isatty()
        self._bar = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[units]} units · {task.fields[rate]}{task.fields[reread]}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._task = self._bar.add_task(waiting, total=None, units=0, rate="", reread="")
        self._units = 0
        self._reread = 0  # files whose text only was re-read (no embedding)

    def __enter__(self) -> Self:
        if self.enabled:
            self._bar.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.enabled:
            self._bar.stop()

    def __call__(self, event: Event) -> None:
        if not self.enabled:
            return
        if event.kind == "run_start":
            self._bar.update(self._task, total=event.count)
        elif event.kind == "file_start":
            name = event.path.rsplit("/", 1)[-1]
            self._bar.update(self._task, description=f"{name[:40]:<40}")
        elif event.kind == "units_done":
            self._units += event.count
            elapsed = self._bar.tasks[0].elapsed or 0.0
            rate = f"{self._units / elapsed:.1f} units/s" if elapsed > 0 else ""
            self._bar.update(self._task, units=self._units, rate=rate)
        elif event.kind == "file_end":
            if event.result is not None and event.result.reread:
                self._reread += 1
                self._bar.update(self._task, reread=f" · re-read text: {self._reread} files")
            self._bar.advance(self._task)
