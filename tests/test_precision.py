"""The accelerator options, checked on the CPU: k-NN precision, GPU memory budget, bfloat16
autocast and torch.compile of the training step."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _metrics import knn_recall
from torch import nn

import pumap.knn as knn
from pumap.knn.exact import _tf32_products
from pumap.training.encoder import build_encoder
from pumap.training.trainer import make_step_loss

MIB = 2**20


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    return sklearn_datasets.load_digits().data.astype(np.float32)


def reference(x: np.ndarray, k: int, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Float64 brute force, self excluded, ties by index."""
    xd = x.astype(np.float64)
    if metric == "cosine":
        unit = xd / np.maximum(np.linalg.norm(xd, axis=1, keepdims=True), 1e-12)
        dist = np.clip(1.0 - unit @ unit.T, 0.0, None)
    else:
        dist = np.sqrt(np.maximum(((xd[:, None, :] - xd[None, :, :]) ** 2).sum(-1), 0.0))
    np.fill_diagonal(dist, np.inf)
    order = np.lexsort((np.broadcast_to(np.arange(len(x)), dist.shape), dist), axis=1)[:, :k]
    return order, np.take_along_axis(dist, order, axis=1)


# --- k-NN precision ---------------------------------------------------------------------------


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_bfloat16_products_find_the_float64_neighbours(digits: np.ndarray, metric: str) -> None:
    # Digits' integer pixels make many exact ties, so ties are counted as matches.
    ref_idx, ref_dist = reference(digits, 15, metric)
    graph = knn.exact_knn(digits, 15, metric, precision="bfloat16", block_rows=300)
    match = knn_recall(graph.indices, ref_idx, graph.distances, ref_dist, tie_tol=1e-5)
    # Measured 1.0 for both metrics (also with only k + 8 candidates); on the MNIST test set
    # the index match is 0.99999, as float32's (docs/benchmarks.md, k-NN).
    assert match >= 0.999
    # The distances are recomputed in float32, not read from the bfloat16 products.
    np.testing.assert_allclose(graph.distances.numpy(), ref_dist, rtol=1e-5, atol=1e-5)


def test_tf32_is_float32_off_cuda(digits: np.ndarray) -> None:
    plain = knn.exact_knn(digits[:400], 10)
    tf32 = knn.exact_knn(digits[:400], 10, precision="tf32")
    assert torch.equal(plain.indices, tf32.indices)
    assert torch.equal(plain.distances, tf32.distances)


def test_unknown_precision_is_refused_by_name(digits: np.ndarray) -> None:
    with pytest.raises(ValueError, match=r"precision must be one of .*got 'float16'"):
        knn.exact_knn(digits[:50], 5, precision="float16")


def _precision_switches() -> tuple[str, ...]:
    b = torch.backends
    return (
        b.cuda.matmul.fp32_precision,
        b.mkldnn.matmul.fp32_precision,
        b.fp32_precision,
        b.cudnn.conv.fp32_precision,
    )


def test_tf32_switch_is_scoped_and_restored() -> None:
    """knn_precision="tf32" switches CUDA matrix products alone (PyTorch's per-backend switch;
    the CPU's oneDNN products are left alone), and restores every switch exactly, after an
    error too. Only flags are set: this runs without a GPU."""
    before = _precision_switches()
    legacy = torch.get_float32_matmul_precision()
    cuda = torch.device("cuda")  # a device object needs no GPU
    with _tf32_products(cuda, True):
        assert _precision_switches() == ("tf32", *before[1:])
    assert _precision_switches() == before
    with pytest.raises(RuntimeError, match="boom"), _tf32_products(cuda, True):
        raise RuntimeError("boom")
    assert _precision_switches() == before
    for device, enabled in ((torch.device("cpu"), True), (cuda, False)):
        with _tf32_products(device, enabled):
            assert _precision_switches() == before
    # The legacy readers work again afterwards (inside, PyTorch refuses them: mixed APIs).
    assert torch.get_float32_matmul_precision() == legacy
    assert torch.backends.cuda.matmul.allow_tf32 is (legacy != "highest")


def test_bfloat16_blocks_are_smaller_for_the_same_budget() -> None:
    fp32 = knn.block_rows_for_budget(100_000, 784, 15, 256 * MIB)
    bf16 = knn.block_rows_for_budget(100_000, 784, 15, 256 * MIB, "bfloat16")
    # bfloat16 products add 2 bytes per score to the 4 of the float32 scores.
    assert bf16 < fp32
    assert bf16 == pytest.approx(fp32 * 4 / 6, rel=0.05)


# --- the exact search's budget on a GPU --------------------------------------------------------


@pytest.mark.parametrize(
    ("free", "expected"),
    [
        (100 * 2**30, knn.GPU_BUDGET_MAX),  # an H100's free memory: capped
        (8 * 2**30, 2 * 2**30),  # a quarter of the free memory
        (512 * MIB, knn.DEFAULT_MEMORY_BUDGET),  # never below the CPU default
    ],
)
def test_gpu_budget_follows_free_memory(free: int, expected: int) -> None:
    assert knn.gpu_memory_budget(free) == expected


