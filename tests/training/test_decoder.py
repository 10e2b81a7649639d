"""The decoder: inverse_transform, separate and joint training, files and checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import forward_atol
from torch import nn

from pumap import FittedUmap, ModelFormatError, TrainingInterrupted, Umap, UmapConfig
from pumap.training.checkpoint import read_checkpoint
from pumap.training.trainer import EpochProgress

SMALL = dict(n_neighbors=5, n_epochs=4, hidden_layers=(16,), seed=0, verbose=False)


def _data(seed: int = 0, n: int = 150) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=6.0, size=(3, 6))
    return (centres[np.arange(n) % 3] + rng.normal(size=(n, 6)) + 20.0).astype(np.float32)


class Mirror(nn.Module):
    """A custom decoder: 2 -> 6 with a tanh layer."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(2, 12)
        self.b = nn.Linear(12, 6)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.b(torch.tanh(self.a(y)))


@pytest.fixture(scope="module")
def separate() -> FittedUmap:
    return Umap(**SMALL, decoder=True, decoder_epochs=20).fit(_data())


# ------------------------------------------------------------------------ reconstruction


# Held-out digits (1,400 rows to fit, 397 held out, a seeded shuffle): reconstruction MSE over
# the MSE of predicting the training mean, measured for seeds 0-4 with these options:
# separate (100 decoder epochs) 0.56-0.59, joint (weight 1, 30 decoder epochs) 0.59-0.63.
# 0.75 leaves room for other platforms and still fails for a decoder that learnt nothing
# (ratio ~1) or undid the scaling wrongly.
DIGITS_RATIO = 0.75


@pytest.mark.parametrize(("weight", "decoder_epochs"), [(0.0, 100), (1.0, 30)])
def test_digits_held_out_reconstruction_beats_the_mean(weight, decoder_epochs) -> None:
    from sklearn.datasets import load_digits

    x = load_digits().data.astype(np.float32)
    x = x[np.random.default_rng(0).permutation(len(x))]
    train, test = x[:1400], x[1400:]
    fitted = Umap(
        seed=0, verbose=False, decoder=True, reconstruction_weight=weight, n_epochs=60,
        decoder_epochs=decoder_epochs, hidden_layers=(64, 64),
    ).fit(train)
    back = fitted.inverse_transform(fitted.transform(test))
    assert back.dtype == np.float32 and back.shape == test.shape
    mse = float(np.mean((back - test) ** 2))
    mean_mse = float(np.mean((test - train.mean(axis=0)) ** 2))
    assert mse < DIGITS_RATIO * mean_mse


def test_separate_stage_leaves_the_embedding_alone(separate) -> None:
    plain = Umap(**SMALL).fit(_data())
    assert plain.embedding.tobytes() == separate.embedding.tobytes()
    assert plain.losses == separate.losses
    assert "decoder" in separate.timings


def test_joint_weight_changes_training() -> None:
    x = _data()
    light = Umap(**SMALL, decoder=True, reconstruction_weight=1e-3, decoder_epochs=0).fit(x)
    heavy = Umap(**SMALL, decoder=True, reconstruction_weight=10.0, decoder_epochs=0).fit(x)
    # The losses include the weighted term: the standardised input's reconstruction error
    # starts near 1 (unit variance), so weight 10 adds several units to each epoch's loss.
    assert heavy.losses[0] > light.losses[0] + 3.0
    assert not np.array_equal(heavy.embedding, light.embedding)


def test_inverse_transform_units_types_and_batches(separate) -> None:
    emb = separate.embedding
    back = separate.inverse_transform(emb)
    assert isinstance(back, np.ndarray) and back.shape == (150, 6)
    assert abs(float(back.mean()) - 20.0) < 5.0  # original units: the data sit near 20
    as_tensor = separate.inverse_transform(torch.from_numpy(emb))
    assert isinstance(as_tensor, torch.Tensor)
    np.testing.assert_array_equal(as_tensor.numpy(), back)
    atol = forward_atol(back)  # other batch sizes: other kernels' rounding
    np.testing.assert_allclose(separate.inverse_transform(emb, batch_size=7), back, atol=atol)
    np.testing.assert_allclose(separate.inverse_transform(emb.tolist()), back, atol=atol)


def test_inverse_transform_errors(separate) -> None:
    with pytest.raises(ValueError, match="n_components=2"):
        separate.inverse_transform(np.zeros((3, 3), np.float32))
    with pytest.raises(ValueError, match="batch_size"):
        separate.inverse_transform(np.zeros((3, 2), np.float32), batch_size=0)
    plain = Umap(**SMALL).fit(_data())
    with pytest.raises(ValueError, match=r"has none.*Umap\(decoder=True\)"):
        plain.inverse_transform(plain.embedding)


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match=r"reconstruction_weight.*decoder=True"):
        UmapConfig(reconstruction_weight=1.0)
    with pytest.raises(ValueError, match="reconstruction_weight must be >= 0"):
        UmapConfig(decoder=True, reconstruction_weight=-1.0)
    with pytest.raises(TypeError, match=r"decoder must be True, False or a torch\.nn\.Module"):
        Umap(decoder="yes")
    assert Umap(decoder=True, reconstruction_weight=0.5).config.decoder is True


