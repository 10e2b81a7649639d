"""Umap.fit end to end: options, input and output types, callbacks, custom encoders, quality."""

from __future__ import annotations

import dataclasses
import itertools
import logging
import re

import numpy as np
import pytest
import scipy.sparse
import torch
from torch import nn

from pumap import EpochProgress, FittedUmap, Umap, UmapConfig

TINY = {"n_neighbors": 5, "n_epochs": 3, "hidden_layers": (16,), "seed": 0, "verbose": False}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("n_neighbors", 0),
        ("n_neighbors", 2.5),
        ("n_components", 0),
        ("metric", "manhatan"),
        ("min_dist", -0.1),
        ("min_dist", 2.0),  # above spread
        ("spread", 0.0),
        ("n_epochs", 0),
        ("batch_size", 0),
        ("negative_sample_rate", -1),
        ("learning_rate", 0.0),
        ("learning_rate", float("nan")),
        ("learning_rate", 1e38),
        ("hidden_layers", (16, 0)),
        ("standardize", "yes"),
        ("pca_init", 1),
        ("knn_method", "annoy"),
        ("knn_precision", "float16"),
        ("mixed_precision", "bf16"),
        ("compile", 1),
        ("seed", -1),
        ("device", "gpu"),
        ("device", "cuda:x"),
        ("verbose", None),
    ],
)
def test_config_rejects_each_bad_value_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        UmapConfig(**{field: value})


def test_config_round_trips_through_a_dict() -> None:
    cfg = UmapConfig(n_neighbors=7, hidden_layers=[8, 4], seed=3)
    assert cfg.hidden_layers == (8, 4)
    assert UmapConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown UmapConfig field"):
        UmapConfig.from_dict({**cfg.to_dict(), "n_neighbours": 3})


def test_keyword_options_override_the_config() -> None:
    model = Umap(UmapConfig(n_neighbors=30, metric="cosine"), n_epochs=5)
    assert (model.config.n_neighbors, model.config.metric, model.config.n_epochs) == (
        30,
        "cosine",
        5,
    )
    assert Umap(n_neighbors=30).config == UmapConfig(n_neighbors=30)


def test_fit_returns_a_fitted_model_with_numpy_embedding(blobs) -> None:
    x, _ = blobs
    fitted = Umap(**TINY).fit(x)
    assert isinstance(fitted, FittedUmap)
    assert isinstance(fitted.embedding, np.ndarray)
    assert fitted.embedding.shape == (300, 2) and fitted.embedding.dtype == np.float32
    assert set(fitted.timings) == {"knn", "graph", "init", "train", "embed", "index"}
    assert fitted.losses[-1] < fitted.losses[0]


def test_fit_logs_timings_rounded(blobs, caplog) -> None:
    x, _ = blobs
    with caplog.at_level(logging.INFO, logger="pumap"):
        fitted = Umap(**TINY).fit(x)
    line = next(r.getMessage() for r in caplog.records if "timings" in r.getMessage())
    for stage in fitted.timings:
        assert re.search(rf"{stage} [0-9.e+-]+ s", line), line
    numbers = re.findall(r"(\d[\d.]*) s\b", line)
    assert len(numbers) == len(fitted.timings), line
    for number in numbers:  # three significant digits, not fifteen
        assert len(number.replace(".", "").lstrip("0")) <= 3, line


def test_progress_bar_redraws_rarely_when_not_a_terminal(blobs, capsys) -> None:
    x, _ = blobs
    Umap(**{**TINY, "n_epochs": 60, "verbose": True}).fit(x)  # stderr is captured: no tty
    err = capsys.readouterr().err
    assert "pumap training" in err and "60/60" in err  # the bar and its end are shown
    assert err.count("\r") <= 5, err  # not a redraw per epoch (60)


def test_transform_keeps_the_input_type(blobs) -> None:
    pd = pytest.importorskip("pandas")
    x, _ = blobs
    fitted = Umap(**TINY).fit(x)
    from_numpy = fitted.transform(x[:10])
    from_torch = fitted.transform(torch.from_numpy(x[:10]))
    from_pandas = fitted.transform(pd.DataFrame(x[:10]))
    assert isinstance(from_numpy, np.ndarray) and isinstance(from_pandas, np.ndarray)
    assert isinstance(from_torch, torch.Tensor) and from_torch.device.type == "cpu"
    np.testing.assert_array_equal(from_numpy, from_torch.numpy())
    np.testing.assert_array_equal(from_numpy, from_pandas)
    # transform of the training data is the training embedding
    np.testing.assert_array_equal(fitted.transform(x), fitted.embedding)


def test_transform_applies_the_training_standardisation(blobs) -> None:
    x, _ = blobs
    fitted = Umap(**TINY).fit(x)
    mean, std = fitted.standardizer.mean, fitted.standardizer.std
    torch.testing.assert_close(mean, torch.from_numpy(x.mean(0)), atol=1e-5, rtol=1e-5)
    manual = fitted.encoder((torch.from_numpy(x[:5]) - mean) / std).detach().numpy()
    np.testing.assert_allclose(fitted.transform(x[:5]), manual, atol=1e-6)


