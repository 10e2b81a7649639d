"""The training progress bar: tqdm, redrawn rarely when stderr is a log rather than a terminal."""

from __future__ import annotations

import sys
from typing import Any

# When stderr is a file or a pipe (a log) each redraw of the progress bar stays in it for good:
# redraw at most this often there (and once at the end), instead of tqdm's 0.1 s.
LOG_REDRAW_SECONDS = 30.0


def progress_bar(total: int, verbose: bool, initial: int = 0) -> Any:
    """A tqdm bar over ``total`` epochs starting at ``initial``; None when not ``verbose``."""
    if not verbose:
        return None
    from tqdm.auto import tqdm

    options: dict[str, Any] = {}
    notebook = any(c.__module__ == "tqdm.notebook" for c in tqdm.__mro__)  # a widget, not text
    if not notebook and not is_terminal(sys.stderr):
        options["mininterval"] = LOG_REDRAW_SECONDS
    return tqdm(total=total, initial=initial, desc="pumap training", unit="epoch", **options)


def is_terminal(stream: Any) -> bool:
    """Whether ``stream`` is an interactive terminal (False for None or a closed stream)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # None (pythonw), or a closed stream
        return False
