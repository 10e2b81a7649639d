"""The ``pumap`` subcommands: fit, transform, info and demo, each given parsed arguments.

`pumap.cli.parser` parses the command line and calls one of these handlers with the namespace;
the namespace also carries ``command_parser`` (for usage errors) and, for the commands that
fit, ``make_config`` (the parser's option-to-`UmapConfig` translation), so that this module
does not import `pumap.cli.parser`. A handler returns the exit status, or raises: `UsageError` for a
command line that makes no sense (status 2), anything else for a failed run (status 1).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..config import UmapConfig
from ..device import resolve_device
from .plots import PLOT_FILE_SUFFIXES, require_plot_library, write_plot
from .tables import Dataset, load_table, write_embedding


class UsageError(Exception):
    """A command line that parsed but does not make sense (exit status 2)."""


EXIT_OK, EXIT_RUNTIME, EXIT_USAGE = 0, 1, 2
EMBEDDING_SUFFIXES = (".csv", ".npy")
DEMO_SYNTHETIC_POINTS = 3000
# fit's checkpoint keywords and the flags that set them, for messages
_CHECKPOINT_FLAGS = {
    "checkpoint_every": "--checkpoint-every",
    "checkpoint_path": "--checkpoint",
    "resume_from": "--resume-from",
}


# --------------------------------------------------------------------------------------------
# Data and outputs


def load_builtin(name: str, *, data_dir: str | None, split: str) -> Dataset:
    """A built-in data set: ``digits`` (scikit-learn) or ``mnist`` (from ``data_dir``)."""
    from .. import datasets

    if name == "digits":
        x, y = datasets.load_digits()
        return Dataset(x, y, "scikit-learn digits")
    # The library's messages name Python arguments (data_dir, cache_dir): say the flags here.
    images, labels = datasets.MNIST_FILES[split]
    if data_dir is not None:
        for name in (images, labels):
            if not (Path(data_dir) / name).is_file():
                raise FileNotFoundError(
                    f"--data-dir {data_dir}: {name} not found; give the folder holding the "
                    f"MNIST {split} files ({images}, {labels}), or leave out --data-dir to "
                    f"download them into {datasets.default_cache_dir()}"
                )
        x, y = datasets.load_mnist(data_dir, split)
    else:
        try:
            x, y = datasets.fetch_mnist(split=split)
        except ConnectionError as err:
            cause = err.__cause__ if err.__cause__ is not None else err
            raise ConnectionError(
                f"could not download MNIST ({getattr(cause, 'reason', cause)}). Download "
                f"{images} and {labels} by hand from {datasets.MNIST_URL} or another MNIST "
                f"mirror into a folder and pass --data-dir DIR, or put them in "
                f"{datasets.default_cache_dir()} (${datasets.DATA_ENV} moves that folder)"
            ) from None
    return Dataset(x, y, f"MNIST {split}")


def synthetic(n: int, seed: int | None) -> Dataset:
    """Clustered synthetic data: ``n`` points in 10-D around 6 centres."""
    from ..datasets import make_clusters

    x, y = make_clusters(n, n_features=10, n_clusters=6, seed=0 if seed is None else seed)
    return Dataset(x, y, f"synthetic clusters ({n} points)")


def _check_output(path: str | None, suffixes: Sequence[str], option: str) -> Path | None:
    """Fail before any long work if an output path cannot be written."""
    if path is None:
        return None
    out = Path(path)
    if out.suffix.lower() not in suffixes:
        raise UsageError(f"{option} {path}: the file name must end in {' or '.join(suffixes)}")
    if out.is_dir():
        raise UsageError(f"{option} {path} is a directory")
    if not out.parent.exists():
        raise FileNotFoundError(f"{option} {path}: folder {out.parent} does not exist")
    return out


def _check_plot(path: str | None) -> Path | None:
    """``--plot``'s path, checked (and its drawing library found) before any long work."""
    out = _check_output(path, PLOT_FILE_SUFFIXES, "--plot")
    if out is not None:
        require_plot_library(out)
    return out


