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
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from ._version import __version__
from .commands import (
    DEMO_SYNTHETIC_POINTS,
    EXIT_RUNTIME,
    EXIT_USAGE,
    UsageError,
    cmd_demo,
    cmd_fit,
    cmd_info,
    cmd_transform,
)
from .config import KNN_METHODS, KNN_PRECISIONS, METRICS, UmapConfig

PROG = "pumap"
_DEFAULTS = UmapConfig()


class _Parser(argparse.ArgumentParser):
    """argparse with pumap's one-line error format: ``pumap: error: ...``, exit status 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


# --------------------------------------------------------------------------------------------
# Options to UmapConfig (the commands are in pumap.commands)


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
    fit.set_defaults(handler=cmd_fit, command_parser=fit, make_config=_config_from)

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
    demo.set_defaults(handler=cmd_demo, command_parser=demo, make_config=_config_from)
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
