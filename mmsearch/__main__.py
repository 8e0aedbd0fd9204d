"""``python -m mmsearch`` = the ``mmsearch`` command."""

from mmsearch.cli import run

run()
