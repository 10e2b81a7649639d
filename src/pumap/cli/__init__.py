"""The ``pumap`` command: arguments in, files (embeddings, models, plots) and an exit status out.

`parser` reads the command line (`main`, the console script's entry point), `commands` runs the
subcommands, and `tables` reads and writes the data tables.
"""

from .parser import main

__all__ = ["main"]
