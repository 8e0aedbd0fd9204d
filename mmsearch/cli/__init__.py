"""The ``mmsearch`` command line: one module per command group, registered on the group here."""

from mmsearch.ingest.pool import skip_unused_imports

skip_unused_imports()  # first, before a command module imports PyMuPDF: 1.4 s less for every command

from mmsearch.cli.admin import delete, stats
from mmsearch.cli.app import cli, main
from mmsearch.cli.audit import audit
from mmsearch.cli.embed import embed
from mmsearch.cli.evaluate import evaluate
from mmsearch.cli.ingest import ingest
from mmsearch.cli.query import query
from mmsearch.cli.serve import serve
from mmsearch.cli.store_admin import migrate, optimize
from mmsearch.cli.verify import verify

for command in (ingest, query, embed, evaluate, stats, delete, serve, verify, optimize, migrate, audit):
    cli.add_command(command)

__all__ = ["cli", "main"]
