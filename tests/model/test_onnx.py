"""ONNX export: the file runs in onnxruntime and gives `transform`'s (and
`inverse_transform`'s) numbers, for any batch size."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from pumap import Umap
from pumap.cli import main

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

BATCHES = (1, 7, 300)


class Wavy(nn.Module):
    """A custom encoder: tanh, a layer norm and a skip connection."""

    def __init__(self, n_features: int) -> None:
        super().__init__()
        self.hidden = nn.Linear(n_features, 16)
        self.norm = nn.LayerNorm(16)
        self.out = nn.Linear(16, 2)
        self.skip = nn.Linear(n_features, 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.norm(torch.tanh(self.hidden(x)))) + self.skip(x)


@pytest.fixture(scope="module")
def fitted():
    x = np.random.default_rng(0).normal(loc=5.0, scale=3.0, size=(300, 8)).astype(np.float32)
    model = Umap(
        n_epochs=3, hidden_layers=(16, 16), seed=0, verbose=False, decoder=True,
        decoder_epochs=2,
    ).fit(x)
    return model, x


def _run(path, name: str, data: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == [name]
    return session.run(None, {name: data})[0]


def test_encoder_matches_transform_at_every_batch_size(tmp_path, fitted) -> None:
    model, x = fitted
    path = model.export_onnx(tmp_path / "enc.onnx")
    assert path == tmp_path / "enc.onnx"
    for n in BATCHES:
        out = _run(path, "features", x[:n])  # raw features: the standardisation is inside
        assert out.shape == (n, 2)
        np.testing.assert_allclose(out, model.transform(x[:n]), atol=1e-5, rtol=1e-5)
    assert [p.name for p in tmp_path.iterdir()] == ["enc.onnx"]  # no temporary left


def test_decoder_matches_inverse_transform(tmp_path, fitted) -> None:
    model, x = fitted
    path = model.export_onnx(tmp_path / "dec.onnx", part="decoder")
    emb = model.transform(x)
    for n in BATCHES:
        out = _run(path, "embedding", emb[:n])
        np.testing.assert_allclose(out, model.inverse_transform(emb[:n]), atol=1e-4, rtol=1e-5)


def test_custom_encoder(tmp_path) -> None:
    x = np.random.default_rng(1).normal(size=(200, 6)).astype(np.float32) * 10
    model = Umap(encoder=Wavy(6), n_epochs=2, seed=0, verbose=False).fit(x)
    path = model.export_onnx(tmp_path / "wavy.onnx")
    for n in BATCHES[:2]:
        np.testing.assert_allclose(
            _run(path, "features", x[:n]), model.transform(x[:n]), atol=1e-5, rtol=1e-5
        )


def test_errors(tmp_path, fitted) -> None:
    model, x = fitted
    with pytest.raises(ValueError, match="part must be 'encoder' or 'decoder'"):
        model.export_onnx(tmp_path / "m.onnx", part="both")
    plain = Umap(n_epochs=1, hidden_layers=(8,), seed=0, verbose=False).fit(x)
    with pytest.raises(ValueError, match="no decoder"):
        plain.export_onnx(tmp_path / "m.onnx", part="decoder")
    assert not (tmp_path / "m.onnx").exists()


def test_cli_export(tmp_path, fitted, capsys) -> None:
    model, x = fitted
    model.save(tmp_path / "m.safetensors")
    assert main(["export", str(tmp_path / "m.safetensors"), str(tmp_path / "m.onnx")]) == 0
    np.testing.assert_allclose(
        _run(tmp_path / "m.onnx", "features", x[:5]), model.transform(x[:5]), atol=1e-5
    )
    assert main([
        "export", str(tmp_path / "m.safetensors"), str(tmp_path / "d.onnx"), "--part", "decoder"
    ]) == 0
    assert (tmp_path / "d.onnx").exists()


def test_missing_onnx_names_the_extra(tmp_path, fitted, monkeypatch) -> None:
    model, _ = fitted
    monkeypatch.setitem(__import__("sys").modules, "onnx", None)
    with pytest.raises(ImportError, match=r"pumap\[onnx\]"):
        model.export_onnx(tmp_path / "m.onnx")
