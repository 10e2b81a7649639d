"""The ``pumap`` command: fit, transform, inspect and demo from a shell.

``pumap fit`` trains a model on a CSV / NPY / NPZ file or a built-in data set and saves it;
``pumap transform`` embeds new data with a saved model; ``pumap info`` describes a model file;
``pumap demo`` fits on built-in data offline and writes a PNG plot, an interactive page and a
CSV. docs/cli.md is
the reference.

A user's mistake (a missing file, an unknown column, data that does not match the model, a
corrupt model file) ends the command with one ``pumap: error: ...`` line on stderr and exit
status 1; a malformed command line gives exit status 2. No traceback is shown for either.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from .._version import __version__
from ..config import UmapConfig, option_table
from .commands import (
    DEMO_SYNTHETIC_POINTS,
    EXIT_RUNTIME,
    EXIT_USAGE,
    UsageError,
    cmd_demo,
    cmd_export,
    cmd_fit,
    cmd_info,
    cmd_transform,
)

PROG = "pumap"
_NONE = object()  # a flag's none_word was given: the option is None, not left out


class _Parser(argparse.ArgumentParser):
    """argparse with pumap's one-line error format: ``pumap: error: ...``, exit status 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


# --------------------------------------------------------------------------------------------
# Options to UmapConfig (the commands are in pumap.cli.commands)


def _config_from(args: argparse.Namespace, **overrides: Any) -> UmapConfig:
    """The `UmapConfig` of the given flags (the others keep its defaults)."""
    options: dict[str, Any] = {}
    for f, info in option_table():
        value = getattr(args, f.name, None) if info.cli is not None else None
        if value is not None:
            options[f.name] = None if value is _NONE else value
    options.update(overrides)
    options["verbose"] = not args.quiet
    try:
        return UmapConfig(**options)
    except ValueError as err:  # an out-of-range option value is a usage error
        field_name = str(err).split(" ", 1)[0]
        flags = {f.name: info.cli for f, info in option_table() if info.cli is not None}
        raise UsageError(f"{flags.get(field_name, '--' + field_name)}: {err}") from None


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


def _delimiter(text: str) -> str:
    named = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "space": " "}
    value = named.get(text, text)
    if len(value) != 1:
        raise argparse.ArgumentTypeError(f"expected one character (or tab, comma), got {text!r}")
    return value


def _add_model_options(p: argparse.ArgumentParser) -> None:
    """One flag per `UmapConfig` option that has one, generated from `config.option_table`."""
    g = p.add_argument_group("model options (defaults: pumap.UmapConfig)")
    for f, info in option_table():
        if info.cli is None:
            continue
        shown = info.default_text or _default_text(f.default)
        kwargs: dict[str, Any] = {"dest": f.name, "help": f"{info.help} (default: {shown})"}
        if f.type in ("bool", "bool | None"):
            kwargs.update(action=argparse.BooleanOptionalAction, default=None)
        elif info.choices is not None:
            kwargs["choices"] = info.choices
        else:
            kwargs["type"] = _flag_type(f.name, str(f.type), info.none_word)
            kwargs["metavar"] = info.metavar
        g.add_argument(info.cli, **kwargs)


