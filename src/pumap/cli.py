"""The ``pumap`` command: fit, transform, inspect and demo from a shell.

``pumap fit`` trains a model on a CSV / NPY / NPZ file or a built-in data set and saves it;
``pumap transform`` embeds new data with a saved model; ``pumap info`` describes a model file;
``pumap demo`` fits on built-in data offline and writes a PNG plot and a CSV. docs/cli.md is
the reference.

A user's mistake (a missing file, an unknown column, data that does not match the model, a
corrupt model file) ends the command with one ``pumap: error: ...`` line on stderr and exit
status 1; a malformed command line gives exit status 2. No traceback is shown for either.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from ._version import __version__
from .config import KNN_METHODS, KNN_PRECISIONS, METRICS, UmapConfig
from .device import resolve_device
from .tables import Dataset, load_table, write_embedding

PROG = "pumap"
EXIT_OK, EXIT_RUNTIME, EXIT_USAGE = 0, 1, 2
EMBEDDING_SUFFIXES = (".csv", ".npy")
DEMO_SYNTHETIC_POINTS = 3000
_DEFAULTS = UmapConfig()


class UsageError(Exception):
    """A command line that parsed but does not make sense (exit status 2)."""


class _Parser(argparse.ArgumentParser):
    """argparse with pumap's one-line error format: ``pumap: error: ...``, exit status 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


# --------------------------------------------------------------------------------------------
# Data loading


def load_builtin(name: str, *, data_dir: str | None, split: str) -> Dataset:
    """A built-in data set: ``digits`` (scikit-learn) or ``mnist`` (from ``data_dir``)."""
    from . import datasets

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
    from .datasets import make_clusters

    x, y = make_clusters(n, n_features=10, n_clusters=6, seed=0 if seed is None else seed)
    return Dataset(x, y, f"synthetic clusters ({n} points)")


# --------------------------------------------------------------------------------------------
# Writing results


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


def write_plot(path: Path, embedding: np.ndarray, labels: np.ndarray | None, title: str) -> None:
    """A scatter plot through `pumap.plot.save_points`; the suffix picks PNG, SVG or PDF."""
    from .plot import save_points

    save_points(path, np.asarray(embedding), labels, title=title)


def _check_plot(path: str | None) -> Path | None:
    """``--plot``'s path, checked (and matplotlib found) before any long work."""
    from .plot import PLOT_SUFFIXES, require_matplotlib

    out = _check_output(path, PLOT_SUFFIXES, "--plot")
    if out is not None:
        try:
            require_matplotlib()
        except ImportError as err:
            raise ImportError(f"--plot {path}: {err}") from None
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


def _config_from(args: argparse.Namespace, **overrides: Any) -> UmapConfig:
    options: dict[str, Any] = {
        "n_neighbors": args.n_neighbors,
        "n_components": args.n_components,
        "metric": args.metric,
        "min_dist": args.min_dist,
        "spread": args.spread,
        "n_epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "hidden_layers": args.hidden_layers,
        "input_dropout": args.input_dropout,
        "standardize": args.standardize,
        "pca_init": args.pca_init,
        "keep_training_data": args.keep_training_data,
        "refine_sketch_dims": args.refine_sketch_dims,
        "knn_method": args.knn_method,
        "knn_precision": args.knn_precision,
        "mixed_precision": args.mixed_precision,
        "compile": args.compile,
        "seed": args.seed,
        "device": args.device,
        "threads": args.threads,
    }
    options = {k: v for k, v in options.items() if v is not None}
    if options.get("refine_sketch_dims") == _NO_SKETCH:
        options["refine_sketch_dims"] = None
    options.update(overrides)
    options["verbose"] = not args.quiet
    try:
        return UmapConfig(**options)
    except ValueError as err:  # an out-of-range option value is a usage error
        flag = str(err).split(" ", 1)[0]
        option = {"n_epochs": "epochs"}.get(flag, flag).replace("_", "-")
        raise UsageError(f"--{option}: {err}") from None


