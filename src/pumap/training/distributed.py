"""Data-parallel training with `torch.distributed`: one process per GPU (or CPU), under torchrun.

`Umap.fit` joins a process group when it runs under ``torchrun`` (the ``WORLD_SIZE``,
``RANK`` and ``LOCAL_RANK`` environment variables) or when one is already initialised, and
then trains with `DistributedDataParallel`:

- every rank holds the whole input ``X`` (checked by a fingerprint from rank 0);
- rank 0 alone runs the k-NN search and builds the fuzzy graph, which it broadcasts;
- each rank draws its own edge batches of ``batch_size // world_size`` edges from a generator
  seeded with the fit's seed and its rank, so the batch of one step over all ranks is the
  one-process fit's ``batch_size``; DDP averages the gradients, so every rank keeps the same
  weights (DDP also copies rank 0's initial weights to all ranks);
- checkpoints are written by rank 0 and hold every rank's generator state.

The backend is NCCL on CUDA (rank ``r`` of a node trains on ``cuda:LOCAL_RANK``) and Gloo on
the CPU. A group that ``fit`` initialised stays initialised (later fits reuse it); call
`shutdown` at the end of a program to release it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from ..config import UmapConfig
from ..device import resolve_device
from ..graph.fuzzy import FuzzyGraph
from .checkpoint import Checkpoint, Checkpointer, CheckpointError, TrainingState

log = logging.getLogger(__name__)

# Environment variables that torchrun (torch.distributed.run) sets in every process.
LAUNCHER_ENV = ("WORLD_SIZE", "RANK", "LOCAL_RANK")


@dataclass(frozen=True)
class Replica:
    """This process's place in a data-parallel fit.

    Attributes
    ----------
    rank : int
        The process's rank, 0 to ``world_size - 1``; rank 0 builds the graph and writes files.
    world_size : int
        Processes in the fit.
    device : torch.device
        Where this rank trains (``cuda:LOCAL_RANK`` on CUDA).
    comm_device : torch.device
        Where tensors go for collectives: the CUDA device for NCCL, the CPU for Gloo.
    """

    rank: int
    world_size: int
    device: torch.device
    comm_device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    # ---- agreeing before training -------------------------------------------------------

    def agree(
        self, config: UmapConfig, x: torch.Tensor, resume_from: object | None
    ) -> UmapConfig:
        """``config`` with rank 0's seed, once ``x`` is checked to be rank 0's.

        A fit that resumes takes the checkpoint's seed, the same on every rank.
        """
        self.check_same_data(x)
        if resume_from is not None or config.seed is not None:
            return config
        return config.replace(seed=self.shared_seed())

    def shared_seed(self) -> int:
        """A fresh seed drawn by rank 0 and sent to every rank."""
        fresh = int(np.random.SeedSequence().entropy % 2**63)
        value = torch.tensor([fresh], dtype=torch.int64, device=self.comm_device)
        dist.broadcast(value, src=0)
        return int(value.item())

    def check_same_data(self, x: torch.Tensor) -> None:
        """Raise ValueError on every rank unless every rank's ``x`` has rank 0's shape and
        fingerprint (every rank holds X; a sample of its rows is hashed)."""
        digest = hashlib.blake2b(digest_size=16)
        rows = x.detach()
        step = max(1, rows.shape[0] // 4096)  # a sample of rows: cheap at any size
        digest.update(rows[::step].to("cpu", torch.float32).contiguous().numpy())
        mine = torch.tensor(
            [*x.shape, *digest.digest()], dtype=torch.int64, device=self.comm_device
        )
        theirs = mine.clone()
        dist.broadcast(theirs, src=0)
        differ = torch.tensor([int(not torch.equal(mine, theirs))], device=self.comm_device)
        dist.all_reduce(differ)  # every rank stops, not only those with other data
        if int(differ.item()):
            raise ValueError(
                f"{int(differ.item())} rank(s) hold other data than rank 0 (here, rank "
                f"{self.rank}: X of shape {tuple(x.shape)}, rank 0's "
                f"{tuple(theirs[:2].tolist())}): every rank of a data-parallel fit must pass "
                "the same X"
            )

    def broadcast_graph(
        self, graph: FuzzyGraph | None, a: float, b: float
    ) -> tuple[FuzzyGraph, float, float]:
        """Rank 0's fuzzy graph and curve parameters on every rank (``graph`` is None elsewhere)."""
        sizes = [graph.n_edges, graph.n_samples] if graph is not None else [0, 0]
        counts = torch.tensor(sizes, dtype=torch.int64, device=self.comm_device)
        params = torch.tensor([a, b], dtype=torch.float64, device=self.comm_device)
        dist.broadcast(counts, src=0)
        dist.broadcast(params, src=0)
        n_edges, n_samples = (int(v) for v in counts.tolist())
        parts = []
        kinds = (("head", torch.int64), ("tail", torch.int64), ("weight", torch.float32))
        for name, dtype in kinds:
            if graph is not None:
                tensor = getattr(graph, name).to(self.comm_device, dtype).contiguous()
            else:
                tensor = torch.empty(n_edges, dtype=dtype, device=self.comm_device)
            dist.broadcast(tensor, src=0)
            parts.append(tensor.to(self.device))
        shared = FuzzyGraph(parts[0], parts[1], parts[2], n_samples)
        return shared, float(params[0]), float(params[1])

    def generator(self, seed: int) -> torch.Generator:
        """This rank's training generator: seeded with ``seed`` and the rank, mixed."""
        mixed = np.random.SeedSequence([seed, self.rank]).generate_state(2, np.uint32)
        value = (int(mixed[0]) << 31) ^ int(mixed[1])  # below 2**63
        return torch.Generator(device=self.device).manual_seed(value)

    # ---- checkpoints ----------------------------------------------------------------------

    def local_checkpoint(self, checkpoint: Checkpoint | None, path: object) -> Checkpoint | None:
        """``checkpoint`` with this rank's generator state alone (a fit resumes with it).

        Raises
        ------
        CheckpointError
            If the checkpoint was written by a fit on another number of processes.
        """
        if checkpoint is None:
            return None
        state = checkpoint.state
        if state.world_size != self.world_size:
            raise CheckpointError(
                path,
                f"this checkpoint was written by a fit on {state.world_size} process(es), this "
                f"fit runs on {self.world_size}; resume it on {state.world_size} (each "
                "process's random generator is in the checkpoint)",
            )
        size = state.generator.numel() // self.world_size
        mine = state.generator[self.rank * size : (self.rank + 1) * size].clone()
        local = dataclasses.replace(state, generator=mine, world_size=1)
        return dataclasses.replace(checkpoint, state=local)

    def checkpointer(self, checkpointer: Checkpointer | None) -> Checkpointer | None:
        """A `Checkpointer` that gathers every rank's generator and writes on rank 0 only."""
        if checkpointer is None:
            return None
        return RankCheckpointer(
            checkpointer.path,
            checkpointer.every,
            checkpointer.config,
            checkpointer.data,
            checkpointer.graph,
            replica=self,
        )

    # ---- training -------------------------------------------------------------------------

    def local_batch(self, batch_size: int) -> int:
        """This rank's share of a step's ``batch_size`` edges."""
        if batch_size < self.world_size:
            raise ValueError(
                f"batch_size={batch_size} is smaller than the {self.world_size} processes of "
                "the data-parallel fit; each needs at least one edge a step"
            )
        return batch_size // self.world_size

    def wrap(self, encoder: nn.Module) -> nn.Module:
        """``encoder`` in `DistributedDataParallel` (which copies rank 0's weights to all)."""
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(encoder, device_ids=ids)

    def average(self, value: torch.Tensor) -> torch.Tensor:
        """The mean of ``value`` over the ranks (a tensor on ``value``'s device)."""
        moved = value.detach().to(self.comm_device, torch.float64).reshape(1).clone()
        dist.all_reduce(moved)
        return (moved / self.world_size).to(value.device, value.dtype).reshape(value.shape)

    def average_gradients(self, parameters: Iterable[nn.Parameter]) -> None:
        """Average the gradients of parameters that DDP does not hold (extra loss terms')."""
        for param in parameters:
            if param.grad is None:
                continue
            grad = param.grad.to(self.comm_device)
            dist.all_reduce(grad)
            param.grad.copy_(grad / self.world_size)


