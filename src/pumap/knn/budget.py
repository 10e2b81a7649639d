"""Memory budget of the exact k-NN search: block sizes and candidate counts.

The exact search (`pumap.knn.exact`) never holds an n x n matrix; how many query rows it
scores at once follows from a budget in bytes, here.
"""

from __future__ import annotations

import torch

DEFAULT_MEMORY_BUDGET = 256 * 2**20  # bytes of working memory for one block of the exact search
# On a GPU the budget follows the free memory: this share of it, within these bounds.
GPU_BUDGET_SHARE = 0.25
GPU_BUDGET_MAX = 8 * 2**30
_CANDIDATE_MARGIN = 8  # extra candidates per row whose distances are recomputed exactly
# TF32 and bfloat16 products round the inputs to 10 and 7 mantissa bits: keep more candidates.
_LOW_PRECISION_MARGIN = 2
_REFINE_CHUNK_BYTES = 16 * 2**20  # largest buffer of gathered candidates for the refinement


def block_rows_for_budget(
    n: int, d: int, k: int, memory_budget: int, precision: str = "float32"
) -> int:
    """Rows per block so that one block's scores and candidates fit the budget.

    One query row costs its ``n`` float32 scores (and ``n`` bfloat16 products under
    ``precision="bfloat16"``), its centred copy and its candidates; the refinement buffer
    (`_refine_bytes`) is set aside from the budget first.
    """
    kc = n_candidates(n, k, precision)
    per_row = 4 * (n + d + 6 * kc) + 64
    if precision == "bfloat16":
        per_row += 2 * (n + d)
    available = memory_budget - _refine_bytes(memory_budget)
    return int(max(1, min(n, available // per_row)))


def _refine_bytes(memory_budget: int) -> int:
    """Bytes of the refinement buffer: an eighth of the budget, at most 16 MiB.

    The gathered candidates are reused chunk after chunk and best kept cache-sized; a bigger
    buffer buys nothing.
    """
    return min(memory_budget // 8, _REFINE_CHUNK_BYTES)


def refine_rows_for_budget(n: int, d: int, kc: int, memory_budget: int) -> int:
    """Rows per refinement chunk: each row gathers its ``kc`` candidates, ``kc * d`` floats."""
    per_row = 4 * (kc * (d + 8) + d) + 64
    return int(max(1, min(n, _refine_bytes(memory_budget) // per_row)))


def default_memory_budget(device: torch.device) -> int:
    """Working memory of the exact search on ``device``: `DEFAULT_MEMORY_BUDGET`, and on CUDA
    the budget `gpu_memory_budget` makes of the free memory now."""
    if device.type == "cuda":
        return gpu_memory_budget(int(torch.cuda.mem_get_info(device)[0]))
    return DEFAULT_MEMORY_BUDGET


def gpu_memory_budget(free_bytes: int) -> int:
    """`GPU_BUDGET_SHARE` of ``free_bytes``, within ``[DEFAULT_MEMORY_BUDGET, GPU_BUDGET_MAX]``."""
    return int(min(GPU_BUDGET_MAX, max(DEFAULT_MEMORY_BUDGET, GPU_BUDGET_SHARE * free_bytes)))


def n_candidates(n: int, k: int, precision: str = "float32") -> int:
    """Candidates kept per row before refinement: a margin against the products' rounding."""
    wanted = k + _CANDIDATE_MARGIN if precision == "float32" else _LOW_PRECISION_MARGIN * k + 8
    return max(1, min(n - 1, wanted))