def test_transform_rejects_the_wrong_number_of_features(blobs) -> None:
    x, _ = blobs
    fitted = Umap(**TINY).fit(x)
    with pytest.raises(ValueError, match="X has 7 features but this model was fitted on 8"):
        fitted.transform(x[:, :7])


def test_callback_gets_every_epoch(blobs) -> None:
    x, _ = blobs
    seen: list[EpochProgress] = []
    Umap(**TINY).fit(x, callback=seen.append)
    assert [p.epoch for p in seen] == [1, 2, 3]
    assert all(p.n_epochs == 3 and np.isfinite(p.loss) for p in seen)
    assert all(b.elapsed >= a.elapsed for a, b in itertools.pairwise(seen))


def test_a_custom_encoder_is_copied_trained_and_used(blobs) -> None:
    """A copy of the user's module is trained: the module passed stays as it was, and a
    second fit with it neither starts elsewhere nor changes the first fit's model."""
    x, _ = blobs
    module = nn.Sequential(nn.Linear(8, 12), nn.Tanh(), nn.Linear(12, 3))
    before = [p.detach().clone() for p in module.parameters()]
    umap = Umap(**{**TINY, "n_components": 3}, encoder=module)
    fitted = umap.fit(x)
    assert fitted.encoder is not module
    assert all(torch.equal(a, b) for a, b in zip(before, module.parameters(), strict=True))
    trained = [p.detach() for p in fitted.encoder.parameters()]
    assert any(not torch.equal(a, b) for a, b in zip(before, trained, strict=True))
    assert fitted.transform(x[:4]).shape == (4, 3)
    first = fitted.transform(x)
    second = umap.fit(x[::-1].copy())  # another fit with the same module
    np.testing.assert_array_equal(fitted.transform(x), first)
    assert second.encoder is not fitted.encoder


@pytest.mark.parametrize("n_components", [1, 3])
def test_other_embedding_dimensions(blobs, n_components: int) -> None:
    x, _ = blobs
    fitted = Umap(**{**TINY, "n_components": n_components}).fit(x)
    assert fitted.embedding.shape == (300, n_components)


def test_same_seed_same_embedding(blobs) -> None:
    x, _ = blobs
    first = Umap(**TINY).fit(x).embedding
    second = Umap(**TINY).fit(x).embedding
    np.testing.assert_array_equal(first, second)
    other = Umap(**{**TINY, "seed": 1}).fit(x).embedding
    assert not np.array_equal(first, other)


def test_public_defaults_are_the_config_defaults() -> None:
    fields = {f.name: f.default for f in dataclasses.fields(UmapConfig)}
    assert Umap().config == UmapConfig(**fields)


@pytest.mark.parametrize("kind", ["cuda", "mps", "cpu"], ids=["gpu", "apple", "host"])
def test_stage_timings_wait_for_the_device(monkeypatch, kind: str) -> None:
    """Each stage's time is read after the device's queued work is done: CUDA and MPS both run
    asynchronously, so `_lap` must synchronise either (only flags: runs without the device)."""
    from pumap.umap import _lap

    calls: list[str] = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: calls.append("cuda"))
    monkeypatch.setattr(torch.mps, "synchronize", lambda: calls.append("mps"))
    assert _lap(0.0, torch.device(kind)) > 0.0
    assert calls == ([] if kind == "cpu" else [kind])


def test_threads_option_is_validated() -> None:
    assert UmapConfig().threads is None
    assert UmapConfig(threads=3).threads == 3
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="threads must be"):
            UmapConfig(threads=bad)


def test_threads_apply_to_fit_and_transform_and_are_restored(blobs, monkeypatch) -> None:
    """threads=n: torch runs the fit and transform with n threads, and the process's count
    is what it was afterwards (no lasting global change). threads=None changes nothing."""
    x, _ = blobs
    before = torch.get_num_threads()
    target = 1 if before != 1 else 2
    seen: list[int] = []
    fitted = Umap(**TINY, threads=target).fit(
        x, callback=lambda progress: seen.append(torch.get_num_threads())
    )
    assert seen and set(seen) == {target}
    assert torch.get_num_threads() == before
    assert fitted.config.threads == target

    import pumap.model.fitted

    real_embed = pumap.model.fitted.FittedUmap._embed
    during: list[int] = []

    def embed(self, *args, **kwargs):
        during.append(torch.get_num_threads())
        return real_embed(self, *args, **kwargs)

    monkeypatch.setattr(pumap.model.fitted.FittedUmap, "_embed", embed)
    fitted.transform(x[:5])
    assert during == [target] and torch.get_num_threads() == before
    fitted.config = fitted.config.replace(threads=None)
    fitted.transform(x[:5])
    assert during[-1] == before


def test_threads_are_restored_when_a_fit_fails(blobs) -> None:
    x, _ = blobs
    before = torch.get_num_threads()

    def stop(progress: EpochProgress) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Umap(**TINY, threads=1 if before != 1 else 2).fit(x, callback=stop)
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, True, None])
def test_transform_refuses_a_bad_batch_size(batch_size) -> None:
    x = np.random.default_rng(0).normal(size=(60, 4)).astype(np.float32)
    fitted = Umap(n_epochs=1, seed=0, verbose=False).fit(x)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        fitted.transform(x, batch_size=batch_size)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        fitted.transform(scipy.sparse.csr_matrix(x), batch_size=batch_size)
