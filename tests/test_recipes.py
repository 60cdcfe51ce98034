"""gankit train and the recipes behind data/checkpoints/: every bundled checkpoint has a
recipe, loads, is listed in data/README.md with its sha256, and one small recipe is
reproduced from its command with figures within tolerance of the bundled file's."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gankit.tools import cli
from gankit.recipes import REPO_ROOT, checkpoint_path, find_recipes, get_recipe
from gankit.models import load_checkpoint, read_checkpoint

CHECKPOINTS = REPO_ROOT / "data" / "checkpoints"
README = (REPO_ROOT / "data" / "README.md").read_text(encoding="utf-8")
RECIPES = find_recipes()


def test_every_recipe_declares_what_it_does():
    assert RECIPES, "no recipes found"
    for name, recipe in RECIPES.items():
        assert recipe.NAME == name == recipe.__name__.rsplit(".", 1)[1]
        assert recipe.DEFAULT_OUT == f"data/checkpoints/{name}.pt"
        assert recipe.DESCRIPTION and isinstance(recipe.PARAMS, dict)


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_bundled_checkpoint_loads_and_is_documented(name):
    path = checkpoint_path(name)
    assert path.exists(), f"{path} is missing: run `gankit train {name}` and commit the file"
    payload = read_checkpoint(path)
    assert payload["metadata"].get("recipe") == name, "the checkpoint should say which recipe wrote it"
    load_checkpoint(path)  # rebuilds the model from its config
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest in README, f"data/README.md should list {path.name} with sha256 {digest}"
    assert f"gankit train {name}" in README, f"data/README.md should give the command for {path.name}"
    assert path.stat().st_size < 8 * 2**20, f"{path.name} is {path.stat().st_size / 2**20:.1f} MB; keep checkpoints small"


def test_every_checkpoint_file_has_a_recipe():
    files = {p.stem for p in CHECKPOINTS.glob("*.pt")}
    assert files <= set(RECIPES), f"checkpoints without a recipe: {sorted(files - set(RECIPES))}"


def test_unknown_recipe_lists_the_known_ones(capsys):
    assert cli.main(["train", "no_such_model"]) == 2
    err = capsys.readouterr().err
    assert "no recipe called 'no_such_model'" in err
    assert all(name in err for name in RECIPES)
    with pytest.raises(KeyError, match="known recipes"):
        get_recipe("no_such_model")


def test_unknown_parameter_is_refused_before_training(capsys):
    assert cli.main(["train", next(iter(RECIPES)), "-p", "stepz", "10"]) == 2
    assert "has no parameter stepz" in capsys.readouterr().err


def test_train_list(capsys):
    assert cli.main(["train", "--list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in RECIPES)


# The quickest recipe, and the figure compared (with its tolerance) when it is run again.
REPRODUCED, FIGURE, TOLERANCE = "vae_digits", "test_nelbo", 1.0


def test_recipe_reproduces_its_bundled_checkpoint(tmp_path):
    """`gankit train <recipe>` run again from the command line gives a model whose figures
    match the bundled file's within tolerance (CPU kernels and torch versions differ in the
    last bits, so the bytes may not)."""
    out = tmp_path / f"{REPRODUCED}.pt"
    result = subprocess.run([sys.executable, "-m", "gankit", "train", REPRODUCED, "--out", str(out), "--quiet"],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(rf"{FIGURE}: [0-9.]+", result.stdout)
    bundled = read_checkpoint(checkpoint_path(REPRODUCED))["metadata"]["figures"]
    again = read_checkpoint(out)["metadata"]["figures"]
    assert again[FIGURE] == pytest.approx(bundled[FIGURE], abs=TOLERANCE)
