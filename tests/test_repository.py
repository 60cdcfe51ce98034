"""The repository itself: notebooks stored clean, the two dependency lists in step, and
smoke tests of the figures."""

from __future__ import annotations

import json
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

import yaml  # noqa: E402

from gankit import viz  # noqa: E402
from gankit.models import MLPDiscriminator, MLPDiscriminatorConfig, MLPGenerator, MLPGeneratorConfig  # noqa: E402
from gankit.train import History  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# --------------------------------------------------------------------------- notebooks


def _notebooks_or_skip() -> list[Path]:
    if not NOTEBOOKS:
        pytest.skip("no notebooks in notebooks/ yet")
    return NOTEBOOKS


def test_notebooks_are_stored_without_outputs():
    dirty = []
    for path in _notebooks_or_skip():
        nb = json.loads(path.read_text(encoding="utf-8"))
        for i, cell in enumerate(nb["cells"]):
            if cell["cell_type"] != "code":
                continue
            if cell.get("outputs") != [] or cell.get("execution_count") is not None:
                dirty.append(f"{path.name} cell {i}")
    assert not dirty, "notebooks saved with outputs or execution counts (clear them): " + ", ".join(dirty)


def test_every_notebook_has_one_parameters_cell():
    wrong = {}
    for path in _notebooks_or_skip():
        nb = json.loads(path.read_text(encoding="utf-8"))
        n = sum("parameters" in cell.get("metadata", {}).get("tags", []) for cell in nb["cells"])
        if n != 1:
            wrong[path.name] = n
    assert not wrong, f"notebooks without exactly one cell tagged 'parameters' (name: count): {wrong}"


# --------------------------------------------------------------------------- dependencies

_REQ = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(?:\[[^\]]*\])?\s*(?:>=\s*([^,;\s]+))?")
_CONDA_TO_PIP = {"pytorch": "torch"}


def _parse(spec: str) -> tuple[str, str | None]:
    match = _REQ.match(spec)
    assert match, f"cannot parse requirement {spec!r}"
    name = match.group(1).lower().replace("_", "-")
    return _CONDA_TO_PIP.get(name, name), match.group(2)


