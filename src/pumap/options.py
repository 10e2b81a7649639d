"""What the front ends know of each `UmapConfig` field: `OptionInfo`, declared with `option`.

The command line's flags and the scikit-learn estimator's translation are generated from this
metadata (`pumap.config.option_table`), so an option is described once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class OptionInfo:
    """What the front ends know of a `UmapConfig` field, from its metadata.

    The command line's flags and the scikit-learn estimator's translation are generated from
    these, so an option is described once.

    Attributes
    ----------
    help : str
        One line for ``--help``.
    cli : str or None
        The flag (``"--epochs"``), or ``None`` when the command line does not offer it.
    metavar, choices : optional
        As in `argparse`.
    default_text : str or None
        How ``--help`` shows the default, when ``repr`` would not say it well.
    none_word : str or None
        A word the command line takes for ``None`` (``--refine-sketch-dims none``).
    estimator_name : str or None
        The `pumap.ParametricUMAP` parameter (umap-learn's name where it differs).
    """

    help: str
    cli: str | None
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    default_text: str | None = None
    none_word: str | None = None
    estimator_name: str | None = None


_INFO = "pumap_option"


def option(
    default: Any,
    help: str,
    *,
    cli: str | None = "",
    metavar: str | None = None,
    choices: tuple[str, ...] | None = None,
    default_text: str | None = None,
    none_word: str | None = None,
    estimator_name: str | None = "",
) -> Any:
    """A dataclass field with its `OptionInfo`; ``cli=""`` and ``estimator_name=""`` derive
    the flag (``--name-with-dashes``) and the estimator's parameter (the field's name)."""
    info = {
        "help": help,
        "cli": cli,
        "metavar": metavar,
        "choices": choices,
        "default_text": default_text,
        "none_word": none_word,
        "estimator_name": estimator_name,
    }
    return field(default=default, metadata={_INFO: info})
