"""Checks of option and argument values shared by `pumap.config` and the model (each error
names the option)."""

from __future__ import annotations

from typing import Any

#: Largest seed pumap takes: torch's generators take 64 bits, and pumap derives ``seed + 1``.
SEED_MAX = 2**63 - 1


def check_int(name: str, value: Any, minimum: int, maximum: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")


def check_positive_int(name: str, value: Any) -> None:
    """Refuse anything but an integer >= 1 (a bool is not one)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def check_float(name: str, value: Any, strictly_positive: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{name} must be finite, got {value}")
    if strictly_positive and value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    if not strictly_positive and value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")


def check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")


#: Largest ``learning_rate`` taken. pumap's rate is Adam's, on the encoder's weights (default
#: 1e-2); umap-learn's ``learning_rate`` is its SGD step on the embedding (default 1.0), and such
#: values given to Adam ruin a fit without a NaN (measured on digits, trustworthiness 0.98 at
#: 3e-3 to 0.1, 0.58-0.62 at 0.3, 0.50-0.56 at 1.0: benchmarks/bench_learning_rate.py,
#: docs/benchmarks.md "Learning rate and collapse"; measured before issue #21's clipped
#: forces). 0.25 lies between the last good and the
#: first ruinous rate measured, so a value meant for umap-learn is refused, not run.
MAX_LEARNING_RATE = 0.25


def check_learning_rate(value: Any) -> None:
    """Refuse a ``learning_rate`` that is not a positive number below `MAX_LEARNING_RATE`, saying
    what pumap's rate is and what to pass."""
    check_float("learning_rate", value, strictly_positive=True)
    if value > MAX_LEARNING_RATE:
        raise ValueError(
            f"learning_rate must be at most {MAX_LEARNING_RATE:g}, got {value:g}: pumap's "
            "learning_rate is Adam's rate on the encoder's weights (default 1e-2, useful 1e-4 "
            "to 1e-1), not umap-learn's SGD step size (default 1.0); leave it out to use the "
            "default"
        )
