"""``python -m perfgate_lib`` is the ``perfgate`` command."""

from perfgate_lib.cli import main

main()
