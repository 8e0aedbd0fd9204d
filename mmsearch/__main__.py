"""``python -m mmsearch`` = the ``mmsearch`` command."""

from mmsearch.cli import main

main()
