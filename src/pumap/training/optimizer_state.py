"""`AdamCarry`: Adam's state handed from one training run to the next (`FittedUmap.fit_more`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class AdamCarry:
    """Adam's state carried into and out of `pumap.training.trainer.train_umap`
    (``optimizer_state``).

    Training starts from a deep copy of ``state`` when it is set (the moments and the step
    counter continue; the tensors given are never changed) and, when it ends, ``state`` is
    replaced by Adam's final state.

    Attributes
    ----------
    state : dict or None
        ``torch.optim.Adam.state_dict()`` over the encoder's parameters (then the extra
        terms'), or ``None`` for a fresh Adam.
    """

    state: dict[str, Any] | None = None
