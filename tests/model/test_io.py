"""Saving and loading fitted models: round trips, file layout, atomic writes and bad files."""

from __future__ import annotations

import json
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import pytest
import safetensors.numpy
import safetensors.torch
import torch
from safetensors import safe_open
from torch import nn

import pumap
from pumap import FittedUmap, ModelFormatError, Umap, UmapConfig
from pumap import io as pio
from pumap.model import io as model_io
from pumap.model.model_file import MODEL_KEYS

FORMATS = ["safetensors", "gguf"]


class Net(nn.Module):
    """A custom encoder with a 0-d buffer (GGUF must keep its empty shape)."""

    def __init__(self, n_features: int = 6, width: int = 8) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(n_features, width), nn.Tanh(), nn.Linear(width, 2))
        self.register_buffer("scale", torch.tensor(2.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) * self.scale


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(120, 6)).astype(np.float32)


@pytest.fixture(scope="module")
def fitted(data: np.ndarray) -> FittedUmap:
    return Umap(n_neighbors=5, n_epochs=2, hidden_layers=(16,), seed=0, verbose=False).fit(data)


@pytest.fixture(scope="module")
def custom(data: np.ndarray) -> FittedUmap:
    torch.manual_seed(0)
    options = {"n_neighbors": 5, "n_epochs": 2, "pca_init": False, "seed": 0, "verbose": False}
    return Umap(encoder=Net(), **options).fit(data)


def _save(model: FittedUmap, folder: Path, fmt: str, name: str = "model", **kw: Any) -> Path:
    path = folder / f"{name}.{fmt}"
    model.save(path, **kw)
    return path


# --- crafting files with the reference libraries ---------------------------------------------