@dataclass
class RankCheckpointer(Checkpointer):
    """Gathers every rank's generator state into the state; rank 0 writes the file."""

    replica: Replica | None = None

    def save(self, state: TrainingState) -> None:
        replica = self.replica
        assert replica is not None
        mine = state.generator.to(replica.comm_device)
        gathered = [torch.empty_like(mine) for _ in range(replica.world_size)]
        dist.all_gather(gathered, mine)
        everyone = torch.cat([g.cpu() for g in gathered])
        full = dataclasses.replace(state, generator=everyone, world_size=replica.world_size)
        if replica.is_main:
            super().save(full)
        self.last_epoch = state.epoch


def launched() -> bool:
    """Whether this process was started by torchrun with more than one process in all."""
    if not all(name in os.environ for name in LAUNCHER_ENV):
        return False
    return int(os.environ["WORLD_SIZE"]) > 1


def join(device_option: str) -> Replica | None:
    """This process's `Replica`, initialising the process group under torchrun if needed.

    Returns None for an ordinary fit: no process group and no torchrun environment, or a
    world of one process.

    Parameters
    ----------
    device_option : str
        The fit's ``device`` option: a CUDA device trains on ``cuda:LOCAL_RANK`` with NCCL,
        the CPU with Gloo.

    Raises
    ------
    ValueError
        For a device that data-parallel training does not run on (MPS), or a process group
        whose backend does not suit the device.
    """
    if not dist.is_available():
        return None
    if not dist.is_initialized():
        if not launched():
            return None
        device = _rank_device(device_option)
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, device_id=device if backend == "nccl" else None)
        log.info(
            "joined a %s process group as rank %d of %d",
            backend, dist.get_rank(), dist.get_world_size(),
        )
    world_size = dist.get_world_size()
    if world_size == 1:
        return None
    device = _rank_device(device_option)
    backend = str(dist.get_backend())
    if "nccl" in backend and device.type != "cuda":
        raise ValueError(
            f"device={device_option!r}: the process group's backend is NCCL, which needs "
            "CUDA; pass device='cuda' or initialise the group with the gloo backend"
        )
    comm = device if "nccl" in backend else torch.device("cpu")
    return Replica(dist.get_rank(), world_size, device, comm)


