"""Friendly checks: for a student's exercise, and for what a lesson must have shown.

* :mod:`~gankit.checks.core` — :class:`CheckFailed`, :func:`lesson_check` and the helpers
  every check uses;
* one module per family of exercises: :mod:`~gankit.checks.gan` (lessons 01, 04),
  :mod:`~gankit.checks.vae` (06, 07), :mod:`~gankit.checks.lm` (08–10),
  :mod:`~gankit.checks.evaluation` (11);
* :mod:`~gankit.checks.gan_debugging` — lesson 05's debugging kit: each exercise's check
  and the small GAN it runs on.

A lesson writes ``checks.lesson_check(...)`` or ``checks.check_generator_loss(fn)``: every
check is also here.
"""

from gankit.checks.core import CheckFailed, lesson_check, not_written, run_student
from gankit.checks.evaluation import check_precision_recall
from gankit.checks.gan import (
    check_discriminator_loss,
    check_generator_loss,
    check_gradient_penalty,
    check_one_hot_concat,
    check_transposed_conv_size,
)
from gankit.checks.lm import check_causal_attention, check_freeze_top, check_top_p
from gankit.checks.vae import check_negative_elbo, check_style_transfer

__all__ = [
    "CheckFailed",
    "lesson_check",
    "not_written",
    "run_student",
    "check_discriminator_loss",
    "check_generator_loss",
    "check_gradient_penalty",
    "check_transposed_conv_size",
    "check_one_hot_concat",
    "check_causal_attention",
    "check_top_p",
    "check_freeze_top",
    "check_negative_elbo",
    "check_style_transfer",
    "check_precision_recall",
]