def _fit(config: UmapConfig, data: Dataset, console: _Console) -> Any:
    from .umap import Umap

    n, d = data.x.shape
    k = config.n_neighbors
    if n < 2:  # no --n-neighbors helps
        raise ValueError(
            f"{data.source} has {n} row; a k-NN graph needs at least 2 rows (each point's "
            "neighbours are other points)"
        )
    if n <= k:
        change = "--n-neighbors 1" if n == 2 else f"--n-neighbors {n - 1} or fewer,"
        raise ValueError(
            f"{data.source} has {n} rows but --n-neighbors {k} needs at least {k + 1}; "
            f"pass {change} or at least {k + 1} rows"
        )
    console.say(f"fitting {n} points x {d} features from {data.source} -> {config.n_components}-D")
    start = time.perf_counter()
    fitted = Umap(config).fit(data.x)
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
    config = _config_from(args)  # validates every option before the data is read
    resolve_device(config.device)  # fails now, not after loading the data, if it is absent
    if svg_path is not None and config.n_components != 2:
        raise UsageError(f"--plot needs a 2-D embedding, not --n-components {config.n_components}")
    console = _Console(args.quiet)

    if args.data is not None:
        data = _load_data_file(args)
    elif args.dataset is not None:
        if args.labels is not None or args.key is not None:
            parser.error("--labels and --key apply to a DATA file, not --dataset")
        data = load_builtin(args.dataset, data_dir=args.data_dir, split=args.split)
    else:
        data = synthetic(args.synthetic, args.seed)
    fitted = _fit(config, data, console)

    fitted.save(save, include_embedding=args.include_embedding)
    console.say(f"saved model to {save}")
    _write_outputs(fitted, _embedding_of(fitted), data, emb_path, svg_path, console, args.title)
    return EXIT_OK


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
    from .fitted import FittedUmap

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


def cmd_info(args: argparse.Namespace) -> int:
    from .io import detect_format, read_metadata

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
            has_embedding=meta.get("pumap.has_embedding"),
            a=meta.get("pumap.a"),
            b=meta.get("pumap.b"),
            epochs_trained=len(meta.get("pumap.losses", [])),
            final_loss=losses[-1] if losses else None,
            config=meta.get("pumap.config"),
        )
        if (meta.get("pumap.encoder") or {}).get("type") == "mlp":
            from .fitted import FittedUmap

            fitted = FittedUmap.load(args.model, device="cpu")  # checks the tensors too
            info["parameters"] = sum(p.numel() for p in fitted.encoder.parameters())
            if fitted.embedding is not None:
                info["embedding_shape"] = list(np.shape(fitted.embedding))
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


def cmd_demo(args: argparse.Namespace) -> int:
    out_dir = Path(args.out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out-dir {args.out_dir} exists and is not a folder")
    config = _config_from(args, seed=0 if args.seed is None else args.seed)
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
    plot_path, csv_path = out_dir / "pumap-demo.png", out_dir / "pumap-demo.csv"
    model_path = out_dir / "pumap-demo.safetensors"
    try:
        write_plot(plot_path, embedding, data.labels, f"pumap demo: {data.source}")
        plot_line = str(plot_path)
    except ImportError as err:  # matplotlib is optional: the CSV and the model still matter
        plot_line = f"none ({err})"
    write_embedding(csv_path, embedding, data.labels)
    fitted.save(model_path)
    # Where the results are is the point of the demo: printed even with --quiet.
    print(f"plot:      {plot_line}")
    print(f"embedding: {csv_path}")
    print(f"model:     {model_path}")
    return EXIT_OK


# --------------------------------------------------------------------------------------------
# Argument parsing


def _hidden_layers(text: str) -> tuple[int, ...]:
    try:
        widths = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected widths like 256,256, got {text!r}") from None
    if not widths or min(widths) < 1:
        raise argparse.ArgumentTypeError(f"expected positive widths like 256,256, got {text!r}")
    return widths


_NO_SKETCH = "none"  # --refine-sketch-dims none: keep the training rows themselves


def _optional_int(text: str) -> int | str:
    if text.strip().lower() == _NO_SKETCH:
        return _NO_SKETCH
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer or 'none', got {text!r}") from None


def _delimiter(text: str) -> str:
    named = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "space": " "}
    value = named.get(text, text)
    if len(value) != 1:
        raise argparse.ArgumentTypeError(f"expected one character (or tab, comma), got {text!r}")
    return value


