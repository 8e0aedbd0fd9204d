"""The ``mmsearch`` command group: global options, settings loading, and error reporting."""

from __future__ import annotations

import gc
import importlib
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mmsearch import __version__
from mmsearch.errors import MmsearchError

if TYPE_CHECKING:
    from mmsearch.config import Settings


@dataclass
class AppContext:
    """What every command gets: how to build settings, and the global flags."""

    config: Path | None
    data_dir: Path | None
    verbose: int
    json_errors: bool = False
    _settings: Settings | None = field(default=None, repr=False)

    def settings(self, overrides: dict[str, Any] | None = None) -> Settings:
        """Settings with this command's flags applied (flags beat env beat config.yaml)."""
        from mmsearch.config import load_settings  # settings import the store's types: not for --help

        merged: dict[str, Any] = {"data_dir": self.data_dir}
        merged.update(overrides or {})
        return load_settings(self.config, merged)


pass_app = click.make_pass_decorator(AppContext)


@dataclass(frozen=True)
class LazyCommand:
    """A command registered by where it lives: ``module:attribute``, and its one-line help for the
    group's ``--help`` (tests/test_cold_start.py holds it equal to the command's own)."""

    target: str
    short_help: str


class LazyGroup(click.Group):
    """A group whose commands are imported when invoked: ``mmsearch query`` never imports what
    ``ingest`` or ``serve`` need, and ``mmsearch --help`` lists every command without importing any."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy: dict[str, LazyCommand] = {}

    def add_lazy(self, name: str, target: str, short_help: str) -> None:
        self.lazy[name] = LazyCommand(target, short_help)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            module, attribute = self.lazy[cmd_name].target.split(":")
            command = getattr(importlib.import_module(module), attribute)
            if not isinstance(command, click.Command):
                raise TypeError(f"{self.lazy[cmd_name].target} is not a click command")
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """As click's, with the registered one-line help of commands not yet imported."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            if name in self.commands:
                if self.commands[name].hidden:
                    continue
                rows.append((name, self.commands[name].get_short_help_str(limit)))
            else:
                placeholder = click.Command(name, help=self.lazy[name].short_help)
                rows.append((name, placeholder.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(
    cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.option(
    "--config",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Config file (default: $MMSEARCH_CONFIG, else ./config.yaml when present).",
)
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Where all state lives: store, manifest, page images (env MMSEARCH_DATA_DIR).",
)
@click.option("-v", "--verbose", count=True, help="More logging (-vv for debug).")
@click.version_option(__version__, prog_name="mmsearch")
@click.pass_context
def cli(ctx: click.Context, config: Path | None, data_dir: Path | None, verbose: int) -> None:
    """mmsearch: search your PDFs, images and videos with Qwen3-VL embeddings and reranking.

    \b
    Examples:
      mmsearch ingest ~/papers ~/screenshots talk.mp4
      mmsearch query "quarterly revenue by region" --top-k 5
      mmsearch query --image chart.png "same chart, 2023" --json
      mmsearch stats
    """
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)],
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    ctx.obj = AppContext(config=config, data_dir=data_dir, verbose=verbose)


def report_error(exc: MmsearchError, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"error": {"code": exc.code, "message": str(exc)}}))
    click.echo(f"Error: {exc}", err=True)


def main(argv: Sequence[str] | None = None, prog_name: str | None = None) -> None:
    """Console entry point: run the group, turning our errors into ``Error: …`` and exit code 1.
    ``argv`` defaults to ``sys.argv[1:]`` (the tests pass it to run the command in their process)."""
    args = list(sys.argv[1:] if argv is None else argv)
    json_mode = "--json" in args
    try:
        cli.main(args, prog_name=prog_name, standalone_mode=False)
    except MmsearchError as exc:
        report_error(exc, json_mode)
        sys.exit(1)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)


# The cyclic GC's generation thresholds for the ``mmsearch`` process (CPython's default is (700, 10, 10)).
# Importing torch and transformers and building a model allocate millions of objects, and at the default a
# young collection runs every 700 of them and a full one over the whole growing heap every 70 000: 0.7 s
# of a cold ``mmsearch query`` (4.3 s → 3.6 s on the tiny models, measured with either setting, 2 cores).
# 50 000 leaves at most that many new container objects pending between young collections: kilobytes to a
# few megabytes of garbage in cycles, in a process that holds a model.
GC_THRESHOLDS = (50_000, 20, 20)


def run() -> None:
    """The ``mmsearch`` executable (and ``python -m mmsearch``): :func:`main` with the process's GC tuned.

    :data:`GC_THRESHOLDS` for the whole command (serve included), and ``gc.freeze()`` at the end: a process
    that imported torch and transformers spent about a second of its exit in the collector's last passes
    over their objects; frozen, those passes skip them. Nothing else about the exit changes (atexit
    handlers, buffered output, files and stores closed by their owners before the command returned). Not
    for :func:`main` itself: tests call that in their own long-lived process."""
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        main()
    finally:
        gc.freeze()
