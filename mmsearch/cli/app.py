"""The ``mmsearch`` command group: global options, settings loading, and error reporting."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from mmsearch import __version__
from mmsearch.config import Settings, load_settings
from mmsearch.errors import MmsearchError


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
        merged: dict[str, Any] = {"data_dir": self.data_dir}
        merged.update(overrides or {})
        return load_settings(self.config, merged)


pass_app = click.make_pass_decorator(AppContext)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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
