"""Friendly checks: for a student's exercise, and for what a lesson must have shown.

* :mod:`~gankit.checks.core` — :class:`CheckFailed`, :func:`lesson_check` and the helpers
  every check uses;
* one module per family of exercises: :mod:`~gankit.checks.gan` (lessons 01, 02),
  :mod:`~gankit.checks.gan_variants` (03, 04), :mod:`~gankit.checks.vae` (06, 07),
  :mod:`~gankit.checks.lm` (08), :mod:`~gankit.checks.gpt` (09, 10),
  :mod:`~gankit.checks.finetune` (09, 10: LoRA, beam search, BPE),
  :mod:`~gankit.checks.evaluation` (11), :mod:`~gankit.checks.diffusion` (12) and
  :mod:`~gankit.checks.serving` (14);
* :mod:`~gankit.checks.gan_debugging` — lesson 05's debugging kit: each exercise's check
  and the small GAN it runs on (used as ``checks.gan_debugging.X``).

A lesson writes ``checks.lesson_check(...)`` or ``checks.check_generator_loss(fn)``: every
name in a family module's ``__all__`` is also here.
"""

from gankit.checks import diffusion, evaluation, finetune, gan, gan_variants, gpt, lm, serving, vae
from gankit.checks.core import CheckFailed, lesson_check, not_written, prediction_written, run_student
from gankit.checks.diffusion import *  # noqa: F401,F403
from gankit.checks.evaluation import *  # noqa: F401,F403
from gankit.checks.finetune import *  # noqa: F401,F403
from gankit.checks.gan import *  # noqa: F401,F403
from gankit.checks.gan_variants import *  # noqa: F401,F403
from gankit.checks.gpt import *  # noqa: F401,F403
from gankit.checks.lm import *  # noqa: F401,F403
from gankit.checks.serving import *  # noqa: F401,F403
from gankit.checks.vae import *  # noqa: F401,F403

_FAMILIES = (gan, gan_variants, vae, lm, gpt, finetune, evaluation, diffusion, serving)

__all__ = ["CheckFailed", "lesson_check", "not_written", "prediction_written", "run_student"] + [
    name for module in _FAMILIES for name in module.__all__
]
