"""Data-parallel fits under torchrun: the names a training script uses, defined in
`pumap.training.distributed` (how-to: docs/scaling.md).

``Umap.fit`` joins the process group by itself; a script asks `rank` whether it is rank 0
(which saves the model) and calls `shutdown` at the end to release the group.
"""

from .training.distributed import Replica, join, launched, rank, shutdown

__all__ = ["Replica", "join", "launched", "rank", "shutdown"]
