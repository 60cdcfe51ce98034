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
from gankit.utils import eval_mode

__all__ = ["snapshot_explorer", "latent_explorer", "sampling_panel", "digit_picker",
           "style_transfer_explorer", "vae_explorer"]


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
    ``judge`` (:func:`gankit.metrics.load_judge`) is given.

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
        with eval_mode(generator):  # batch norm with its running statistics: one image at a time is fine
            device = next(generator.parameters()).device
            image = to_image(generator(current_z().to(device)).cpu())  # (1, C, H, W) in [0, 1]
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
    sample_fn: Callable[..., list[str]], n: int = 12, max_top_k: int = 27, seed: int = 0,
    controls: Sequence[str] = (),
) -> widgets.VBox:
    """Sliders for temperature, top-k and top-p, and a button that draws new samples.

    ``sample_fn(n, temperature=..., top_k=..., top_p=..., generator=...)`` returns n texts,
    for example ``partial(gankit.text.sample_texts, model, vocab)``. A top-k of 0 and a
    top-p of 1 mean "no cut"; temperature 0 is greedy. Every change redraws the samples
    (from a fresh generator seeded with ``seed`` and a draw counter, so a setting can be
    compared with the last one on equal terms). The box has ``.temperature``, ``.top_k``,
    ``.top_p``, ``.button`` and ``.samples`` (an HTML widget with the texts).

    With ``controls`` (a vocabulary's control labels, e.g. ``vocab.controls``) a drop-down
    ``.control`` picks the condition — none, or one label — passed on as ``control=``.
    """
    style = {"description_width": "90px"}
    temperature = widgets.FloatSlider(value=1.0, min=0.0, max=2.0, step=0.05, description="temperature", style=style)
    top_k = widgets.IntSlider(value=0, min=0, max=max_top_k, description="top-k (0: off)", style=style)
    top_p = widgets.FloatSlider(value=1.0, min=0.05, max=1.0, step=0.05, description="top-p", style=style)
    button = widgets.Button(description="new samples")
    samples = widgets.HTML()
    draws = {"n": 0}
    control = widgets.Dropdown(options=[("none (.)", None)] + [(f"<{c}>", c) for c in controls],
                               value=None, description="condition", style=style)

    def redraw(*_):
        gen = torch.Generator().manual_seed(seed + draws["n"])
        extra = {"control": control.value} if controls else {}
        texts = sample_fn(n, temperature=temperature.value, top_k=top_k.value or None,
                          top_p=top_p.value if top_p.value < 1 else None, generator=gen, **extra)
        samples.value = "<pre>" + "\n".join(texts) + "</pre>"

    def new_draw(_):
        draws["n"] += 1
        redraw()

    for setting in (temperature, top_k, top_p, control):
        setting.observe(redraw, names="value")
    button.on_click(new_draw)
    redraw()
    settings = [temperature, top_k, top_p] + ([control] if controls else [])
    box = widgets.VBox([widgets.HBox([widgets.VBox(settings), button]), samples])
    box.temperature, box.top_k, box.top_p, box.button, box.samples = temperature, top_k, top_p, button, samples
    box.control = control
    return box


