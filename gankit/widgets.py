"""Interactive explorers (ipywidgets) built on :mod:`gankit.viz`.

Each function returns a widget to display as a cell's last expression. The figure is a
plain ``matplotlib.figure.Figure`` redrawn in place when a control moves, so it is shown
once (no duplicate inline plot) and tests can read what it shows.
"""

from __future__ import annotations

from typing import Sequence

import ipywidgets as widgets
import torch
from IPython.display import display
from matplotlib.figure import Figure

from gankit import viz

__all__ = ["snapshot_explorer"]


def snapshot_explorer(snapshots: Sequence[dict], real: torch.Tensor | None = None, size: float = 4.5) -> widgets.VBox:
    """A slider over training snapshots (from ``train_gan(..., snapshot_every=N)``):
    move it to replay where the generator's points were and what D believed at each step.

    The returned box has ``.slider`` and ``.figure`` attributes.
    """
    if not snapshots:
        raise ValueError("No snapshots to explore: train with GANTrainConfig(snapshot_every=N) first.")
    steps = [snap["step"] for snap in snapshots]
    slider = widgets.SelectionSlider(
        options=[(str(step), i) for i, step in enumerate(steps)],
        value=len(steps) - 1,
        description="step",
        continuous_update=True,
        layout=widgets.Layout(width="60%"),
    )
    fig = Figure(figsize=(size, size), dpi=80)
    ax = fig.add_subplot()
    out = widgets.Output()

    def draw(change=None) -> None:
        ax.clear()
        viz.plot_snapshot(snapshots[slider.value], real, ax)
        ax.set_title(f"step {steps[slider.value]} of {steps[-1]}")
        fig.tight_layout()
        with out:
            out.clear_output(wait=True)
            display(fig)

    slider.observe(draw, names="value")
    draw()
    box = widgets.VBox([slider, out])
    box.slider, box.figure = slider, fig
    return box