def join_fit(
    config: UmapConfig, x: torch.Tensor, resume_from: object | None
) -> tuple[Replica | None, torch.device, UmapConfig]:
    """`join`, then the fit's device and config (with rank 0's seed, when it drew one)."""
    replica = join(config.device)
    if replica is None:
        return None, resolve_device(config.device), config
    return replica, replica.device, replica.agree(config, x, resume_from)


def rank() -> int:
    """This process's rank: the process group's, else torchrun's ``RANK``, else 0 (rank 0
    is the process that writes files)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return int(os.environ.get("RANK", "0")) if launched() else 0


def shutdown() -> None:
    """Destroy the default process group, if one is initialised (the CLI does at its end).

    Every rank first waits for the others to reach this call: torchrun stops the surviving
    ranks when one process ends badly (Gloo's teardown sometimes aborts, see
    docs/scaling.md), so no rank may tear down while rank 0 is still writing files.
    """
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def _rank_device(device_option: str) -> torch.device:
    device = resolve_device(device_option)
    if device.type == "cuda":
        local = os.environ.get("LOCAL_RANK")  # torchrun's; else one GPU a rank, in turn
        index = int(local) if local is not None else rank() % torch.cuda.device_count()
        device = torch.device("cuda", index)
        torch.cuda.set_device(device)
    elif device.type != "cpu":
        raise ValueError(
            f"device={device_option!r}: data-parallel training runs on CUDA or the CPU, not "
            f"{device.type}"
        )
    return device