def digit_picker(
    generator: torch.nn.Module,
    n: int = 8,
    judge: torch.nn.Module | None = None,
    to_image: Callable[[torch.Tensor], torch.Tensor] | None = None,
    max_seed: int = 99,
    size: float = 1.3,
) -> widgets.VBox:
    """Ask a conditional generator for a digit: a ``digit`` slider picks the label y, a
    ``seed`` slider picks ``n`` noise vectors z, and the row G(z, y) is redrawn. Moving only
    the digit keeps the noise, so the same "styles" are drawn as another digit. With a
    ``judge`` (:func:`gankit.metrics.load_judge`) each image is titled with the digit the
    judge sees, and the readout says how often it agrees with the one asked for.

    ``generator`` answers ``decode(z, labels)`` (eval mode, CPU result) and ``sample_noise``,
    like :class:`gankit.models.cgan.ConditionalGenerator`; ``to_image`` maps its output to
    [0, 1] (default: ``(x + 1) / 2`` for a tanh generator). The returned box has ``.slider``
    (the digit), ``.sliders`` (digit and seed), ``.readout`` (an HTML line), ``.figure``
    and ``.images()`` (the images shown, (n, C, H, W) in [0, 1]).
    """
    if to_image is None:
        def to_image(x: torch.Tensor) -> torch.Tensor:
            return ((x + 1) / 2).clamp(0, 1)
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}.")
    n_classes = generator.config.n_classes
    style = {"description_width": "initial"}
    digit = widgets.IntSlider(value=0, min=0, max=n_classes - 1, description="digit", continuous_update=True,
                              layout=widgets.Layout(width="50%"), style=style)
    seed = widgets.IntSlider(value=0, min=0, max=max_seed, description="noise seed", continuous_update=True,
                             layout=widgets.Layout(width="50%"), style=style)
    readout = widgets.HTML()
    fig = Figure(figsize=(size * n, size * 1.25), dpi=80)
    axes = fig.subplots(1, n, squeeze=False)[0]
    out = widgets.Output()
    shown: dict[str, torch.Tensor] = {}

    def draw(change=None) -> None:
        z = generator.sample_noise(n, device="cpu", generator=torch.Generator().manual_seed(seed.value))  # (n, latent_dim)
        images = to_image(generator.decode(z, torch.full((n,), digit.value)))  # (n, C, H, W) in [0, 1]
        shown["images"] = images
        seen = judge.predict_proba(images).argmax(dim=1) if judge is not None else None
        for i, ax in enumerate(axes):
            ax.clear()
            if images.shape[1] == 1:
                ax.imshow(images[i, 0].numpy(), cmap="gray", vmin=0, vmax=1)
            else:
                ax.imshow(images[i].permute(1, 2, 0).numpy())
            if seen is not None:
                ax.set_title(f"judge: {int(seen[i])}", fontsize=9, color="black" if seen[i] == digit.value else "red")
            ax.axis("off")
        fig.suptitle(f"G(z, y = {digit.value}) for {n} noise vectors of seed {seed.value}", fontsize=10)
        fig.tight_layout()
        text = f"asked for <b>{digit.value}</b>, noise seed {seed.value}"
        if seen is not None:
            text += f": the judge agrees on {int((seen == digit.value).sum())} of {n}"
        readout.value = text
        with out:
            out.clear_output(wait=True)
            display(fig)

    for slider in (digit, seed):
        slider.observe(draw, names="value")
    draw()
    box = widgets.VBox([digit, seed, readout, out])
    box.slider, box.sliders, box.readout, box.figure = digit, [digit, seed], readout, fig
    box.images = lambda: shown["images"]
    return box


def style_transfer_explorer(
    model: torch.nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    judge: torch.nn.Module | None = None,
    size: float = 2.6,
) -> widgets.VBox:
    """Style transfer with a conditional VAE, by hand: a ``source`` slider picks one of
    ``images`` (with its label), a row of buttons picks the ``target`` digit, and the panels
    show the source, its reconstruction (decoded with its own label) and the transfer (the
    same code z = μ(x, y) decoded with the target label). With a ``judge``
    (:func:`gankit.metrics.load_judge`) the transfer is titled with the digit the judge sees.

    ``model`` answers ``reconstruct(x, y)``, ``style_transfer(x, y_source, y_target)`` and
    has ``config.n_classes``, like :class:`gankit.models.ConditionalVAE`. The returned box
    has ``.source`` (the slider), ``.target`` (the buttons), ``.readout`` (an HTML line),
    ``.figure`` and ``.images()`` (source, reconstruction, transfer: (3, C, H, W)).
    """
    if len(images) == 0 or len(images) != len(labels):
        raise ValueError(f"Give one label per image and at least one image; got {len(images)} images and "
                         f"{len(labels)} labels.")
    n_classes = model.config.n_classes
    source = widgets.IntSlider(value=0, min=0, max=len(images) - 1, description="source image",
                               continuous_update=True, layout=widgets.Layout(width="60%"),
                               style={"description_width": "initial"})
    target = widgets.ToggleButtons(options=list(range(n_classes)), value=(int(labels[0]) + 1) % n_classes,
                                   description="target digit", style={"button_width": "32px", "description_width": "initial"})
    readout = widgets.HTML()
    fig = Figure(figsize=(size * 3, size * 1.15), dpi=80)
    axes = fig.subplots(1, 3)
    out = widgets.Output()
    shown: dict[str, torch.Tensor] = {}

    def draw(change=None) -> None:
        x, y = images[source.value:source.value + 1], labels[source.value:source.value + 1].long()  # (1, C, H, W), (1,)
        t = torch.tensor([target.value])
        panels = torch.cat([x.cpu(), model.reconstruct(x, y), model.style_transfer(x, y, t)])  # (3, C, H, W)
        shown["images"] = panels
        titles = [f"source: a {int(y)}", f"reconstruction (y = {int(y)})", f"same z, y = {target.value}"]
        text = f"source image {source.value} (a {int(y)}) written as a <b>{target.value}</b>"
        if judge is not None:
            probs = judge.predict_proba(panels[2:3])[0]
            seen = int(probs.argmax())
            titles[2] += f"\njudge: {seen} (p = {float(probs.max()):.2f})"
            text += (": the judge agrees" if seen == target.value else f": the judge sees a {seen}")
        for ax, image, title in zip(axes, panels, titles):
            ax.clear()
            if image.shape[0] == 1:
                ax.imshow(image[0].numpy(), cmap="gray", vmin=0, vmax=1)
            else:
                ax.imshow(image.permute(1, 2, 0).numpy())
            ax.set_title(title, fontsize=10)
            ax.axis("off")
        fig.tight_layout()
        readout.value = text
        with out:
            out.clear_output(wait=True)
            display(fig)

    source.observe(draw, names="value")
    target.observe(draw, names="value")
    draw()
    box = widgets.VBox([source, target, readout, out])
    box.source, box.target, box.readout, box.figure = source, target, readout, fig
    box.images = lambda: shown["images"]
    return box


