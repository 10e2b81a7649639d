"""The ``pumap`` command line, run in-process through `pumap.cli.main` (and once for real)."""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from pumap import FittedUmap, Umap
from pumap.cli import main
from pumap.datasets import make_clusters

FAST = ["--epochs", "2", "--hidden-layers", "16", "--n-neighbors", "5", "--seed", "0",
        "--no-pca-init"]
N = 120


@pytest.fixture
def clusters() -> tuple[np.ndarray, np.ndarray]:
    x, y = make_clusters(N, n_features=6, n_clusters=3, seed=1)
    return x, y


@pytest.fixture
def csv_with_labels(tmp_path: Path, clusters) -> Path:
    x, y = clusters
    path = tmp_path / "data.csv"
    names = [f"f{j}" for j in range(x.shape[1])]
    lines = [",".join(["kind", *names])]
    for row, label in zip(x, y, strict=True):
        lines.append(",".join([f"c{label}", *(f"{v:.6g}" for v in row)]))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def model(tmp_path: Path, csv_with_labels: Path, capsys) -> Path:
    path = tmp_path / "model.safetensors"
    argv = ["fit", str(csv_with_labels), "--labels", "kind", "--save", str(path), "-q", *FAST]
    assert main(argv) == 0
    capsys.readouterr()
    return path


def _error(capsys, code: int, status: int, *fragments: str) -> str:
    """Check a failed run: status, one ``pumap: error:`` line on stderr, no traceback."""
    out = capsys.readouterr()
    assert code == status, out.err
    lines = out.err.strip().splitlines()
    assert len(lines) == 1, out.err
    assert lines[0].startswith("pumap: error: "), out.err
    assert "Traceback" not in out.err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


# ---------------------------------------------------------------- fit


def test_fit_csv_with_header_and_label_column(tmp_path, csv_with_labels, capsys):
    save, emb, svg = tmp_path / "m.safetensors", tmp_path / "emb.csv", tmp_path / "plot.svg"
    code = main(["fit", str(csv_with_labels), "--labels", "kind", "--save", str(save),
                 "--embedding", str(emb), "--plot", str(svg), *FAST])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "pumap training" in out.err  # progress bar without --quiet
    assert f"saved model to {save}" in out.out and str(emb) in out.out and str(svg) in out.out
    fitted = FittedUmap.load(save)
    assert fitted.n_features == 6  # the label column was removed
    assert fitted.config.n_neighbors == 5 and fitted.config.n_epochs == 2
    rows = emb.read_text().splitlines()
    assert rows[0] == "emb_0,emb_1,label" and len(rows) == N + 1
    assert rows[1].split(",")[2].startswith("c")
    root = ET.parse(svg).getroot()  # matplotlib's SVG: one <use> per point, a legend
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    points = root.find(".//{http://www.w3.org/2000/svg}g[@id='PathCollection_1']")
    assert len(list(points.iter("{http://www.w3.org/2000/svg}use"))) == N
    assert "c0" in svg.read_text()  # the label names are in the legend


def test_fit_quiet_prints_nothing(tmp_path, csv_with_labels, capsys):
    code = main(["fit", str(csv_with_labels), "--labels", "0", "-q",
                 "--save", str(tmp_path / "m.gguf"), *FAST])
    out = capsys.readouterr()
    assert code == 0 and out.out == "" and out.err == ""
    assert FittedUmap.load(tmp_path / "m.gguf").n_features == 6


def test_fit_headerless_whitespace_text_with_label_index(tmp_path, clusters, capsys):
    x, y = clusters
    path = tmp_path / "data.txt"
    np.savetxt(path, np.column_stack([x, y]))  # space separated, label last, no header
    emb = tmp_path / "emb.csv"
    code = main(["fit", str(path), "--labels", "-1", "--save", str(tmp_path / "m.safetensors"),
                 "--embedding", str(emb), "-q", *FAST])
    assert code == 0, capsys.readouterr().err
    written = np.loadtxt(emb, delimiter=",", skiprows=1)
    assert written.shape == (N, 3)
    np.testing.assert_array_equal(written[:, 2], y)  # "1.000e+00" labels became 1
    assert emb.read_text().splitlines()[1].split(",")[2] in {"0", "1", "2"}
    assert FittedUmap.load(tmp_path / "m.safetensors").n_features == 6


