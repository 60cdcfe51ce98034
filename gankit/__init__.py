"""gankit — the helper package of a Jupyter teaching kit for generative models.

The lessons in ``notebooks/`` teach; this package holds what they share, in layers whose
imports only point down (DESIGN.md; ``tests/test_import_rules.py`` enforces them):

* :mod:`gankit.utils`, :mod:`gankit.data`, :mod:`gankit.text` — device, seeding; offline
  datasets (toy 2-D mixtures, the bundled MNIST subset, name lists, your own)
* :mod:`gankit.models` — every network, built from a config dataclass; checkpoints
* :mod:`gankit.train` — one training core and the loops on it, each returning a history
* :mod:`gankit.metrics` — measures of generated samples, one home per measure
* :mod:`gankit.viz`, :mod:`gankit.widgets` — matplotlib figures, interactive explorers
* :mod:`gankit.checks` — friendly checks for exercises and lesson results
* :mod:`gankit.recipes` — the runs behind the bundled checkpoints (``gankit train``)

and, for people rather than lessons, :mod:`gankit.tools`: the ``gankit`` command, running
lessons headless with parameters (``gankit run``), student versions (``gankit student``)
and benchmarks (``make bench``).
"""

__version__ = "0.1.0"

from gankit.report import report  # noqa: E402  (needs __version__ above)

__all__ = ["__version__", "report"]