def vae_explorer(
    model: torch.nn.Module,
    images: torch.Tensor,
    n_dims: int = 4,
    size: float = 3.0,
) -> widgets.VBox:
    """Move through a VAE's latent space: a ``start`` slider picks one of ``images`` and
    sets the code sliders to its mean code μ(x); each of the first ``n_dims`` latent
    dimensions has a slider in [-3, 3] (the prior's ±3σ). The decoded image E[x|z] is
    redrawn next to the start image whenever a slider moves.

    ``model`` answers ``encode``, ``decode_image`` and has ``config.latent_dim``, like
    :class:`gankit.models.VAE`. The returned box has ``.start``, ``.sliders`` (the code
    sliders), ``.figure`` and ``.z()`` (the current code, (1, latent_dim)).
    """
    if len(images) == 0:
        raise ValueError("Give at least one image to start from.")
    latent_dim = model.config.latent_dim
    n_dims = min(n_dims, latent_dim)
    layout, style = widgets.Layout(width="60%"), {"description_width": "initial"}
    start = widgets.IntSlider(value=0, min=0, max=len(images) - 1, description="start image",
                              continuous_update=False, layout=layout, style=style)
    sliders = [widgets.FloatSlider(value=0.0, min=-3.0, max=3.0, step=0.1, description=f"z{i + 1}",
                                   continuous_update=True, layout=layout, style=style) for i in range(n_dims)]
    fig = Figure(figsize=(size * 2, size), dpi=80)
    axes = fig.subplots(1, 2)
    out = widgets.Output()
    state: dict[str, torch.Tensor] = {}

    def current_z() -> torch.Tensor:
        z = state["base"].clone()
        for i, slider in enumerate(sliders):
            z[0, i] = slider.value
        return z

    def draw(change=None) -> None:
        image = model.decode_image(current_z())  # (1, C, H, W) in [0, 1]
        source = images[start.value].cpu()
        for ax, shown, title in ((axes[0], source, f"start image {start.value}"), (axes[1], image[0], "decoded E[x|z]")):
            ax.clear()
            ax.imshow(shown[0].numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_title(title, fontsize=10)
            ax.axis("off")
        fig.tight_layout()
        with out:
            out.clear_output(wait=True)
            display(fig)

    def restart(change=None) -> None:
        with eval_mode(model), torch.no_grad():
            mu, _ = model.encode(images[start.value:start.value + 1].to(next(model.parameters()).device))
        state["base"] = mu.cpu()
        for i, slider in enumerate(sliders):  # move the sliders to the image's code without redrawing each time
            slider.unobserve(draw, names="value")
            slider.value = round(max(-3.0, min(3.0, float(mu[0, i]))), 1)
            slider.observe(draw, names="value")
        draw()

    start.observe(restart, names="value")
    for slider in sliders:
        slider.observe(draw, names="value")
    restart()
    box = widgets.VBox([start, *sliders, out])
    box.start, box.sliders, box.figure, box.z = start, sliders, fig, current_z
    return box