# --------------------------------------------------------------------------------------------
# Commands


class _Console:
    """Status lines on stdout unless ``--quiet``."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    def say(self, message: str) -> None:
        if not self.quiet:
            print(message, flush=True)


def _fit(
    config: UmapConfig,
    data: Dataset,
    console: _Console,
    checkpoints: dict[str, Any] | None = None,
    y: np.ndarray | None = None,
) -> Any:
    """Fit with ``config``; ``checkpoints`` are `Umap.fit`'s checkpoint keywords."""
    from ..umap import Umap

    n, d = data.x.shape
    k = config.n_neighbors
    if n < 2:  # no --n-neighbors helps
        raise ValueError(
            f"{data.source} has {n} row; a k-NN graph needs at least 2 rows (each point's "
            "neighbours are other points)"
        )
    if n < k:
        change = "--n-neighbors 2" if n == 2 else f"--n-neighbors {n} or fewer,"
        raise ValueError(
            f"{data.source} has {n} rows but --n-neighbors {k} (the point itself counted) "
            f"needs at least {k}; pass {change} or at least {k} rows"
        )
    console.say(f"fitting {n} points x {d} features from {data.source} -> {config.n_components}-D")
    start = time.perf_counter()
    fitted = Umap(config).fit(data.x, y, **(checkpoints or {}))
    console.say(f"fitted in {_duration(time.perf_counter() - start)}")
    return fitted


def _duration(seconds: float) -> str:
    """``"4.3 s"``, or milliseconds below a second (a fast transform is not ``"0.00 s"``)."""
    if seconds >= 1.0:
        return f"{seconds:.1f} s"
    ms = seconds * 1e3
    return f"{ms:.2g} ms" if ms < 10 else f"{ms:.0f} ms"


def _embedding_of(fitted: Any) -> np.ndarray:
    return np.asarray(fitted.embedding, dtype=np.float32)  # NumPy already (FittedUmap.embedding)


def _load_data_file(args: argparse.Namespace) -> Dataset:
    return load_table(
        args.data, key=args.key, labels=args.labels, delimiter=args.delimiter, header=args.header
    )


def cmd_fit(args: argparse.Namespace) -> int:
    parser = args.command_parser
    sources = [args.data is not None, args.dataset is not None, args.synthetic is not None]
    if sum(sources) != 1:
        parser.error("give exactly one of DATA, --dataset or --synthetic")
    if args.data_dir is not None and args.dataset != "mnist":
        parser.error("--data-dir only applies to --dataset mnist")
    if args.synthetic is not None and args.synthetic < 2:
        parser.error(f"--synthetic needs at least 2 points, got {args.synthetic}")
    save = Path(args.save)
    if save.is_dir():
        raise UsageError(f"--save {args.save} is a directory")
    if not save.parent.exists():
        raise FileNotFoundError(f"--save {args.save}: folder {save.parent} does not exist")
    emb_path = _check_output(args.embedding, EMBEDDING_SUFFIXES, "--embedding")
    svg_path = _check_plot(args.plot)
    config = args.make_config(args)  # validates every option before the data is read
    resolve_device(config.device)  # fails now, not after loading the data, if it is absent
    if svg_path is not None and config.n_components != 2:
        raise UsageError(f"--plot needs a 2-D embedding, not --n-components {config.n_components}")
    from ..training import distributed

    console = _Console(args.quiet or distributed.rank() != 0)  # under torchrun, rank 0 speaks

    if args.data is not None:
        data = _load_data_file(args)
    elif args.dataset is not None:
        if args.labels is not None or args.key is not None:
            parser.error("--labels and --key apply to a DATA file, not --dataset")
        data = load_builtin(args.dataset, data_dir=args.data_dir, split=args.split)
    else:
        data = synthetic(args.synthetic, args.seed)
    y = _supervision(data, config) if args.supervised else None
    checkpoints = {
        "checkpoint_path": args.checkpoint,
        "checkpoint_every": args.checkpoint_every,
        "resume_from": args.resume_from,
    }
    try:
        fitted = _fit(config, data, console, checkpoints, y)
    except ValueError as err:  # name the flags, not fit's keywords
        if type(err) is not ValueError:
            raise
        message = str(err)
        for keyword, flag in _CHECKPOINT_FLAGS.items():
            message = message.replace(keyword, flag)
        raise ValueError(message) from None

    if distributed.rank() == 0:  # a data-parallel fit's other ranks write nothing
        fitted.save(save, include_embedding=args.include_embedding)
        console.say(f"saved model to {save}")
        _write_outputs(fitted, _embedding_of(fitted), data, emb_path, svg_path, console, args.title)
    distributed.shutdown()
    return EXIT_OK