def test_fit_npy_with_label_file_and_npz_with_key(tmp_path, clusters, capsys):
    x, y = clusters
    np.save(tmp_path / "x.npy", x)
    (tmp_path / "labels.txt").write_text("label\n" + "\n".join(map(str, y)) + "\n")
    emb = tmp_path / "emb.csv"
    code = main(["fit", str(tmp_path / "x.npy"), "--labels", str(tmp_path / "labels.txt"),
                 "--save", str(tmp_path / "a.safetensors"), "--embedding", str(emb), "-q", *FAST])
    assert code == 0, capsys.readouterr().err
    assert emb.read_text().splitlines()[1].split(",")[2] in {"0", "1", "2"}

    np.savez(tmp_path / "d.npz", other=np.zeros(3), x=x, y=y)
    code = main(["fit", str(tmp_path / "d.npz"), "--key", "x", "--labels", "y",
                 "--save", str(tmp_path / "b.safetensors"), "--svg", str(tmp_path / "p.svg"),
                 "-q", *FAST])  # --svg: --plot's old name
    assert code == 0, capsys.readouterr().err
    assert ET.parse(tmp_path / "p.svg").getroot().tag == "{http://www.w3.org/2000/svg}svg"


def test_fit_synthetic_and_options(tmp_path, capsys):
    save = tmp_path / "m.safetensors"
    code = main(["fit", "--synthetic", "150", "--save", str(save), "--n-components", "3",
                 "--metric", "cosine", "--min-dist", "0.2", "--batch-size", "256",
                 "--device", "cpu", "--no-pca-init", "--include-embedding", "-q", *FAST])
    assert code == 0, capsys.readouterr().err
    fitted = FittedUmap.load(save)
    assert fitted.config.n_components == 3 and fitted.config.metric == "cosine"
    assert fitted.config.batch_size == 256 and fitted.config.pca_init is False
    assert fitted.embedding is not None and np.shape(fitted.embedding) == (150, 3)


def test_fit_precision_and_training_flags_reach_the_config(tmp_path, capsys):
    save = tmp_path / "m.safetensors"
    code = main(["fit", "--synthetic", "120", "--save", str(save), "--device", "cpu",
                 "--knn-precision", "bfloat16", "--mixed-precision", "--no-compile",
                 "-q", *FAST])
    assert code == 0, capsys.readouterr().err
    config = FittedUmap.load(save).config
    assert config.knn_precision == "bfloat16"
    assert config.mixed_precision is True and config.compile is False
    assert main(["fit", "--synthetic", "120", "--save", str(save), "--knn-precision",
                 "float16", "-q", *FAST]) == 2
    assert "--knn-precision" in capsys.readouterr().err


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}i", *array.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


def test_fit_builtin_mnist_from_data_dir(tmp_path, capsys):
    rng = np.random.default_rng(0)
    _write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", rng.integers(0, 255, (60, 28, 28)))
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", rng.integers(0, 10, 60))
    code = main(["fit", "--dataset", "mnist", "--data-dir", str(tmp_path),
                 "--save", str(tmp_path / "m.safetensors"), "-q", *FAST])
    assert code == 0, capsys.readouterr().err
    assert FittedUmap.load(tmp_path / "m.safetensors").n_features == 784


# ---------------------------------------------------------------- transform, info, demo