def _st_parts(path: Path) -> tuple[dict[str, str], dict[str, np.ndarray]]:
    with safe_open(str(path), "np") as fh:
        return dict(fh.metadata()), {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118


def _gguf_parts(path: Path) -> tuple[dict[str, tuple[Any, Any]], dict[str, np.ndarray]]:
    reader = gguf.GGUFReader(path)
    fields = {
        k: (f.types[0], f.contents()) for k, f in reader.fields.items() if k.startswith("pumap.")
    }
    tensors = {
        t.name: np.array(t.data, dtype=np.float32).reshape(tuple(reversed(t.shape.tolist())))
        for t in reader.tensors
    }
    return fields, tensors


def _write_gguf(
    path: Path, fields: dict[str, tuple[Any, Any]], tensors: dict[str, np.ndarray], arch: str
) -> None:
    writer = gguf.GGUFWriter(path, arch)
    for key, (vtype, value) in fields.items():
        writer.add_key_value(key, value, vtype)
    for name, array in tensors.items():
        writer.add_tensor(name, array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def _tampered(src: Path, dst: Path, key: str, value: Any, tensors: dict | None = None) -> Path:
    """Copy the model at ``src`` to ``dst`` with metadata ``key`` set to ``value``.

    ``value`` is the decoded value; a ``str`` for a JSON key is written as raw text.
    """
    if src.suffix == ".gguf":
        fields, arrays = _gguf_parts(src)
        if value is None:
            fields.pop(key)
        else:
            vtype = fields[key][0] if key in fields else gguf.GGUFValueType.STRING
            if MODEL_KEYS.get(key) == "json" and not isinstance(value, str):
                value = json.dumps(value)
            fields[key] = (vtype, value)
        _write_gguf(dst, fields, tensors or arrays, "pumap")
    else:
        meta, arrays = _st_parts(src)
        if value is None:
            meta.pop(key)
        else:
            is_raw = MODEL_KEYS.get(key) == "json" and isinstance(value, str)
            meta[key] = value if is_raw else json.dumps(value)
        safetensors.numpy.save_file(tensors or arrays, str(dst), metadata=meta)
    return dst


# --- round trips -------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_is_bit_identical(tmp_path, fitted, data, fmt):
    path = _save(fitted, tmp_path, fmt)
    loaded = FittedUmap.load(path, device="cpu")
    assert np.array_equal(loaded.transform(data), fitted.transform(data))
    assert loaded.config == fitted.config
    assert (loaded.a, loaded.b) == (fitted.a, fitted.b)
    assert loaded.losses == fitted.losses
    assert loaded.embedding is None
    assert torch.equal(loaded.standardizer.mean, fitted.standardizer.mean)
    assert torch.equal(loaded.standardizer.std, fitted.standardizer.std)
    assert isinstance(loaded.encoder, pumap.training.encoder.MLP)
    assert pio.read_metadata(path)["pumap.has_embedding"] is False


@pytest.mark.parametrize("fmt", FORMATS)
def test_embedding_is_stored_on_request(tmp_path, fitted, fmt):
    loaded = FittedUmap.load(_save(fitted, tmp_path, fmt, include_embedding=True))
    assert loaded.embedding.dtype == np.float32
    assert np.array_equal(loaded.embedding, fitted.embedding)
    without_embedding = FittedUmap(
        fitted.encoder, fitted.standardizer, fitted.config, fitted.a, fitted.b
    )
    with pytest.raises(ValueError, match="no training embedding"):
        without_embedding.save(tmp_path / f"x.{fmt}", include_embedding=True)


@pytest.mark.parametrize("fmt", FORMATS)
def test_format_is_detected_from_bytes_not_name(tmp_path, fitted, data, fmt):
    path = _save(fitted, tmp_path, fmt)
    renamed = path.rename(tmp_path / "model.bin")
    assert pio.detect_format(renamed) == fmt
    assert np.array_equal(FittedUmap.load(renamed).transform(data), fitted.transform(data))


@pytest.mark.parametrize("fmt", FORMATS)
def test_bytes_are_deterministic_and_stable_under_reload(tmp_path, fitted, fmt):
    first = _save(fitted, tmp_path, fmt, "a", include_embedding=True)
    second = _save(fitted, tmp_path, fmt, "b", include_embedding=True)
    again = _save(FittedUmap.load(first), tmp_path, fmt, "c", include_embedding=True)
    assert first.read_bytes() == second.read_bytes() == again.read_bytes()


def test_fresh_process_transforms_identically(tmp_path, fitted, data):
    paths = [_save(fitted, tmp_path, fmt) for fmt in FORMATS]
    np.save(tmp_path / "x.npy", data)
    script = (
        "import sys, numpy as np\n"
        "from pumap import FittedUmap\n"
        "x = np.load(sys.argv[1])\n"
        "for p in sys.argv[2:]:\n"
        "    print(FittedUmap.load(p).transform(x).tobytes().hex())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "x.npy"), *map(str, paths)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.split()
    expected = fitted.transform(data).tobytes().hex()
    assert out == [expected, expected]


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_across_devices(tmp_path, data, fmt):
    cpu = Umap(
        n_neighbors=5, n_epochs=2, hidden_layers=(16,), seed=0, device="cpu", verbose=False
    ).fit(data)
    expected = cpu.transform(data)
    on_gpu = FittedUmap.load(_save(cpu, tmp_path, fmt, "cpu"), device="cuda")
    assert on_gpu.device.type == "cuda"
    np.testing.assert_allclose(on_gpu.transform(data), expected, rtol=1e-5, atol=1e-5)
    tensor_out = on_gpu.transform(torch.from_numpy(data).cuda())
    assert tensor_out.device.type == "cuda"
    # Saved from the GPU, loaded on the CPU: the same bytes and the same CPU result.
    back = _save(on_gpu, tmp_path, fmt, "gpu")
    assert back.read_bytes() == (tmp_path / f"cpu.{fmt}").read_bytes()
    assert np.array_equal(FittedUmap.load(back, device="cpu").transform(data), expected)


# --- the files as other tools see them -----------------------------------------------------


def test_safetensors_layout_is_readable_by_safetensors(tmp_path, fitted):
    path = _save(fitted, tmp_path, "safetensors", include_embedding=True)
    meta, tensors = _st_parts(path)
    decoded = {k: json.loads(v) for k, v in meta.items()}
    assert decoded["pumap.format"] == "pumap-model"
    assert decoded["pumap.format_version"] == pio.FORMAT_VERSION
    assert decoded["pumap.library_version"] == pumap.__version__
    # options newer than 0.2.0 are written only when set (tests/training/test_projection.py)
    assert UmapConfig.from_dict(decoded["pumap.config"]) == fitted.config
    assert decoded["pumap.encoder"] == fitted.encoder.spec()
    assert decoded["pumap.a"] == fitted.a and decoded["pumap.b"] == fitted.b
    assert decoded["pumap.n_features"] == 6 and decoded["pumap.n_components"] == 2
    state = fitted.encoder.state_dict()
    assert set(tensors) == {f"encoder.{k}" for k in state} | {
        "standardizer.mean",
        "standardizer.std",
        "embedding",
        "refine.embedding",
        "refine.points",
        "refine.mean",
    }
    index = fitted.training_index
    assert np.array_equal(tensors["refine.points"], index.points.numpy())
    assert decoded["pumap.training_index"] == {
        "metric": "euclidean", "n_samples": index.n_samples, "dims": 6, "sketch": False
    }
    for key, value in state.items():
        assert np.array_equal(tensors[f"encoder.{key}"], value.numpy())
    assert np.array_equal(tensors["standardizer.std"], fitted.standardizer.std.numpy())
    assert (len(path.read_bytes()) - int.from_bytes(path.read_bytes()[:8], "little")) % 8 == 0


def test_gguf_layout_is_readable_by_gguf_reader(tmp_path, fitted):
    path = _save(fitted, tmp_path, "gguf", include_embedding=True)
    reader = gguf.GGUFReader(path)
    assert reader.fields["general.architecture"].contents() == "pumap"
    assert reader.fields["pumap.format"].contents() == "pumap-model"
    assert reader.fields["pumap.a"].types == [gguf.GGUFValueType.FLOAT64]
    assert reader.fields["pumap.a"].contents() == fitted.a
    assert reader.fields["pumap.has_embedding"].contents() is True
    config = json.loads(reader.fields["pumap.config"].contents())
    assert UmapConfig.from_dict(config) == fitted.config
    tensors = {t.name: t for t in reader.tensors}
    weight = fitted.encoder.state_dict()["0.weight"].numpy()  # (16, 6)
    stored = tensors["encoder.0.weight"]
    assert stored.tensor_type == gguf.GGMLQuantizationType.F32
    assert list(stored.shape) == [6, 16]  # GGUF lists dimensions in reverse
    assert np.array_equal(np.asarray(stored.data).reshape(16, 6), weight)
    assert list(tensors["embedding"].shape) == [2, 120]


def test_save_weights_holds_only_encoder_tensors(tmp_path, fitted, data):
    path = tmp_path / "weights.safetensors"
    fitted.save_weights(path)
    meta, tensors = _st_parts(path)
    state = fitted.encoder.state_dict()
    assert set(tensors) == set(state)
    assert {k: v.shape for k, v in tensors.items()} == {k: tuple(v.shape) for k, v in state.items()}
    assert json.loads(meta["pumap.format"]) == "pumap-weights"
    fresh = pumap.training.encoder.MLP(6, (16,), 2)
    fresh.load_state_dict(safetensors.torch.load_file(str(path)))
    filled = pio.load_weights(path, pumap.training.encoder.MLP(6, (16,), 2))
    for module in (fresh, filled):
        assert all(torch.equal(module.state_dict()[k], v) for k, v in state.items())
    with pytest.raises(ModelFormatError, match="weights-only"):
        FittedUmap.load(path)
    with pytest.raises(ModelFormatError, match="do not match"):
        pio.load_weights(path, Net())
    with pytest.raises(ValueError, match="safetensors only"):
        fitted.save_weights(tmp_path / "weights.gguf")


# --- custom encoders ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_custom_encoder_round_trip(tmp_path, custom, data, fmt):
    path = _save(custom, tmp_path, fmt)
    assert pio.read_metadata(path)["pumap.encoder"] == {
        "type": "custom",
        "class": f"{Net.__module__}.Net",
    }
    loaded = FittedUmap.load(path, encoder=Net())
    assert loaded.encoder.scale.shape == ()
    assert np.array_equal(loaded.transform(data), custom.transform(data))
    with pytest.raises(ModelFormatError, match=r"custom module .*Net.*encoder="):
        FittedUmap.load(path)
    with pytest.raises(ModelFormatError, match=r"encoder\.body\.0\.weight has shape"):
        FittedUmap.load(path, encoder=Net(width=4))
    with pytest.raises(ModelFormatError, match="do not match") as info:
        FittedUmap.load(path, encoder=nn.Linear(6, 2))
    assert str(path) in str(info.value)


# --- atomic writes -----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_failed_save_leaves_old_file_untouched(tmp_path, fitted, monkeypatch, fmt):
    path = _save(fitted, tmp_path, fmt)
    old = path.read_bytes()

    def broken(tmp: Path, *args: Any) -> None:
        with open(tmp, "wb") as fh:
            fh.write(b"partial bytes")
        raise OSError("disk full")

    monkeypatch.setattr(model_io, f"write_{fmt}", broken)  # where save_model looks it up
    with pytest.raises(OSError, match="disk full"):
        fitted.save(path, include_embedding=True)
    assert path.read_bytes() == old
    assert os.listdir(tmp_path) == [path.name]
    with pytest.raises(OSError, match="disk full"):
        fitted.save(tmp_path / f"new.{fmt}")
    assert os.listdir(tmp_path) == [path.name]


def test_successful_save_replaces_and_leaves_no_temp(tmp_path, fitted):
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"old contents")
    fitted.save(path)
    assert pio.detect_format(path) == "safetensors"
    assert os.listdir(tmp_path) == [path.name]


@pytest.mark.parametrize("fmt", FORMATS)
def test_save_into_a_missing_folder_names_the_folder(tmp_path, fitted, fmt):
    target = tmp_path / "nodir" / f"m.{fmt}"
    with pytest.raises(FileNotFoundError) as info:
        fitted.save(target)
    message = str(info.value)
    assert f"folder {tmp_path / 'nodir'} does not exist" in message
    assert ".tmp" not in message
    assert info.value.filename == str(target)
    with pytest.raises(FileNotFoundError, match="nodir"):
        fitted.save_weights(tmp_path / "nodir" / "w.safetensors")
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    with pytest.raises(NotADirectoryError, match=f"{not_a_folder} is not a folder"):
        fitted.save(not_a_folder / f"m.{fmt}")
    assert os.listdir(tmp_path) == ["file"]


# --- no pickle ---------------------------------------------------------------------------------


def test_no_pickle_in_save_or_load(tmp_path, fitted, data, monkeypatch):
    def forbidden(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("unpickling during save/load")

    for target, name in [(torch, "load"), (pickle, "load"), (pickle, "loads"), (np, "load")]:
        monkeypatch.setattr(target, name, forbidden)
    for fmt in FORMATS:
        loaded = FittedUmap.load(_save(fitted, tmp_path, fmt, include_embedding=True))
        assert np.array_equal(loaded.transform(data), fitted.transform(data))
    package = Path(model_io.__file__).parent
    readers = [package / "io.py", package / "model_file.py", *package.glob("formats/*.py")]
    assert len(readers) > 4
    for source in readers:
        for word in ("import pickle", "torch.load(", "np.load(", "allow_pickle"):
            assert word not in source.read_text(), (source.name, word)


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


def test_a_pickle_file_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "ran"
    for name, payload in [
        ("plain.safetensors", pickle.dumps(_Payload(marker))),
        ("torch.safetensors", None),
    ]:
        path = tmp_path / name
        if payload is None:
            torch.save({"x": _Payload(marker)}, path)
        else:
            path.write_bytes(payload)
        with pytest.raises(ModelFormatError, match="neither GGUF nor safetensors"):
            FittedUmap.load(path)
    assert not marker.exists()


# --- bad files ---------------------------------------------------------------------------------


def _assert_bad(path: Path, match: str, **kw: Any) -> None:
    with pytest.raises(ModelFormatError) as info:
        FittedUmap.load(path, **kw)
    assert isinstance(info.value, ValueError)
    assert re.search(match, info.value.problem), info.value.problem  # not in the path's words
    assert str(path) in str(info.value) and info.value.path == str(path)


def test_missing_empty_and_directory(tmp_path):
    _assert_bad(tmp_path / "nope.safetensors", "no such file")
    (tmp_path / "empty.gguf").write_bytes(b"")
    _assert_bad(tmp_path / "empty.gguf", "empty")
    _assert_bad(tmp_path, "directory")


def test_foreign_files(tmp_path):
    png = tmp_path / "image.safetensors"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    _assert_bad(png, "neither GGUF nor safetensors")
    blob = tmp_path / "blob.gguf"
    blob.write_bytes(np.random.default_rng(1).bytes(4096))
    _assert_bad(blob, "neither GGUF nor safetensors")
    other = tmp_path / "other.safetensors"
    safetensors.numpy.save_file({"w": np.ones((2, 2), np.float32)}, str(other), {"k": "v"})
    _assert_bad(other, "without pumap metadata")
    llama = tmp_path / "llama.gguf"
    _write_gguf(llama, {}, {"w": np.ones((2, 2), np.float32)}, "llama")
    _assert_bad(llama, "architecture 'llama'")


@pytest.mark.parametrize("fmt", FORMATS)
def test_truncated_files(tmp_path, fitted, fmt):
    full = _save(fitted, tmp_path, fmt).read_bytes()
    # Cut inside the size field / magic, the header, and the tensor data.
    for cut in (6, 40, len(full) // 2, len(full) - 100):
        path = tmp_path / f"cut{cut}.{fmt}"
        path.write_bytes(full[:cut])
        _assert_bad(path, "truncated|corrupt")


@pytest.mark.parametrize("fmt", FORMATS)
def test_newer_format_version(tmp_path, fitted, fmt):
    src = _save(fitted, tmp_path, fmt)
    newer = pio.FORMAT_VERSION + 1
    path = _tampered(src, tmp_path / f"new.{fmt}", "pumap.format_version", newer)
    _assert_bad(path, f"format version {newer} is newer")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("pumap.config", "{not json", "pumap.config is not valid JSON"),
        ("pumap.config", {"n_neighbors": -1}, "not a valid UmapConfig"),
        ("pumap.config", {"colour": "red"}, "unknown UmapConfig field"),
        ("pumap.encoder", {"type": "resnet"}, "does not describe an MLP"),
        ("pumap.a", None, "pumap.a is missing"),
        ("pumap.format", "other", "unknown pumap.format"),
    ],
)
def test_bad_metadata(tmp_path, fitted, fmt, key, value, match):
    src = _save(fitted, tmp_path, fmt)
    _assert_bad(_tampered(src, tmp_path / f"bad.{fmt}", key, value), match)


@pytest.mark.parametrize("fmt", FORMATS)
def test_tensor_shapes_disagree_with_architecture(tmp_path, fitted, fmt):
    src = _save(fitted, tmp_path, fmt)
    spec = {**fitted.encoder.spec(), "hidden_layers": [8]}
    _assert_bad(_tampered(src, tmp_path / f"a.{fmt}", "pumap.encoder", spec), "has shape")
    _, tensors = _gguf_parts(src) if fmt == "gguf" else _st_parts(src)
    tensors["standardizer.mean"] = np.zeros(5, np.float32)
    meta_key, same = "pumap.n_features", 6
    _assert_bad(
        _tampered(src, tmp_path / f"b.{fmt}", meta_key, same, tensors),
        r"standardizer.mean' has shape \(5,\)",
    )
    tensors["standardizer.mean"] = fitted.standardizer.mean.numpy()
    tensors["encoder.0.weight"] = tensors["encoder.0.weight"][:, :3].copy()
    _assert_bad(_tampered(src, tmp_path / f"c.{fmt}", meta_key, same, tensors), "has shape")


def test_error_type_is_exported_and_a_value_error():
    assert pumap.ModelFormatError is ModelFormatError
    assert issubclass(ModelFormatError, ValueError)
    err = pickle.loads(pickle.dumps(ModelFormatError("m.gguf", "broken")))
    assert (err.path, err.problem, str(err)) == ("m.gguf", "broken", "m.gguf: broken")


# --- dtypes of a custom encoder ------------------------------------------------------------------


class Mixed(nn.Module):
    """An encoder computing in float64, with a float16 buffer and an int64 counter."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(6, 2).double()
        self.register_buffer("small", torch.tensor([1.0 / 3, 1e-4], dtype=torch.float16))
        self.register_buffer("count", torch.tensor(2**40 + 1, dtype=torch.int64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.double()).float()


def _mixed_model(data: np.ndarray) -> FittedUmap:
    from pumap.data.preprocess import Standardizer

    torch.manual_seed(0)
    encoder = Mixed()
    with torch.no_grad():  # a float64 value float32 cannot hold
        encoder.linear.weight[0, 0] = 1.0 + 2.0**-40
    config = pumap.UmapConfig(n_neighbors=5, seed=0, verbose=False)
    return FittedUmap(encoder, Standardizer.identity(data.shape[1]), config, 1.5, 0.9)


def test_safetensors_keeps_an_encoders_dtypes(tmp_path, data):
    model = _mixed_model(data)
    path = _save(model, tmp_path, "safetensors")
    _, stored = _st_parts(path)
    assert stored["encoder.linear.weight"].dtype == np.float64
    assert stored["encoder.small"].dtype == np.float16
    assert stored["encoder.count"].dtype == np.int64
    assert stored["standardizer.mean"].dtype == np.float32
    loaded = FittedUmap.load(path, encoder=Mixed())
    for name, value in model.encoder.state_dict().items():
        again = loaded.encoder.state_dict()[name]
        assert again.dtype == value.dtype and torch.equal(again, value), name
    np.testing.assert_array_equal(loaded.transform(data), model.transform(data))
    weights = tmp_path / "weights.safetensors"
    model.save_weights(weights)
    state = safetensors.torch.load_file(str(weights))
    assert state["linear.weight"].dtype == torch.float64
    assert torch.equal(state["linear.weight"], model.encoder.linear.weight)
    assert pio.load_weights(weights, Mixed()).count.item() == 2**40 + 1


def test_dtypes_a_file_cannot_keep_are_refused_by_name(tmp_path, data):
    model = _mixed_model(data)
    with pytest.raises(ValueError, match=r"encoder.small.*float16.*GGUF.*\.safetensors"):
        model.save(tmp_path / "m.gguf")
    model.encoder.small = model.encoder.small.to(torch.bfloat16)
    with pytest.raises(ValueError, match=r"encoder.small.*bfloat16.*\.float\(\)"):
        model.save(tmp_path / "m.safetensors")
    assert not list(tmp_path.iterdir())  # nothing written, no temporary file left
