"""Input PCA (`pumap.training.projection`): the projection, its folding into the first layer,
when it applies, and a fit that uses it (the model reads X; resumes and seeds reproduce)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from torch import nn

from pumap import FittedUmap, Umap
from pumap.training.encoder import build_encoder
from pumap.training.projection import (
    InputProjection,
    fit_projection,
    fold_projection,
    projection_components,
)

EPS32 = float(np.finfo(np.float32).eps)


def _wide(n: int = 400, d: int = 60, rank: int = 8, seed: int = 0) -> np.ndarray:
    """Clusters on a ``rank``-dimensional subspace of ``d`` features, plus small noise."""
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.normal(size=(d, rank)))[0].T
    centres = rng.normal(scale=6.0, size=(4, rank))
    latent = centres[rng.integers(0, 4, n)] + rng.normal(size=(n, rank))
    return (latent @ basis + 0.05 * rng.normal(size=(n, d)) + 2.0).astype(np.float32)


def test_projection_spans_the_leading_axes_with_unit_mean_variance() -> None:
    x = torch.from_numpy(_wide())
    proj, projected = fit_projection(x, 5, torch.Generator().manual_seed(0))
    np.testing.assert_allclose(projected.numpy(), proj(x).numpy(), atol=1e-5)
    x64 = x.double().numpy()
    centred = x64 - x64.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    want = vt[:5].T  # float64 reference axes, as columns
    got = proj.matrix.double().numpy()
    # same subspace: the reference axes' projections onto the columns keep their length
    q = np.linalg.qr(got)[0]
    np.testing.assert_allclose(np.linalg.norm(q.T @ want, axis=0), 1.0, atol=1e-4)
    scores = proj(x).double().numpy()
    np.testing.assert_allclose(scores.mean(axis=0), 0.0, atol=1e-3 * scores.std())
    assert abs(scores.var(axis=0).mean() - 1.0) < 1e-4
    # one common scale: the columns stay orthogonal with equal norms
    gram = got.T @ got
    np.testing.assert_allclose(gram, gram[0, 0] * np.eye(5), atol=1e-6 * gram[0, 0])


def test_the_folded_encoder_reads_x_as_the_trained_one_read_the_projection() -> None:
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.normal(size=(64, 30)).astype(np.float32) * 3.0 + 1.0)
    proj = InputProjection(
        torch.from_numpy(rng.normal(size=30).astype(np.float32)),
        torch.from_numpy(rng.normal(size=(30, 6)).astype(np.float32) * 0.2),
    )
    encoder = build_encoder(6, (16, 8), 2, torch.Generator().manual_seed(0))
    folded = fold_projection(encoder, proj)
    assert folded[0].in_features == 30 and folded.spec()["n_features"] == 30
    assert encoder[0].in_features == 6  # the trained encoder is not changed
    with torch.no_grad():
        # float64 reference of the two-step computation, with the trained float32 weights
        ref = encoder.double()((x.double() - proj.mean.double()) @ proj.matrix.double())
        got = folded(x).double()
    # float32 error model: each dot product of length n errs by about sqrt(n) eps of its
    # terms' magnitude (random-sign roundings), on the first layer's pre-activations (the
    # folded weights rounded once), scaled by the later layers' gains (infinity norms). It is
    # ~1e3 times the error measured, and a fold with the mean off by 0.1% exceeds it.
    first = folded[0]
    with torch.no_grad():
        pre = float((x.abs() @ first.weight.abs().T + first.bias.abs()).max())
        later = [m for m in list(folded)[1:] if isinstance(m, nn.Linear)]
        gain = float(np.prod([float(m.weight.abs().sum(dim=1).max()) for m in later]))
    widths = x.shape[1] + sum(m.in_features for m in later)
    atol = widths**0.5 * EPS32 * pre * gain
    np.testing.assert_allclose(got.numpy(), ref.numpy(), atol=atol)


def test_folding_needs_a_linear_first_layer() -> None:
    proj = InputProjection(torch.zeros(4), torch.eye(4)[:, :2])
    with pytest.raises(TypeError, match=r"nn\.Linear"):
        fold_projection(nn.Sequential(nn.ReLU(), nn.Linear(2, 2)), proj)


@pytest.mark.parametrize(
    ("components", "d", "want"), [(10, 11, 10), (10, 10, None), (None, 500, None)]
)
def test_projection_applies_to_wider_dense_input(components: int | None, d: int, want) -> None:
    got = projection_components(
        components, torch.zeros(3, d), None, joint_decoder=False, input_dropout=0.0
    )
    assert got == want


@pytest.mark.parametrize(
    ("kwargs", "why"),
    [
        ({"encoder": nn.Linear(50, 2)}, "given encoder"),
        ({"joint_decoder": True}, "decoder"),
        ({"input_dropout": 0.2}, "input_dropout"),
        ({"x": torch.eye(3, 50).to_sparse_csr()}, "sparse"),
        ({"x": sp.eye(3, 50).tocsr()}, "sparse"),
    ],
)
def test_where_it_cannot_apply_a_warning_says_why(kwargs: dict, why: str) -> None:
    args = {"x": torch.zeros(3, 50), "encoder": None, "joint_decoder": False,
            "input_dropout": 0.0, **kwargs}
    with pytest.warns(UserWarning, match=f"input_pca=10 is not applied: .*{why}"):
        got = projection_components(10, args.pop("x"), args.pop("encoder"), **args)
    assert got is None


FAST = {"n_epochs": 20, "hidden_layers": (32, 32), "verbose": False, "input_pca": 10}


def test_a_projected_fit_gives_a_model_that_reads_x(tmp_path) -> None:
    x = _wide()
    fitted = Umap(seed=0, **FAST).fit(x)
    assert fitted.encoder[0].in_features == x.shape[1]
    assert fitted.config.input_pca == 10
    assert fitted.optimizer_state is None  # Adam's moments were the narrow layer's
    np.testing.assert_array_equal(fitted.transform(x), fitted.embedding)
    path = tmp_path / "m.safetensors"
    fitted.save(path)
    np.testing.assert_array_equal(FittedUmap.load(path).transform(x), fitted.embedding)
    more = fitted.fit_more(x[:100], n_epochs=2)  # continues on the folded, full-width layer
    assert np.isfinite(more.embedding).all()


def test_a_projected_fit_is_reproducible_and_differs_from_an_unprojected_one() -> None:
    x = _wide()
    first = Umap(seed=3, **FAST).fit(x)
    again = Umap(seed=3, **FAST).fit(x)
    np.testing.assert_array_equal(first.embedding, again.embedding)
    plain = Umap(seed=3, **{**FAST, "input_pca": None}).fit(x)
    assert not np.array_equal(first.embedding, plain.embedding)


def test_a_projected_fit_resumes_bit_for_bit(tmp_path) -> None:
    x = _wide()
    path = tmp_path / "ckpt.pt"
    whole = Umap(seed=4, **FAST).fit(x)

    def stop_after_five(progress) -> None:
        if progress.epoch == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Umap(seed=4, **FAST).fit(x, callback=stop_after_five, checkpoint_path=path)
    resumed = Umap(seed=4, **FAST).fit(x, resume_from=path)
    np.testing.assert_array_equal(resumed.embedding, whole.embedding)


@pytest.mark.parametrize("suffix", [".safetensors", ".gguf"])
def test_files_name_input_pca_only_when_it_was_used(tmp_path, suffix: str) -> None:
    """pumap 0.2.0 refuses config keys it does not know: a fit without input PCA must not
    write one (a missing key reads as None); a fit with it records it."""
    from pumap.model.io import read_metadata

    x = _wide(n=120)
    for input_pca in (None, 10):
        fitted = Umap(seed=0, **{**FAST, "n_epochs": 2, "input_pca": input_pca}).fit(x)
        path = tmp_path / f"m{input_pca}{suffix}"
        fitted.save(path)
        stored = read_metadata(path)["pumap.config"]
        assert ("input_pca" in stored) == (input_pca is not None)
        assert FittedUmap.load(path).config == fitted.config


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "100"])
def test_bad_input_pca_is_refused_by_name(bad) -> None:
    with pytest.raises((ValueError, TypeError), match="input_pca"):
        Umap(input_pca=bad)
