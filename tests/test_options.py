"""One option table: UmapConfig's field metadata generates the CLI flags and the estimator."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from pumap import UmapConfig
from pumap.cli.parser import UsageError, _config_from, build_parser, main
from pumap.config import option_table


def _fit_parser():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sub.choices["fit"]


def test_every_option_has_a_flag_except_verbose() -> None:
    fit = _fit_parser()
    dests = {a.dest: a for a in fit._actions}
    for f, info in option_table():
        if f.name == "verbose":
            assert info.cli is None  # -q / --quiet says it
            continue
        assert f.name in dests, f"pumap fit has no flag for {f.name}"
        assert info.cli in dests[f.name].option_strings


def test_flags_build_the_config() -> None:
    fit = _fit_parser()
    args = fit.parse_args([
        "--synthetic", "100", "--save", "m.safetensors", "--epochs", "7",
        "--negative-sample-rate", "3", "--refine-sketch-dims", "none", "--hidden-layers",
        "8,4", "--no-pca-init", "--metric", "cosine", "--input-dropout", "0.25", "--seed", "5",
    ])
    config = _config_from(args)
    assert config == UmapConfig(
        n_epochs=7, negative_sample_rate=3, refine_sketch_dims=None, hidden_layers=(8, 4),
        pca_init=False, metric="cosine", input_dropout=0.25, seed=5, verbose=True,
    )
    default = _config_from(fit.parse_args(["--synthetic", "100", "--save", "m.safetensors"]))
    assert default == UmapConfig()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--epochs", "0"], "--epochs: n_epochs must be >= 1"),
        (["--input-dropout", "1.5"], "--input-dropout: input_dropout must be below 1"),
        (["--refine-sketch-dims", "0"], "--refine-sketch-dims: refine_sketch_dims must be >= 1"),
    ],
)
def test_out_of_range_values_name_the_flag(flags, message) -> None:
    args = _fit_parser().parse_args(["--synthetic", "100", "--save", "m.safetensors", *flags])
    with pytest.raises(UsageError, match=message):
        _config_from(args)


def test_unparseable_none_word_is_a_usage_error(capsys) -> None:
    assert main(["fit", "--synthetic", "50", "--save", "m.safetensors",
                 "--refine-sketch-dims", "all"]) == 2
    assert "expected int or 'none', got 'all'" in capsys.readouterr().err


def test_estimator_takes_every_option_under_its_name() -> None:
    pytest.importorskip("sklearn")
    from pumap import ParametricUMAP

    params = inspect.signature(ParametricUMAP.__init__).parameters
    for _, info in option_table():
        assert info.estimator_name in params, f"ParametricUMAP lacks {info.estimator_name}"
    est = ParametricUMAP(negative_sample_rate=3, input_dropout=0.2, refine_sketch_dims=None,
                         random_state=4, threads=1)
    config = est._build_config(100)
    assert (config.negative_sample_rate, config.input_dropout, config.refine_sketch_dims,
            config.seed, config.threads) == (3, 0.2, None, 4, 1)


def test_checkpoint_flags_reach_fit(tmp_path) -> None:
    data = tmp_path / "x.npy"
    np.save(data, np.random.default_rng(0).normal(size=(200, 5)).astype(np.float32))
    ckpt = tmp_path / "state.safetensors"
    assert main(["fit", str(data), "--epochs", "4", "--seed", "0", "--checkpoint", str(ckpt),
                 "--checkpoint-every", "2", "--save", str(tmp_path / "a.safetensors"), "-q"]) == 0
    assert ckpt.exists()
    assert main(["fit", str(data), "--epochs", "4", "--seed", "0", "--resume-from", str(ckpt),
                 "--save", str(tmp_path / "b.safetensors"), "-q"]) == 0
    assert (tmp_path / "a.safetensors").read_bytes() == (tmp_path / "b.safetensors").read_bytes()


def test_checkpoint_flag_errors_name_the_flags(tmp_path, capsys) -> None:
    data = tmp_path / "x.npy"
    np.save(data, np.random.default_rng(0).normal(size=(60, 3)).astype(np.float32))
    code = main(["fit", str(data), "--epochs", "2", "--checkpoint-every", "2",
                 "--save", str(tmp_path / "m.safetensors"), "-q"])
    assert code != 0
    err = capsys.readouterr().err
    assert "--checkpoint-every" in err and "checkpoint_every" not in err


def test_cli_reference_lists_every_flag() -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "cli.md").read_text()
    for _, info in option_table():
        if info.cli is not None:
            assert f"`{info.cli}" in text, f"docs/cli.md does not list {info.cli}"