def _add_model_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model options (defaults: pumap.UmapConfig)")
    d = _DEFAULTS
    g.add_argument("--n-neighbors", type=int, metavar="K",
                   help=f"neighbours per point, the point itself not counted (umap-learn's "
                        f"n_neighbors minus 1; default {d.n_neighbors})")
    g.add_argument("--n-components", type=int, metavar="D",
                   help=f"embedding dimension (default {d.n_components})")
    g.add_argument("--metric", choices=METRICS, help=f"input distance (default {d.metric})")
    g.add_argument("--min-dist", type=float, help=f"default {d.min_dist}")
    g.add_argument("--spread", type=float, help=f"default {d.spread}")
    g.add_argument("--epochs", type=int, metavar="N",
                   help="training epochs (default: auto (about 300 steps))")
    g.add_argument("--batch-size", type=int, metavar="B",
                   help=f"positive edges per step (default {d.batch_size})")
    g.add_argument("--learning-rate", type=float, metavar="LR",
                   help=f"Adam learning rate (default {d.learning_rate:g})")
    g.add_argument("--hidden-layers", type=_hidden_layers, metavar="W,W",
                   help=f"encoder widths (default {','.join(map(str, d.hidden_layers))})")
    g.add_argument("--input-dropout", type=float, metavar="P",
                   help="zero each input value with probability P in each training step "
                        f"(default {d.input_dropout})")
    g.add_argument("--standardize", action=argparse.BooleanOptionalAction, default=None,
                   help=f"z-score features for the encoder (default {d.standardize})")
    g.add_argument("--pca-init", action=argparse.BooleanOptionalAction, default=None,
                   help=f"warm-start on PCA (default {d.pca_init})")
    g.add_argument("--keep-training-data", action=argparse.BooleanOptionalAction, default=None,
                   help="keep a sketch of the training data in the model, for 'pumap "
                        f"transform --refine' (default {d.keep_training_data})")
    g.add_argument("--refine-sketch-dims", type=_optional_int, metavar="S|none",
                   help="dimensions of that sketch; 'none' keeps the rows themselves "
                        f"(default {d.refine_sketch_dims})")
    g.add_argument("--knn-method", choices=KNN_METHODS, help=f"default {d.knn_method}")
    g.add_argument("--knn-precision", choices=KNN_PRECISIONS,
                   help=f"exact k-NN block products (default {d.knn_precision})")
    g.add_argument("--mixed-precision", action=argparse.BooleanOptionalAction, default=None,
                   help=f"bfloat16 autocast while training (default {d.mixed_precision})")
    g.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                   help=f"torch.compile the training step (default {d.compile})")
    g.add_argument("--seed", type=int, help="random seed (default: fresh each run; demo: 0)")
    g.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps (default auto)")
    g.add_argument("--threads", type=int, metavar="N",
                   help="torch CPU threads for the fit and transforms (default: torch's, one "
                        "per core); on a busy machine, one per free core")


def _add_data_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data file options")
    g.add_argument("--labels", metavar="COL|FILE",
                   help="labels: a CSV column (name or 0-based index; removed from the "
                        "features), an .npz array name, or a file of one label per line / .npy")
    g.add_argument("--key", help="array of an .npz file (default: its first array)")
    g.add_argument("--delimiter", type=_delimiter,
                   help="CSV field separator (default: detected; 'tab' for tabs)")
    g.add_argument("--header", action=argparse.BooleanOptionalAction, default=None,
                   help="whether the CSV's first row is column names (default: detected)")