def _pyproject_requirements() -> set[tuple[str, str | None]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    specs = list(project["dependencies"]) + list(project.get("optional-dependencies", {}).get("dev", []))
    return {_parse(s) for s in specs}


def _environment_requirements() -> set[tuple[str, str | None]]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    found = set()
    for entry in env["dependencies"]:
        if not isinstance(entry, str):  # the pip: sub-list
            continue
        name, bound = _parse(entry)
        if name in ("python", "pip"):
            continue
        found.add((name, bound))
    return found


def test_requirement_parser():
    assert _parse("torch>=2.2") == ("torch", "2.2")
    assert _parse("pytorch>=2.2") == ("torch", "2.2")
    assert _parse("pip") == ("pip", None)
    assert _parse("nbval >= 0.11") == ("nbval", "0.11")


def test_environment_yml_and_pyproject_agree():
    pip, conda = _pyproject_requirements(), _environment_requirements()
    assert ("torch", "2.6") in pip  # the parse found something real
    only_pip = sorted(pip - conda, key=str)
    only_conda = sorted(conda - pip, key=str)
    assert not only_pip and not only_conda, (
        "pyproject.toml (dependencies + dev extra) and environment.yml differ:\n"
        f"  only in pyproject.toml:  {only_pip}\n"
        f"  only in environment.yml: {only_conda}"
    )


def test_environment_yml_installs_gankit_itself():
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    pip_lists = [e["pip"] for e in env["dependencies"] if isinstance(e, dict) and "pip" in e]
    assert pip_lists and any(item.endswith("-e .") for item in pip_lists[0])


# --------------------------------------------------------------------------- viz


@pytest.fixture
def tiny_d():
    torch.manual_seed(0)
    return MLPDiscriminator(MLPDiscriminatorConfig(hidden_dim=8, n_hidden=1))


def test_plot_2d_with_discriminator(tiny_d):
    real = torch.randn(50, 2)
    fake = torch.randn(40, 2) + 1
    tiny_d.train()
    ax = viz.plot_2d(real, fake, discriminator=tiny_d)
    assert ax.get_xlabel() and ax.get_ylabel()
    assert ax.get_title() == "Real and generated points"
    assert len(ax.collections) == 2  # two scatters
    assert len(ax.images) == 1  # D's heatmap
    assert tiny_d.training  # put back in train mode
    xmin, xmax = ax.get_xlim()
    assert xmin <= float(real[:, 0].min()) and xmax >= float(fake[:, 0].max())


def test_plot_2d_on_a_given_ax_with_bounds():
    _, ax = plt.subplots()
    out = viz.plot_2d(real=torch.zeros(5, 2), ax=ax, bounds=(-1, 1, -2, 2), title="t")
    assert out is ax
    assert ax.get_xlim() == (-1, 1) and ax.get_ylim() == (-2, 2)


def test_discriminator_grid_shape_and_range(tiny_d):
    grid = viz.discriminator_grid(tiny_d, (-1, 1, -1, 1), resolution=7)
    assert grid.shape == (7, 7)
    assert ((grid >= 0) & (grid <= 1)).all()


def test_plot_losses():
    h = History(step=list(range(1, 41)), extras={"d_loss": [1.0] * 40, "g_loss": [0.5] * 40, "d_real": [0.5] * 40,
                                                 "d_fake": [0.5] * 40})
    ax = viz.plot_losses(h, smooth=10)
    assert ax.get_xlabel() and ax.get_ylabel()
    lines = ax.get_lines()
    assert len(lines) == 2
    assert len(lines[0].get_xdata()) == 40 - 10 + 1
    ax = viz.plot_losses(History(step=[1, 2], extras={"d_loss": [1.0, 0.9], "g_loss": [0.7, 0.8]}))  # shorter than the window
    assert len(ax.get_lines()[0].get_xdata()) == 2


def test_plot_losses_empty_history():
    with pytest.raises(ValueError):
        viz.plot_losses(History())


def test_image_grid():
    grid = viz.image_grid(torch.rand(6, 1, 28, 28))
    assert grid.shape == (3, 28 + 2 * 2, 6 * (28 + 2) + 2)  # make_grid: 3 channels, one row of 6
    assert grid.min() >= 0 and grid.max() <= 1
    grid = viz.image_grid(torch.rand(10, 1, 28, 28), nrow=5)
    assert grid.shape[1:] == (2 * 30 + 2, 5 * 30 + 2)


def test_image_grid_wrong_shape():
    with pytest.raises(ValueError):
        viz.image_grid(torch.rand(6, 28, 28))


def test_show_images():
    ax = viz.show_images(torch.rand(4, 1, 28, 28), nrow=2)
    assert len(ax.images) == 1


def test_plot_snapshots(tiny_d):
    torch.manual_seed(0)
    G = MLPGenerator(MLPGeneratorConfig(hidden_dim=8, n_hidden=1))
    snap = viz.heatmap_snapshot((-3, 3, -3, 3), n=20, resolution=5)
    snapshots = [snap(G, tiny_d, step) for step in (0, 10, 20)]
    assert torch.equal(snapshots[0]["samples"], snapshots[1]["samples"])  # same fixed noise
    fig = viz.plot_snapshots(snapshots, real=torch.randn(30, 2), ncols=2)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[:3] == ["step 0", "step 10", "step 20"]
    # a snapshot without bounds (the default snapshot_fn of train_gan)
    viz.plot_snapshots([{"step": 0, "samples": torch.randn(10, 2)}])


def test_plot_snapshots_empty():
    with pytest.raises(ValueError, match="snapshot"):
        viz.plot_snapshots([])


def test_snapshot_explorer_redraws_when_the_slider_moves():
    from gankit import widgets

    snaps = [
        {"step": s, "samples": torch.randn(50, 2) * (s + 1), "d_grid": torch.rand(10, 10), "bounds": (-3, 3, -3, 3)}
        for s in (0, 100, 200)
    ]
    box = widgets.snapshot_explorer(snaps)
    ax = box.figure.axes[0]
    assert ax.get_title() == "step 200 of 200"  # starts at the end of training
    before = ax.collections[-1].get_offsets().copy()
    box.slider.value = 0
    assert ax.get_title() == "step 0 of 200"
    assert not np.allclose(before, ax.collections[-1].get_offsets())
    with pytest.raises(ValueError, match="snapshot_every"):
        widgets.snapshot_explorer([])