# ------------------------------------------------------------------------------- files


@pytest.mark.parametrize("suffix", [".safetensors", ".gguf"])
def test_save_load_round_trip_bit_for_bit(tmp_path, separate, suffix) -> None:
    first = tmp_path / f"m{suffix}"
    separate.save(first)
    loaded = FittedUmap.load(first)
    assert loaded.decoder is not None
    emb = separate.embedding
    assert loaded.inverse_transform(emb).tobytes() == separate.inverse_transform(emb).tobytes()
    again = tmp_path / f"again{suffix}"
    loaded.save(again)
    assert again.read_bytes() == first.read_bytes()


def test_custom_decoder_is_copied_and_needs_a_module_to_load(tmp_path) -> None:
    template = Mirror()
    before = {k: v.clone() for k, v in template.state_dict().items()}
    fitted = Umap(**SMALL, decoder=template, decoder_epochs=3).fit(_data())
    assert all(torch.equal(before[k], v) for k, v in template.state_dict().items())
    assert isinstance(fitted.decoder, Mirror) and fitted.decoder is not template
    fitted.save(tmp_path / "m.safetensors")
    with pytest.raises(ModelFormatError, match=r"custom module .*Mirror.*decoder="):
        FittedUmap.load(tmp_path / "m.safetensors")
    loaded = FittedUmap.load(tmp_path / "m.safetensors", decoder=Mirror())
    emb = fitted.embedding
    assert loaded.inverse_transform(emb).tobytes() == fitted.inverse_transform(emb).tobytes()


def test_model_without_decoder_reads_as_before(tmp_path) -> None:
    plain = Umap(**SMALL).fit(_data())
    plain.save(tmp_path / "m.safetensors")
    assert FittedUmap.load(tmp_path / "m.safetensors").decoder is None
    with pytest.raises(ModelFormatError, match="no decoder"):
        FittedUmap.load(tmp_path / "m.safetensors", decoder=Mirror())


def test_info_shows_the_decoder(tmp_path, separate, capsys) -> None:
    from pumap.cli import main

    separate.save(tmp_path / "m.safetensors")
    assert main(["info", str(tmp_path / "m.safetensors")]) == 0
    assert '"type": "mlp"' in capsys.readouterr().out.split("decoder:")[1].splitlines()[0]


# -------------------------------------------------------------------------- checkpoints


def test_joint_training_resumes_bit_for_bit(tmp_path) -> None:
    options = dict(SMALL, decoder=True, reconstruction_weight=1.0, decoder_epochs=2)
    x = _data()
    full = Umap(**options).fit(x)

    def stop(progress: EpochProgress) -> None:
        if progress.epoch == 2:
            raise KeyboardInterrupt

    path = tmp_path / "ckpt.safetensors"
    with pytest.raises(TrainingInterrupted):
        Umap(**options).fit(x, callback=stop, checkpoint_path=path)
    state = read_checkpoint(path).state
    assert len(state.extra) == len(list(full.decoder.parameters()))
    resumed = Umap(**options).fit(x, resume_from=path)
    assert resumed.embedding.tobytes() == full.embedding.tobytes()
    assert resumed.losses == full.losses
    emb = full.embedding
    assert resumed.inverse_transform(emb).tobytes() == full.inverse_transform(emb).tobytes()


# ------------------------------------------------------------------------------ estimator


def test_estimator_inverse_transform() -> None:
    from pumap import ParametricUMAP

    x = _data()
    est = ParametricUMAP(
        n_neighbors=6, n_epochs=4, hidden_layers=(16,), random_state=0, decoder=True,
        reconstruction_weight=0.5, decoder_epochs=3,
    )
    emb = est.fit_transform(x)
    assert est.config_.reconstruction_weight == 0.5
    back = est.inverse_transform(emb)
    assert isinstance(back, np.ndarray) and back.shape == x.shape
    custom = ParametricUMAP(
        n_neighbors=6, n_epochs=2, hidden_layers=(16,), random_state=0, decoder=Mirror(),
        decoder_epochs=1,
    ).fit(x)
    assert isinstance(custom.fitted_.decoder, Mirror)


def test_checkpoint_from_before_the_decoder_options_still_resumes(tmp_path) -> None:
    from pumap.training.checkpoint import write_checkpoint

    x = _data()
    full = Umap(**SMALL).fit(x)
    path = tmp_path / "ckpt.safetensors"

    def stop(progress: EpochProgress) -> None:
        if progress.epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted):
        Umap(**SMALL).fit(x, callback=stop, checkpoint_path=path)
    old = read_checkpoint(path)
    for key in ("decoder", "reconstruction_weight", "decoder_epochs"):
        del old.config[key]  # as a pumap without these options wrote it
    write_checkpoint(path, old.state, config=old.config, data=old.data, graph=old.graph)
    resumed = Umap(**SMALL).fit(x, resume_from=path)
    assert resumed.embedding.tobytes() == full.embedding.tobytes()