def _supervision(data: Dataset, config: UmapConfig) -> np.ndarray:
    """The labels as ``fit``'s y (`pumap.graph.supervised.labels_as_target`)."""
    from ..graph.supervised import labels_as_target

    if data.labels is None:
        raise UsageError("--supervised needs labels: pass --labels COL|FILE with a DATA file")
    try:
        return labels_as_target(data.labels, config.target_metric)
    except ValueError as err:
        raise UsageError(str(err)) from None


def _write_outputs(
    fitted: Any,
    embedding: np.ndarray,
    data: Dataset,
    emb_path: Path | None,
    svg_path: Path | None,
    console: _Console,
    title: str | None,
) -> None:
    if emb_path is not None:
        write_embedding(emb_path, embedding, data.labels)
        console.say(f"wrote embedding {embedding.shape} to {emb_path}")
    if svg_path is not None:
        write_plot(svg_path, embedding, data.labels, title or f"pumap: {data.source}")
        console.say(f"wrote plot to {svg_path}")


def cmd_transform(args: argparse.Namespace) -> int:
    from ..model.fitted import FittedUmap

    out = _check_output(args.out, EMBEDDING_SUFFIXES, "--out")
    svg_path = _check_plot(args.plot)
    console = _Console(args.quiet)
    fitted = FittedUmap.load(args.model, device=args.device)
    if args.threads is not None:  # else the thread count the model was fitted with, if any
        try:
            fitted.config = fitted.config.replace(threads=args.threads)
        except ValueError as err:
            raise UsageError(f"--threads: {err}") from None
    if svg_path is not None and fitted.n_components != 2:
        raise UsageError(f"--plot needs a 2-D embedding; this model has {fitted.n_components}-D")
    data = _load_data_file(args)
    n_features = data.x.shape[1]
    if n_features != fitted.n_features:
        hint = " (use --labels to drop a label column)" if n_features > fitted.n_features else ""
        raise ValueError(
            f"{args.data} has {n_features} features but the model {args.model} expects "
            f"{fitted.n_features}{hint}"
        )
    start = time.perf_counter()
    embedding = np.asarray(
        fitted.transform(data.x, refine=args.refine, refine_epochs=args.refine_epochs),
        dtype=np.float32,
    )
    seconds = time.perf_counter() - start
    console.say(f"embedded {embedding.shape[0]} points in {_duration(seconds)} with {args.model}")
    _write_outputs(fitted, embedding, data, out, svg_path, console, args.title)
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    out_dir = Path(args.out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out-dir {args.out_dir} exists and is not a folder")
    config = args.make_config(args, seed=0 if args.seed is None else args.seed)
    resolve_device(config.device)
    console = _Console(args.quiet)
    data = None
    if args.synthetic is None:
        try:
            data = load_builtin("digits", data_dir=None, split="test")
        except ImportError:
            console.say("scikit-learn is not installed: using synthetic clustered data instead")
    if data is None:
        data = synthetic(args.synthetic or DEMO_SYNTHETIC_POINTS, config.seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    fitted = _fit(config, data, console)
    embedding = _embedding_of(fitted)
    csv_path, model_path = out_dir / "pumap-demo.csv", out_dir / "pumap-demo.safetensors"
    plot_lines = []
    for plot_path in (out_dir / "pumap-demo.png", out_dir / "pumap-demo.html"):
        try:
            write_plot(plot_path, embedding, data.labels, f"pumap demo: {data.source}")
            plot_lines.append(str(plot_path))
        except ImportError as err:  # both optional: the CSV and the model still matter
            plot_lines.append(f"none ({err})")
    write_embedding(csv_path, embedding, data.labels)
    fitted.save(model_path)
    # Where the results are is the point of the demo: printed even with --quiet.
    print(f"plot:      {plot_lines[0]}")
    print(f"page:      {plot_lines[1]}")
    print(f"embedding: {csv_path}")
    print(f"model:     {model_path}")
    return EXIT_OK


def cmd_info(args: argparse.Namespace) -> int:
    from ..model.io import detect_format, read_metadata
    from ..model.model_file import config_as_today

    fmt = detect_format(args.model)
    meta = read_metadata(args.model)
    info: dict[str, Any] = {
        "file": str(args.model),
        "format": fmt,
        "kind": meta.get("pumap.format"),
        "format_version": meta.get("pumap.format_version"),
        "library_version": meta.get("pumap.library_version"),
    }
    if meta.get("pumap.format") == "pumap-model":
        losses = [v for v in meta.get("pumap.losses", []) if v is not None]
        info.update(
            n_features=meta.get("pumap.n_features"),
            n_components=meta.get("pumap.n_components"),
            encoder=meta.get("pumap.encoder"),
            decoder=meta.get("pumap.decoder"),
            has_embedding=meta.get("pumap.has_embedding"),
            a=meta.get("pumap.a"),
            b=meta.get("pumap.b"),
            epochs_trained=len(meta.get("pumap.losses", [])),
            world_size=meta.get("pumap.world_size", 1),  # files before it: one process
            final_loss=losses[-1] if losses else None,
            # n_neighbors as the model uses it (files of pumap 0.1 store one less)
            config=config_as_today(meta) if isinstance(meta.get("pumap.config"), dict) else None,
        )
        if (meta.get("pumap.encoder") or {}).get("type") == "mlp":
            from ..model.fitted import FittedUmap

            fitted = FittedUmap.load(args.model, device="cpu")  # checks the tensors too
            info["parameters"] = sum(p.numel() for p in fitted.encoder.parameters())
            if fitted.embedding is not None:
                info["embedding_shape"] = list(np.shape(fitted.embedding))
        info["knn"] = meta.get("pumap.knn")
        index = meta.get("pumap.training_index")
        info["training_index"] = (
            None
            if index is None
            else {
                **index,
                "bytes": _index_bytes(
                    index, meta.get("pumap.n_features", 0), meta.get("pumap.n_components", 0)
                ),
            }
        )
    if args.json:
        print(json.dumps(info, indent=2, sort_keys=True, default=str))
        return EXIT_OK
    for name, value in info.items():
        if name == "config" and isinstance(value, dict):
            print("config:")
            for key in sorted(value):
                print(f"  {key}: {_show(value[key])}")
        else:
            print(f"{name}: {_show(value)}")
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from ..model.fitted import FittedUmap

    FittedUmap.load(args.model, device="cpu").export_onnx(args.out, part=args.part)
    return EXIT_OK


def _index_bytes(index: dict[str, Any], n_features: int, n_components: int) -> int:
    """Bytes of a model file's training-index tensors, from its metadata (4-byte floats)."""
    n, dims = int(index.get("n_samples", 0)), int(index.get("dims", 0))
    axes = dims * n_features if index.get("sketch") else 0
    return 4 * (n * (dims + n_components) + axes + n_features)


def _show(value: Any) -> str:
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.6g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)
