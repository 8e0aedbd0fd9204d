"""The ``mmsearch`` command line: one module per command group, registered on the group here."""

from mmsearch.cli.admin import delete, stats
from mmsearch.cli.app import cli, main
from mmsearch.cli.embed import embed
from mmsearch.cli.ingest import ingest
from mmsearch.cli.query import query

for command in (ingest, query, embed, stats, delete):
    cli.add_command(command)

__all__ = ["cli", "main"]

from mmsearch.cli.serve import serve  # registered by the API work; move into the list above

cli.add_command(serve)