def test_cpu_budget_is_the_default() -> None:
    assert knn.default_memory_budget(torch.device("cpu")) == knn.DEFAULT_MEMORY_BUDGET


# --- training: bfloat16 autocast and torch.compile ---------------------------------------------


def _step_setup(seed: int = 0) -> tuple[nn.Module, torch.Tensor, tuple[torch.Tensor, ...]]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(64, 12, generator=gen)
    encoder = build_encoder(12, (32, 32), 2, gen)
    points = torch.randint(0, 64, (2 * 16,), generator=gen)
    negatives = tuple(torch.randint(0, 32, (16 * 5,), generator=gen) for _ in range(2))
    return encoder, x, (points, *negatives)


def _loss_and_grads(step_loss, encoder: nn.Module, batch) -> tuple[float, list[torch.Tensor]]:
    encoder.zero_grad(set_to_none=True)
    loss = step_loss(*batch)
    loss.backward()
    return float(loss.detach()), [p.grad.clone() for p in encoder.parameters()]


@pytest.mark.parametrize("embed_all", [True, False])
def test_compiled_step_matches_the_eager_step(embed_all: bool) -> None:
    encoder, x, batch = _step_setup()
    eager = make_step_loss(encoder, x, 1.58, 0.9, 16, embed_all)
    compiled = make_step_loss(encoder, x, 1.58, 0.9, 16, embed_all, compile_step=True)
    loss_e, grads_e = _loss_and_grads(eager, encoder, batch)
    loss_c, grads_c = _loss_and_grads(compiled, encoder, batch)
    assert loss_c == pytest.approx(loss_e, rel=1e-5)
    for ge, gc in zip(grads_e, grads_c, strict=True):
        torch.testing.assert_close(gc, ge, rtol=1e-4, atol=1e-6)


def test_mixed_precision_runs_the_encoder_in_bfloat16() -> None:
    encoder, x, batch = _step_setup()
    seen: list[torch.dtype] = []
    hook = encoder.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    plain = make_step_loss(encoder, x, 1.58, 0.9, 16, True)
    mixed = make_step_loss(encoder, x, 1.58, 0.9, 16, True, mixed_precision=True)
    loss_p, grads_p = _loss_and_grads(plain, encoder, batch)
    loss_m, grads_m = _loss_and_grads(mixed, encoder, batch)
    hook.remove()
    assert seen == [torch.float32, torch.bfloat16]
    # The loss is float32 and close (bfloat16 keeps 8 bits: ~0.4% per rounding).
    assert loss_m == pytest.approx(loss_p, rel=0.03)
    assert all(g.dtype == torch.float32 for g in grads_m)
    cosine = torch.nn.functional.cosine_similarity(
        torch.cat([g.flatten() for g in grads_m]), torch.cat([g.flatten() for g in grads_p]), dim=0
    )
    assert cosine > 0.99


# --- the options reach the stages they are for ---------------------------------------------


def test_fit_passes_the_options_to_the_knn_and_the_trainer(blobs, monkeypatch, tmp_path) -> None:
    import pumap.knn.choose
    import pumap.training.trainer
    from pumap import Umap

    seen: dict[str, object] = {}
    real_knn, real_step = pumap.knn.choose.exact_search, pumap.training.trainer.make_step_loss

    def spy_knn(*args, **kwargs):
        seen["precision"] = kwargs.get("precision")
        return real_knn(*args, **kwargs)

    def spy_step(*args, **kwargs):
        seen.update(mixed=args[6], compiled=args[7])
        return real_step(*args, **kwargs)

    monkeypatch.setattr(pumap.knn.choose, "exact_search", spy_knn)
    monkeypatch.setattr(pumap.training.trainer, "make_step_loss", spy_step)
    x, labels = blobs
    fitted = Umap(
        n_neighbors=5, n_epochs=5, hidden_layers=(16,), seed=0, verbose=False,
        knn_precision="bfloat16", mixed_precision=True, compile=True,
    ).fit(x)
    assert seen == {"precision": "bfloat16", "mixed": True, "compiled": True}
    # Three well-separated clusters stay apart: each point's nearest embedded neighbour
    # carries its label.
    emb = fitted.embedding
    dist = ((emb[:, None, :] - emb[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(dist, np.inf)
    assert (labels[dist.argmin(axis=1)] == labels).mean() > 0.95
    assert fitted.config.compile and fitted.config.mixed_precision
    # torch.compile wraps the step, not the encoder: the model file is the usual one.
    from pumap import FittedUmap

    fitted.save(tmp_path / "model.safetensors")
    loaded = FittedUmap.load(tmp_path / "model.safetensors")
    assert loaded.config == fitted.config
    np.testing.assert_array_equal(loaded.transform(x[:20]), fitted.transform(x[:20]))