def test_transform_matches_fit(tmp_path, csv_with_labels, clusters, capsys):
    save, emb = tmp_path / "m.safetensors", tmp_path / "fit.npy"
    assert main(["fit", str(csv_with_labels), "--labels", "kind", "--save", str(save),
                 "--embedding", str(emb), "-q", *FAST]) == 0
    out_csv, out_npy = tmp_path / "t.csv", tmp_path / "t.npy"
    assert main(["transform", str(save), str(csv_with_labels), "--labels", "kind",
                 "--out", str(out_csv), "--plot", str(tmp_path / "t.png")]) == 0
    assert (tmp_path / "t.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    said = capsys.readouterr().out
    assert re.search(r"embedded 120 points in (?!0 |0\.0 )[0-9.]+ (ms|s) with ", said), said
    np.save(tmp_path / "x.npy", clusters[0])
    assert main(["transform", str(save), str(tmp_path / "x.npy"), "--out", str(out_npy), "-q"]) == 0
    from_csv = np.loadtxt(out_csv, delimiter=",", skiprows=1, usecols=[0, 1])
    np.testing.assert_allclose(from_csv, np.load(emb), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.load(out_npy), np.load(emb), rtol=1e-4, atol=1e-4)


def test_durations_are_readable():
    from pumap.cli.commands import _duration

    assert [_duration(s) for s in (27.14, 1.0, 0.3124, 0.0031, 0.000042, 0.0)] == [
        "27.1 s", "1.0 s", "312 ms", "3.1 ms", "0.042 ms", "0 ms"]


def test_info_text_and_json(model, capsys):
    assert main(["info", str(model)]) == 0
    text = capsys.readouterr().out
    for line in ("format: safetensors", "n_features: 6", "n_components: 2", "  n_neighbors: 5"):
        assert line in text
    assert main(["info", str(model), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["format"] == "safetensors" and info["kind"] == "pumap-model"
    assert info["config"]["n_epochs"] == 2 and info["parameters"] == 6 * 16 + 16 + 16 * 2 + 2
    assert info["library_version"] and info["format_version"] >= 1


def test_demo_on_digits(tmp_path, capsys):
    pytest.importorskip("sklearn")
    out_dir = tmp_path / "demo"
    assert main(["demo", "--out-dir", str(out_dir), "-q", *FAST]) == 0
    out = capsys.readouterr().out
    for name in ("pumap-demo.png", "pumap-demo.csv", "pumap-demo.safetensors"):
        assert (out_dir / name).is_file() and str(out_dir / name) in out
    assert (out_dir / "pumap-demo.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len((out_dir / "pumap-demo.csv").read_text().splitlines()) == 1797 + 1


def test_demo_without_sklearn_uses_synthetic_clusters(tmp_path, capsys, monkeypatch):
    import pumap.cli.commands
    import pumap.datasets

    def no_sklearn():
        raise ImportError("load_digits needs scikit-learn")

    monkeypatch.setattr(pumap.datasets, "load_digits", no_sklearn)
    monkeypatch.setattr(pumap.cli.commands, "DEMO_SYNTHETIC_POINTS", 200)
    assert main(["demo", "--out-dir", str(tmp_path), *FAST]) == 0
    out = capsys.readouterr().out
    assert "using synthetic clustered data" in out
    assert len((tmp_path / "pumap-demo.csv").read_text().splitlines()) == 200 + 1


def test_plot_without_matplotlib(tmp_path, csv_with_labels, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    save = tmp_path / "m.safetensors"
    code = main(["fit", str(csv_with_labels), "--save", str(save), "--plot", "p.png", *FAST])
    err = capsys.readouterr().err
    assert code == 1 and 'pip install "pumap[plot]"' in err and "--plot p.png" in err
    assert not save.exists()  # refused before fitting
    # the demo still writes its CSV and model and says why there is no plot
    monkeypatch.setattr("pumap.cli.commands.DEMO_SYNTHETIC_POINTS", 200)
    assert main(["demo", "--out-dir", str(tmp_path), "--synthetic", *FAST]) == 0
    out = capsys.readouterr().out
    assert 'plot:      none (pumap.plot needs matplotlib: pip install "pumap[plot]")' in out
    assert (tmp_path / "pumap-demo.csv").is_file() and not (tmp_path / "pumap-demo.png").exists()


def test_help_and_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("pumap ")
    for command in ("fit", "transform", "info", "demo"):
        assert main([command, "--help"]) == 0
        assert "usage: pumap " + command in capsys.readouterr().out


def test_help_says_what_automatic_epochs_are(capsys):
    for command in ("fit", "demo"):
        assert main([command, "--help"]) == 0
        text = " ".join(capsys.readouterr().out.split())  # argparse wraps the help
        assert (
            "--epochs N training epochs (default: auto (about 300 steps, 2000 with the small "
            "batch))" in text
        )
        assert (
            "--batch-size B positive edges per optimiser step (default: auto (2048 on a CPU "
            "above 25,000 points, else 65536))" in text
        )
        assert "None" not in text


# ---------------------------------------------------------------- user mistakes


def test_usage_errors_exit_2(tmp_path, csv_with_labels, capsys):
    save = str(tmp_path / "m.safetensors")
    data = str(csv_with_labels)
    cases = [
        (["fit", data], "required: --save"),
        (["fit", "--save", save], "exactly one of DATA, --dataset or --synthetic"),
        (["fit", data, "--synthetic", "100", "--save", save], "exactly one of"),
        (["fit", data, "--save", save, "--bogus"], "unrecognized arguments: --bogus"),
        (["fit", data, "--save", save, "--embedding", "out.txt"], "must end in .csv or .npy"),
        (["fit", data, "--save", save, "--svg", "p.svg", "--n-components", "3"], "--plot needs"),
        (["fit", data, "--save", save, "--plot", "p.jpg"], "must end in .png or .svg or .pdf"),
        (["fit", data, "--save", save, "--hidden-layers", "a,b"], "--hidden-layers"),
        (["fit", data, "--save", save, "--n-neighbors", "0"], "--n-neighbors: n_neighbors must"),
        (["fit", data, "--save", save, "--metric", "nonsense"], "metric must be one of"),
        (["fit", "--synthetic", "100", "--data-dir", "x", "--save", save], "--data-dir only"),
        (["transform", save, data], "required: --out"),
        (["frobnicate"], "invalid choice"),
    ]
    for argv, fragment in cases:
        _error(capsys, main(argv), 2, fragment)
    assert main([]) == 2
    assert "usage: pumap" in capsys.readouterr().err


def test_runtime_errors_exit_1(tmp_path, csv_with_labels, model, capsys):
    data, save = str(csv_with_labels), str(tmp_path / "new.safetensors")
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("1,2,3\n4,5,6\n7,8\n")
    words = tmp_path / "words.csv"
    words.write_text("a,b\n1,2\n3,oops\n")
    holes = tmp_path / "holes.csv"
    holes.write_text("1,2\n3,\n")
    short_labels = tmp_path / "short.txt"
    short_labels.write_text("1\n2\n")
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"\x00" * 5 + b"not a model at all")
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(model.read_bytes()[:200])
    np.save(tmp_path / "wide.npy", np.zeros((10, 9), dtype=np.float32))
    np.savez(tmp_path / "d.npz", x=np.zeros((10, 3)))
    cases = [
        (["fit", "missing.csv", "--save", save], "missing.csv: no such file"),
        (["fit", data, "--labels", "nope", "--save", save], "'nope' is neither a column",
         "kind, f0"),
        (["fit", data, "--labels", "9", "--save", save], "index 9 is out of range"),
        (["fit", str(ragged), "--save", save], "line 3: 2 fields, expected 3"),
        (["fit", str(words), "--save", save], "line 3, column 'b': 'oops' is not a number"),
        (["fit", str(holes), "--save", save], "line 2, column 1 (0-based)", "missing value"),
        (["fit", str(tmp_path / "wide.npy"), "--labels", str(short_labels), "--save", save],
         "2 labels", "10 rows"),
        (["fit", str(tmp_path / "d.npz"), "--key", "nope", "--save", save], "no array 'nope'"),
        (["fit", data, "--key", "x", "--save", save], "--key only applies to .npz"),
        (["fit", data, "--save", str(tmp_path / "no" / "m.safetensors")], "does not exist"),
        (["fit", str(tmp_path / "wide.npy"), "--n-neighbors", "15", "--save", save, "-q"],
         "has 10 rows but --n-neighbors 15 (the point itself counted) needs at least 15",
         "--n-neighbors 10 or fewer"),
        (["fit", "--dataset", "mnist", "--data-dir", str(tmp_path), "--save", save],
         "not found"),
        (["transform", str(model), str(tmp_path / "wide.npy"), "--out", "o.npy"],
         "has 9 features but the model", "expects 6", "--labels"),
        (["transform", str(model), data, "--out", "o.npy"],
         "column 'kind': 'c2' is not a number", "pass --labels 'kind'"),
        (["transform", str(corrupt), data, "--out", "o.npy"], "not a usable pumap model"),
        (["transform", str(tmp_path / "none.safetensors"), data, "--out", "o.npy"],
         "no such file"),
        (["info", str(corrupt)], "corrupt.safetensors"),
        (["info", str(truncated)], "truncated.safetensors"),
        (["info", str(csv_with_labels)], "data.csv"),
    ]
    for argv, *fragments in cases:
        _error(capsys, main(argv), 1, *fragments)
    assert not Path(save).exists()


def test_too_few_rows_says_what_is_needed(tmp_path, capsys):
    save = str(tmp_path / "m.safetensors")
    np.save(tmp_path / "one.npy", np.ones((1, 3), dtype=np.float32))
    np.save(tmp_path / "two.npy", np.arange(6, dtype=np.float32).reshape(2, 3))
    line = _error(capsys, main(["fit", str(tmp_path / "one.npy"), "--save", save]), 1,
                  "has 1 row; a k-NN graph needs at least 2 rows")
    assert "--n-neighbors" not in line  # no value of it helps
    _error(capsys, main(["fit", str(tmp_path / "two.npy"), "--save", save]), 1,
           "has 2 rows but --n-neighbors 15 (the point itself counted) needs at least 15",
           "pass --n-neighbors 2 or at least 15 rows")


def test_row_numbers_are_the_files_lines(tmp_path, capsys):
    save = str(tmp_path / "m.safetensors")
    table = tmp_path / "t.csv"  # line 1 a header, line 3 blank, the NaN on line 5
    table.write_text("a,b,c\n1,2,3\n\n4,5,6\n7,nan,9\n1,1,2\n")
    _error(capsys, main(["fit", str(table), "--save", save]), 1,
           "t.csv, line 5, column 'b': 'nan' is NaN or infinity")
    plain = tmp_path / "plain.txt"
    plain.write_text("1 2\n3 inf\n")
    _error(capsys, main(["fit", str(plain), "--save", save]), 1,
           "plain.txt, line 2, column 1 (0-based): 'inf' is NaN or infinity")
    big = tmp_path / "big.csv"
    big.write_text("1,2\n3,1e39\n")
    _error(capsys, main(["fit", str(big), "--save", save]), 1,
           "big.csv, line 2, column 1 (0-based): '1e39' is beyond float32's range")
    x = np.ones((4, 3), dtype=np.float32)
    x[2, 1] = np.nan
    np.save(tmp_path / "x.npy", x)
    _error(capsys, main(["fit", str(tmp_path / "x.npy"), "--save", save]), 1,
           "x.npy: NaN or infinity at row 2, column 1 (0-based)")


def test_mnist_offline_names_the_command_line_flags(tmp_path, capsys, monkeypatch):
    import urllib.error
    import urllib.request

    def offline(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    monkeypatch.setenv("PUMAP_DATA", str(tmp_path / "cache"))
    line = _error(capsys, main(["fit", "--dataset", "mnist", "--save",
                                str(tmp_path / "m.safetensors")]), 1,
                  "could not download MNIST", "Name or service not known", "--data-dir DIR",
                  str(tmp_path / "cache" / "mnist"))
    for python_name in ("data_dir", "cache_dir", "load_mnist", "fetch_mnist"):
        assert python_name not in line
    line = _error(capsys, main(["fit", "--dataset", "mnist", "--data-dir", str(tmp_path),
                                "--save", str(tmp_path / "m.safetensors")]), 1,
                  "--data-dir", "t10k-images-idx3-ubyte.gz not found")
    assert "fetch_mnist" not in line


def test_model_errors_say_it_once(tmp_path, capsys):
    png = tmp_path / "picture.safetensors"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    line = _error(capsys, main(["info", str(png)]), 1,
                  f"{png} is not a usable pumap model: neither GGUF nor safetensors")
    assert line.count("pumap model") == 1 and line.count(str(png)) == 1
    import gguf

    llama = tmp_path / "llama.gguf"
    writer = gguf.GGUFWriter(llama, "llama")
    writer.add_tensor("w", np.ones((2, 2), np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    line = _error(capsys, main(["transform", str(llama), str(png), "--out", "o.npy"]), 1,
                  "is not a usable pumap model: a GGUF file of architecture 'llama'")
    assert line.count("pumap model") == 1


# ---------------------------------------------------------------- real entry points


def _env() -> dict[str, str]:
    src = str(Path(__file__).resolve().parents[2] / "src")
    return {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}


def test_python_dash_m_entry_point(tmp_path, model):
    ok = subprocess.run([sys.executable, "-m", "pumap", "info", str(model), "--json"],
                        capture_output=True, text=True, env=_env(), timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["n_features"] == 6
    bad = subprocess.run([sys.executable, "-m", "pumap", "info", str(tmp_path / "nope.gguf")],
                         capture_output=True, text=True, env=_env(), timeout=120)
    assert bad.returncode == 1
    assert bad.stderr.startswith("pumap: error: ") and "Traceback" not in bad.stderr


@pytest.mark.skipif(shutil.which("pumap") is None, reason="console script not installed")
def test_console_script():
    done = subprocess.run(["pumap", "--version"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("pumap ")


def test_threads_flag_reaches_fit_and_transform(tmp_path, capsys, monkeypatch):
    import torch

    save = tmp_path / "m.safetensors"
    code = main(["fit", "--synthetic", "120", "--save", str(save), "--device", "cpu",
                 "--threads", "1", "-q", *FAST])
    assert code == 0, capsys.readouterr().err
    assert FittedUmap.load(save).config.threads == 1
    np.save(tmp_path / "x.npy", make_clusters(20, 10, n_clusters=2, seed=1)[0])
    seen = []
    real = FittedUmap._embed

    def embed(self, *args, **kwargs):
        seen.append(torch.get_num_threads())
        return real(self, *args, **kwargs)

    monkeypatch.setattr(FittedUmap, "_embed", embed)
    out = tmp_path / "e.npy"
    for flag, want in (([], 1), (["--threads", "2"], 2)):
        code = main(["transform", str(save), str(tmp_path / "x.npy"), "--out", str(out),
                     "--device", "cpu", "-q", *flag])
        assert code == 0, capsys.readouterr().err
        assert seen[-1] == want
    assert main(["fit", "--synthetic", "120", "--save", str(save), "--threads", "0",
                 "-q", *FAST]) == 2
    assert "--threads" in capsys.readouterr().err
    assert main(["transform", str(save), str(tmp_path / "x.npy"), "--out", str(out),
                 "--threads", "0", "-q"]) == 2
    assert "--threads" in capsys.readouterr().err


def test_output_into_a_closed_pipe_is_not_an_error(tmp_path):
    """`pumap info model | head`: the reader leaves early; no 'Broken pipe' error is printed."""
    x = np.random.default_rng(0).normal(size=(60, 4)).astype(np.float32)
    model = tmp_path / "m.safetensors"
    Umap(n_neighbors=5, n_epochs=1, hidden_layers=(8,), seed=0, verbose=False).fit(x).save(model)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pumap", "info", str(model)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )
    proc.stdout.close()  # closed before the child, still importing, writes a line
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == 141, stderr  # as a shell reports `ls | head`
    assert stderr == ""
