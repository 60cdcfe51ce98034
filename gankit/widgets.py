"""Interactive explorers (ipywidgets) built on :mod:`gankit.viz`.

Each function returns a widget to display as a cell's last expression. The figure is a
plain ``matplotlib.figure.Figure`` redrawn in place when a control moves, so it is shown
once (no duplicate inline plot) and tests can read what it shows.
"""

from __future__ import annotations

from typing import Callable, Sequence

import ipywidgets as widgets
import torch
from IPython.display import display
from matplotlib.figure import Figure

from gankit import viz

__all__ = ["snapshot_explorer", "latent_explorer", "sampling_panel"]


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


def latent_explorer(
    generator: torch.nn.Module,
    seeds: tuple[int, int] = (0, 1),
    n_directions: int = 3,
    to_image: Callable[[torch.Tensor], torch.Tensor] | None = None,
    judge: torch.nn.Module | None = None,
    size: float = 3.5,
) -> widgets.VBox:
    """Walk an image generator's latent space: a slider ``t`` moves z along the straight
    line from the noise of ``seeds[0]`` (t = 0) to that of ``seeds[1]`` (t = 1), and
    ``n_directions`` sliders add fixed random unit directions to it (each in [-3, 3]).
    The image G(z) is redrawn at every move, with the judge's verdict in the title when a
    ``judge`` (:func:`gankit.judge.load_judge`) is given.

    ``to_image`` maps G's output to [0, 1] (default: ``(x + 1) / 2`` for a tanh generator).
    The returned box has ``.slider`` (the t slider), ``.sliders`` (all of them), ``.figure``
    and ``.z()`` (the current noise vector).
    """
    if to_image is None:
        def to_image(x: torch.Tensor) -> torch.Tensor:
            return ((x + 1) / 2).clamp(0, 1)
    if n_directions < 0:
        raise ValueError(f"n_directions must be >= 0, got {n_directions}.")
    z_a = generator.sample_noise(1, device="cpu", generator=torch.Generator().manual_seed(seeds[0]))  # (1, latent_dim)
    z_b = generator.sample_noise(1, device="cpu", generator=torch.Generator().manual_seed(seeds[1]))
    directions = torch.randn(n_directions, z_a.shape[1], generator=torch.Generator().manual_seed(seeds[0] + 12345))
    directions = directions / directions.norm(dim=1, keepdim=True)  # (n_directions, latent_dim), unit length

    layout = widgets.Layout(width="60%")
    t_slider = widgets.FloatSlider(value=0.0, min=0.0, max=1.0, step=0.05, description=f"seed {seeds[0]}→{seeds[1]}",
                                   continuous_update=True, layout=layout, style={"description_width": "initial"})
    dir_sliders = [widgets.FloatSlider(value=0.0, min=-3.0, max=3.0, step=0.25, description=f"direction {i + 1}",
                                       continuous_update=True, layout=layout, style={"description_width": "initial"})
                   for i in range(n_directions)]
    fig = Figure(figsize=(size, size), dpi=80)
    ax = fig.add_subplot()
    out = widgets.Output()

    def current_z() -> torch.Tensor:
        t = t_slider.value
        z = (1 - t) * z_a + t * z_b  # (1, latent_dim): a straight line between the two seeds
        for slider, direction in zip(dir_sliders, directions):
            z = z + slider.value * direction
        return z

    @torch.no_grad()
    def draw(change=None) -> None:
        was_training = generator.training
        generator.eval()  # batch norm with its running statistics: one image at a time is fine
        device = next(generator.parameters()).device
        image = to_image(generator(current_z().to(device)).cpu())  # (1, C, H, W) in [0, 1]
        generator.train(was_training)
        ax.clear()
        if image.shape[1] == 1:
            ax.imshow(image[0, 0].numpy(), cmap="gray", vmin=0, vmax=1)
        else:
            ax.imshow(image[0].permute(1, 2, 0).numpy())
        title = f"t = {t_slider.value:.2f}"
        if judge is not None:
            probs = judge.predict_proba(image)[0]
            title += f"   judge: {int(probs.argmax())} (p = {float(probs.max()):.2f})"
        ax.set_title(title)
        ax.axis("off")
        fig.tight_layout()
        with out:
            out.clear_output(wait=True)
            display(fig)

    for slider in [t_slider, *dir_sliders]:
        slider.observe(draw, names="value")
    draw()
    box = widgets.VBox([t_slider, *dir_sliders, out])
    box.slider, box.sliders, box.figure, box.z = t_slider, [t_slider, *dir_sliders], fig, current_z
    return box


def sampling_panel(
    sample_fn: Callable[..., list[str]], n: int = 12, max_top_k: int = 27, seed: int = 0
) -> widgets.VBox:
    """Sliders for temperature, top-k and top-p, and a button that draws new samples.

    ``sample_fn(n, temperature=..., top_k=..., top_p=..., generator=...)`` returns n texts,
    for example ``partial(gankit.text.sample_texts, model, vocab)``. A top-k of 0 and a
    top-p of 1 mean "no cut"; temperature 0 is greedy. Every change redraws the samples
    (from a fresh generator seeded with ``seed`` and a draw counter, so a setting can be
    compared with the last one on equal terms). The box has ``.temperature``, ``.top_k``,
    ``.top_p``, ``.button`` and ``.samples`` (an HTML widget with the texts).
    """
    style = {"description_width": "90px"}
    temperature = widgets.FloatSlider(value=1.0, min=0.0, max=2.0, step=0.05, description="temperature", style=style)
    top_k = widgets.IntSlider(value=0, min=0, max=max_top_k, description="top-k (0: off)", style=style)
    top_p = widgets.FloatSlider(value=1.0, min=0.05, max=1.0, step=0.05, description="top-p", style=style)
    button = widgets.Button(description="new samples")
    samples = widgets.HTML()
    draws = {"n": 0}

    def redraw(*_):
        gen = torch.Generator().manual_seed(seed + draws["n"])
        texts = sample_fn(n, temperature=temperature.value, top_k=top_k.value or None,
                          top_p=top_p.value if top_p.value < 1 else None, generator=gen)
        samples.value = "<pre>" + "\n".join(texts) + "</pre>"

    def new_draw(_):
        draws["n"] += 1
        redraw()

    for control in (temperature, top_k, top_p):
        control.observe(redraw, names="value")
    button.on_click(new_draw)
    redraw()
    box = widgets.VBox([widgets.HBox([widgets.VBox([temperature, top_k, top_p]), button]), samples])
    box.temperature, box.top_k, box.top_p, box.button, box.samples = temperature, top_k, top_p, button, samples
    return box