def build_parser() -> argparse.ArgumentParser:
    """The ``pumap`` argument parser with its four subcommands."""
    common = _Parser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true",
                        help="no progress bars or status lines")
    parser = _Parser(
        prog=PROG,
        description="Parametric UMAP: fit an encoder, embed new data, inspect model files.",
        epilog="Run 'pumap demo' for a first look; 'pumap COMMAND --help' for details.",
    )
    parser.add_argument("--version", action="version", version=f"pumap {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    fit = sub.add_parser("fit", parents=[common], help="fit a model and save it",
                         description="Fit a model on DATA (or a built-in set) and save it.")
    fit.add_argument("data", nargs="?", metavar="DATA",
                     help="a .csv (header or not), .npy or .npz file")
    fit.add_argument("--dataset", choices=("digits", "mnist"),
                     help="built-in data: digits (needs scikit-learn) or mnist")
    fit.add_argument("--data-dir", metavar="DIR",
                     help="folder with MNIST's .gz files (default: download to the cache)")
    fit.add_argument("--split", choices=("test", "train"), default="test",
                     help="MNIST split (default test)")
    fit.add_argument("--synthetic", type=int, metavar="N", help="N clustered synthetic points")
    _add_data_options(fit)
    _add_model_options(fit)
    out = fit.add_argument_group("outputs")
    out.add_argument("--save", required=True, metavar="MODEL",
                     help="model file: .safetensors, or .gguf for GGUF")
    out.add_argument("--include-embedding", action="store_true",
                     help="also store the training embedding in the model file")
    out.add_argument("--embedding", metavar="OUT", help="write the embedding to a .csv or .npy")
    out.add_argument("--plot", "--svg", dest="plot", metavar="OUT",
                     help="write a scatter plot: .png, .svg or .pdf (2-D only; needs matplotlib)")
    out.add_argument("--title", help="title of the plot")
    fit.set_defaults(handler=cmd_fit, command_parser=fit)

    tr = sub.add_parser("transform", parents=[common], help="embed data with a saved model",
                        description="Embed DATA with the model saved in MODEL.")
    tr.add_argument("model", metavar="MODEL", help="a model file written by 'pumap fit'")
    tr.add_argument("data", metavar="DATA", help="a .csv, .npy or .npz file")
    tr.add_argument("--out", required=True, metavar="OUT", help="embedding file: .csv or .npy")
    tr.add_argument("--plot", "--svg", dest="plot", metavar="OUT",
                    help="also write a scatter plot: .png, .svg or .pdf (2-D only)")
    tr.add_argument("--title", help="title of the plot")
    tr.add_argument("--device", default="auto", help="where to run the encoder (default auto)")
    tr.add_argument("--refine", action="store_true",
                    help="refine each point against the training embedding after the forward "
                         "pass (better placement, slower; the model must keep its training "
                         "data)")
    tr.add_argument("--refine-epochs", type=int, metavar="N",
                    help="epochs of that refinement (default 30)")
    tr.add_argument("--threads", type=int, metavar="N",
                    help="torch CPU threads (default: the model's --threads, else torch's)")
    _add_data_options(tr)
    tr.set_defaults(handler=cmd_transform, command_parser=tr)

    info = sub.add_parser("info", help="describe a model file",
                          description="Print a model file's format, shapes and options.")
    info.add_argument("model", metavar="MODEL")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(handler=cmd_info, command_parser=info)

    demo = sub.add_parser(
        "demo", parents=[common], help="fit on built-in data and write a plot",
        description="Fit on scikit-learn's digits (or synthetic clusters without scikit-learn), "
                    "offline, and write pumap-demo.png (with matplotlib), pumap-demo.csv and "
                    "pumap-demo.safetensors into --out-dir.",
    )
    demo.add_argument("--out-dir", default="pumap-demo", metavar="DIR",
                      help="output folder, created if needed (default ./pumap-demo)")
    demo.add_argument("--synthetic", type=int, metavar="N", nargs="?",
                      const=DEMO_SYNTHETIC_POINTS,
                      help=f"use N synthetic clustered points (default {DEMO_SYNTHETIC_POINTS})")
    _add_model_options(demo)
    demo.set_defaults(handler=cmd_demo, command_parser=demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``pumap`` command line; returns the exit status.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name; by default ``sys.argv[1:]``.
    """
    from .io import ModelFormatError
    from .trainer import TrainingDiverged

    parser = build_parser()
    try:
        try:
            args = parser.parse_args(argv)
        except SystemExit as stop:  # --help and --version
            return int(stop.code or 0)
        if args.command is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        return int(args.handler(args))
    except UsageError as err:
        return _fail(str(err), EXIT_USAGE)
    except ModelFormatError as err:
        return _fail(f"{err.path} is not a usable pumap model: {err.problem}", EXIT_RUNTIME)
    except TrainingDiverged as err:
        return _fail(f"training diverged: {err}; try a lower --learning-rate", EXIT_RUNTIME)
    except (ValueError, ImportError) as err:
        return _fail(str(err), EXIT_RUNTIME)
    except OSError as err:
        return _fail(_os_message(err), EXIT_RUNTIME)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)


def _os_message(err: OSError) -> str:
    if err.filename is not None and err.strerror:
        return f"{err.filename}: {err.strerror}"
    return str(err)


def _fail(message: str, status: int) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
