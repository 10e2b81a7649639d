"""Helpers shared by the k-NN benchmarks: timing, peak memory, devices, data, machine info.

Not part of the pumap package; imported by the scripts next to it (``python benchmarks/x.py``
puts this folder on ``sys.path``).
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
# As in tests/conftest.py: $PUMAP_MNIST_DIR when set, else ../shared/data/mnist.
MNIST_DIR = Path(os.environ.get("PUMAP_MNIST_DIR") or ROOT.parent / "shared" / "data" / "mnist")


# --- devices -------------------------------------------------------------------------------


def available_devices() -> list[str]:
    """``cpu`` plus ``cuda`` and ``mps`` where present."""
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices.append("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        devices.append("mps")
    return devices


def parse_devices(spec: str) -> list[str]:
    """``"auto"`` -> every available device; else a comma list, each checked."""
    if spec == "auto":
        return available_devices()
    devices = [s.strip() for s in spec.split(",") if s.strip()]
    have = available_devices()
    for dev in devices:
        if dev.split(":")[0] not in have:
            raise SystemExit(f"device {dev!r} is not available here (have: {', '.join(have)})")
    return devices


def synchronize(device: str | torch.device) -> None:
    """Wait for queued GPU work so that a wall-clock timing covers it."""
    kind = torch.device(device).type
    if kind == "cuda":
        torch.cuda.synchronize()
    elif kind == "mps":
        torch.mps.synchronize()


# --- timing --------------------------------------------------------------------------------


def time_ms(fn: Callable[[], Any], device: str | torch.device = "cpu") -> tuple[float, Any]:
    """One call of ``fn``: (milliseconds, its result), GPU work included."""
    synchronize(device)
    start = time.perf_counter()
    out = fn()
    synchronize(device)
    return (time.perf_counter() - start) * 1e3, out


def median_ms(
    fn: Callable[[], Any], runs: int, warmup: int = 1, device: str | torch.device = "cpu"
) -> tuple[float, Any]:
    """Median milliseconds of ``runs`` calls after ``warmup`` untimed ones, and the last result."""
    out = None
    for _ in range(warmup):
        out = fn()
    times = []
    for _ in range(max(1, runs)):
        ms, out = time_ms(fn, device)
        times.append(ms)
    return statistics.median(times), out


# --- memory --------------------------------------------------------------------------------


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def current_rss_mib() -> float:
    """Resident set size now, MiB (Linux /proc; else the peak from getrusage)."""
    kib = _status_kib("VmRSS")
    if kib is None:
        return peak_rss_mib()
    return kib / 1024


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (Linux >= 4.0, ``/proc/self/clear_refs`` = 5).

    Returns False where that is not possible; `peak_rss_mib` then reports the process peak.
    """
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_mib() -> float:
    """Peak resident set size since the last `reset_peak_rss` (or process start), MiB."""
    kib = _status_kib("VmHWM")
    if kib is not None:
        return kib / 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


# --- data ----------------------------------------------------------------------------------


def synthetic(
    n: int, d: int, seed: int = 0, latent_dim: int = 16, clusters: int = 20
) -> np.ndarray:
    """``(n, d)`` float32: Gaussian clusters in ``latent_dim`` dimensions, mapped linearly to
    ``d`` and blurred with small isotropic noise (real data sets have a low intrinsic
    dimension; pure ``d``-dimensional noise is the worst case for NN-Descent).

    Built in chunks so that no float64 copy of the whole array is ever held.
    """
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(clusters, latent_dim))
    proj = rng.normal(size=(latent_dim, d)) / np.sqrt(latent_dim)
    out = np.empty((n, d), dtype=np.float32)
    for start in range(0, n, 8192):
        m = min(8192, n - start)
        z = centres[rng.integers(clusters, size=m)] + rng.normal(size=(m, latent_dim))
        out[start : start + m] = z @ proj + 0.1 * rng.normal(size=(m, d))
    return out


def load_data(name: str, n: int | None, d: int, seed: int = 0) -> np.ndarray:
    """``"synthetic"`` (needs ``n``, ``d``) or ``"mnist"`` (the 10k test set, or its first n)."""
    if name == "mnist":
        from pumap.datasets import load_mnist

        x, _ = load_mnist(MNIST_DIR, "test")
        return x if n is None else x[:n]
    if n is None:
        raise SystemExit("--n is needed for synthetic data")
    return synthetic(n, d, seed)


def drop_self(indices: np.ndarray, distances: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, k+1) neighbour lists that usually start with the point itself -> (n, k) without it."""
    from pumap.knn.nndescent import _drop_self

    graph = _drop_self(indices, distances, k)
    return graph.indices.numpy(), graph.distances.numpy()


# --- reference ------------------------------------------------------------------------------


def reference_knn(x: np.ndarray, k: int, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """`reference_knn_torch` of a NumPy array, on the CPU, as NumPy arrays."""
    idx, dist = reference_knn_torch(torch.from_numpy(x), k, metric)
    return idx.numpy(), dist.numpy()


def reference_knn_torch(
    x: torch.Tensor, k: int, metric: str, block_bytes: int = 512 * 2**20
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact k-NN in float64 (self excluded, ties broken by index): the parity reference.

    Computed on ``x``'s device (the host for MPS, which has no float64), in blocks of query
    rows whose float64 distances take about ``block_bytes``: ``k + 8`` candidates per row
    from the matrix product, then their distances recomputed directly and sorted.
    """
    device = x.device if x.device.type != "mps" else torch.device("cpu")
    xd = x.to(device, torch.float64)
    if metric == "cosine":
        xd = xd / xd.norm(dim=1, keepdim=True).clamp_min(1e-12)
    else:
        xd = xd - xd.mean(dim=0)
    sq = (xd * xd).sum(dim=1)
    n = xd.shape[0]
    kc = min(n - 1, k + 8)
    block = max(1, min(n, block_bytes // (8 * n)))
    all_idx, all_dist = [], []
    for start in range(0, n, block):
        stop = min(start + block, n)
        xb = xd[start:stop]
        if metric == "cosine":
            d = 1.0 - xb @ xd.T
        else:
            d = sq[start:stop, None] + sq[None, :] - 2.0 * (xb @ xd.T)
        own = torch.arange(stop - start, device=device)
        d[own, own + start] = math.inf
        # Candidates by index, then a stable sort by distance: ties by index.
        cand = torch.topk(d, kc, dim=1, largest=False).indices.sort(dim=1).values
        if metric == "cosine":
            dc = (1.0 - (xd[cand] * xb[:, None, :]).sum(-1)).clamp_min(0.0)
        else:
            dc = (xd[cand] - xb[:, None, :]).norm(dim=-1)
        dc, order = dc.sort(dim=1, stable=True)
        all_idx.append(cand.gather(1, order)[:, :k])
        all_dist.append(dc[:, :k])
    return torch.cat(all_idx), torch.cat(all_dist)


# --- machine ---------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    """CPU model, cores, memory, versions and the load average: to print with every result."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gib = None
    with contextlib.suppress(ValueError, OSError, AttributeError):
        mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    info: dict[str, Any] = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "memory_gib": round(mem_gib, 1) if mem_gib else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
    }
    with contextlib.suppress(OSError):
        info["load_avg_1m"] = round(os.getloadavg()[0], 2)
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def markdown_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A GitHub markdown table of ``rows`` restricted to ``columns`` (floats to 4 figures)."""

    def fmt(v: Any) -> str:
        if v is None:
            return ""
        if isinstance(v, float):
            return f"{v:.5f}" if 0.99 <= v < 1.0 else f"{v:.4g}"  # 0.99999 is not 1
        return str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)
