"""The release's version is one number: the package's, the command's, new files' and the
changelog's newest release (issue #22, section 3)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

import pumap
from pumap import Umap
from pumap.cli import main
from pumap.model.io import read_metadata

ROOT = Path(__file__).resolve().parents[1]


def test_the_changelogs_newest_release_is_the_packages_version() -> None:
    text = (ROOT / "CHANGELOG.md").read_text()
    releases = re.findall(r"^## (\d+\.\d+\.\d+)\b", text, re.MULTILINE)
    assert releases and releases[0] == pumap.__version__ == "0.2.0"
    assert "## Unreleased" in text.split(f"## {releases[0]}")[0]  # the place for what comes next


def test_the_command_and_new_model_files_say_the_version(capsys, tmp_path) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"pumap {pumap.__version__}"
    x = np.random.default_rng(0).normal(size=(60, 4)).astype(np.float32)
    fitted = Umap(n_neighbors=5, n_epochs=1, hidden_layers=(8,), seed=0, verbose=False).fit(x)
    for name in ("m.safetensors", "m.gguf"):
        fitted.save(tmp_path / name)
        assert read_metadata(tmp_path / name)["pumap.library_version"] == "0.2.0"
