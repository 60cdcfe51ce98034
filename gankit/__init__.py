"""gankit — the helper package of a Jupyter teaching kit for generative models.

The lessons in ``notebooks/`` teach; this package holds what they share:

* :mod:`gankit.data`    — offline datasets (toy 2-D mixtures, the bundled MNIST subset, your own)
* :mod:`gankit.text`    — name lists and text files as character tokens (language models)
* :mod:`gankit.models`  — models built from config dataclasses
* :mod:`gankit.train`   — explicit training loops returning a history
* :mod:`gankit.metrics` — measures of generated samples
* :mod:`gankit.viz`     — matplotlib figures
* :mod:`gankit.checks`  — friendly checks for exercises and lesson results
* :mod:`gankit.utils`   — device, seeding, parameter counts, checkpoints

and, for instructors, :mod:`gankit.tools.runner` (``gankit run``: lessons headless, with
parameters) and :mod:`gankit.tools.student` (``gankit student``: solutions replaced by stubs).
"""

__version__ = "0.1.0"

from gankit.report import report  # noqa: E402  (needs __version__ above)

__all__ = ["__version__", "report"]