def _default_text(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _flag_type(name: str, annotation: str, none_word: str | None) -> Any:
    """The argparse ``type`` of a flag, from its field's annotation."""
    if annotation.startswith("tuple"):
        return _hidden_layers
    scalar = {"int": int, "float": float, "str": str}[annotation.split(" |")[0]]
    if none_word is None:
        return scalar

    def parse(text: str) -> Any:
        if text.strip().lower() == none_word:
            return _NONE
        try:
            return scalar(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {annotation.split(' |')[0]} or {none_word!r}, got {text!r}"
            ) from None

    parse.__name__ = name
    return parse


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
    fit.add_argument("--supervised", action="store_true",
                     help="fit with the labels as y (see --target-metric, --target-weight); "
                          "-1 marks an unlabelled point")
    _add_data_options(fit)
    _add_model_options(fit)
    ck = fit.add_argument_group("checkpoints (resume an interrupted fit)")
    ck.add_argument("--checkpoint", metavar="FILE",
                    help="write the training state to FILE as training goes (atomically)")
    ck.add_argument("--checkpoint-every", type=int, metavar="N",
                    help="epochs between checkpoints (default: 1)")
    ck.add_argument("--resume-from", metavar="FILE",
                    help="continue the fit saved in FILE (same data and options); it may be "
                         "the --checkpoint file")
    out = fit.add_argument_group("outputs")
    out.add_argument("--save", required=True, metavar="MODEL",
                     help="model file: .safetensors, or .gguf for GGUF")
    out.add_argument("--include-embedding", action="store_true",
                     help="also store the training embedding in the model file")
    out.add_argument("--embedding", metavar="OUT", help="write the embedding to a .csv or .npy")
    out.add_argument("--plot", "--svg", dest="plot", metavar="OUT",
                     help="write a scatter plot: .png, .svg or .pdf (matplotlib), or .html, an "
                          "interactive page (plotly); 2-D only")
    out.add_argument("--title", help="title of the plot")
    fit.set_defaults(handler=cmd_fit, command_parser=fit, make_config=_config_from)

    tr = sub.add_parser("transform", parents=[common], help="embed data with a saved model",
                        description="Embed DATA with the model saved in MODEL.")
    tr.add_argument("model", metavar="MODEL", help="a model file written by 'pumap fit'")
    tr.add_argument("data", metavar="DATA", help="a .csv, .npy or .npz file")
    tr.add_argument("--out", required=True, metavar="OUT", help="embedding file: .csv or .npy")
    tr.add_argument("--plot", "--svg", dest="plot", metavar="OUT",
                    help="also write a scatter plot: .png, .svg, .pdf or .html (interactive); "
                         "2-D only")
    tr.add_argument("--title", help="title of the plot")
    tr.add_argument("--device", default="auto", help="where to run the encoder (default auto)")
    tr.add_argument("--refine", action="store_true",
                    help="refine each point against the training embedding after the forward "
                         "pass (better placement, slower; the model must keep its training "
                         "data)")
    tr.add_argument("--refine-epochs", type=int, metavar="N",
                    help="epochs of that refinement (default: 100 up to 10,000 points, "
                         "else 30)")
    tr.add_argument("--threads", type=int, metavar="N",
                    help="torch CPU threads (default: the model's --threads, else torch's)")
    _add_data_options(tr)
    tr.set_defaults(handler=cmd_transform, command_parser=tr)

    info = sub.add_parser("info", help="describe a model file",
                          description="Print a model file's format, shapes and options.")
    info.add_argument("model", metavar="MODEL")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(handler=cmd_info, command_parser=info)

    ex = sub.add_parser("export", help="write a model's encoder (or decoder) as ONNX",
                        description="Write the encoder of MODEL, standardisation included, to "
                                    "an ONNX file (needs pip install 'pumap[onnx]').")
    ex.add_argument("model", metavar="MODEL")
    ex.add_argument("out", metavar="OUT", help="the .onnx file to write")
    ex.add_argument("--part", choices=("encoder", "decoder"), default="encoder",
                    help="encoder: features -> embedding (default); decoder: the reverse")
    ex.set_defaults(handler=cmd_export, command_parser=ex)

    demo = sub.add_parser(
        "demo", parents=[common], help="fit on built-in data and write a plot",
        description="Fit on scikit-learn's digits (or synthetic clusters without scikit-learn), "
                    "offline, and write pumap-demo.png (with matplotlib), pumap-demo.html "
                    "(an interactive page, with plotly), pumap-demo.csv and "
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
    from ..model.io import ModelFormatError
    from ..training.trainer import TrainingDiverged

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
    except BrokenPipeError:  # the reader left (`pumap info model | head`): not an error
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except OSError as err:
        return _fail(_os_message(err), EXIT_RUNTIME)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)


# What a shell reports for a command ended by SIGPIPE (128 + 13), as for `ls | head`.
EXIT_BROKEN_PIPE = 141


def _silence_stdout() -> None:
    """Point standard output at the null device, so that Python's flush at exit does not fail
    a second time on the closed pipe."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # replaced by a test or an embedding app
        return
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, fd)
    os.close(null)


def _os_message(err: OSError) -> str:
    if err.filename is not None and err.strerror:
        return f"{err.filename}: {err.strerror}"
    return str(err)


def _fail(message: str, status: int) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
