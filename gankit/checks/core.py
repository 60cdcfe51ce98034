"""What every check shares: the failure, the lesson check, and a student's function called safely.

An exercise check calls the student's function on inputs with a known answer and, when
the answer is wrong, says which mistake it looks like (a sign, a swapped argument, a sum
instead of a mean, ...) instead of only "wrong". A lesson check (:func:`lesson_check`)
makes a notebook run fail, with an explanation, when the result the lesson teaches did
not happen — so a green CI run means the lesson works.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch

from gankit._i18n import tr

__all__ = ["CheckFailed", "tr", "lesson_check", "not_written", "prediction_written", "student_number", "run_student", "call_loss", "diagnose"]


class CheckFailed(AssertionError):
    """A check did not pass; the message says what was expected and what to try."""


def lesson_check(condition: bool, passed: str, failed: str, /, **values: Any) -> None:
    """Print ``✓ passed`` when ``condition`` holds; otherwise raise CheckFailed(failed).

    ``passed`` and ``failed`` are ``str.format`` templates filled in with ``values``, translated
    first when the lesson runs in another language (:mod:`gankit._i18n`)::

        checks.lesson_check(err < 0.08, "D matches D* (mean error {err:.3f}).",
                            "D is far from D* (mean error {err:.3f}, expected < 0.08).", err=err)
    """
    if not bool(condition):
        raise CheckFailed(tr("✗ Lesson check failed: {failed}", failed=tr(failed, **values)))
    print(tr("✓ {passed}", passed=tr(passed, **values)))


def not_written(name: str) -> CheckFailed:
    """The failure for an exercise still holding its stub."""
    return CheckFailed(tr("{name} is not written yet: replace the `raise NotImplementedError` with your code.", name=name))


def prediction_written(**predictions: Any) -> None:
    """Stop a "predict, then measure" cell before it measures anything while a prediction
    still holds its stub (``...``) or ``None``: the measurement would show the answer.
    Called first in each such cell, as ``checks.prediction_written(predicted_x=predicted_x)``."""
    missing = [name for name, value in predictions.items() if value is Ellipsis or value is None]
    if missing:
        names = ", ".join(missing)
        if len(missing) == 1:
            raise CheckFailed(tr("{names} is not written yet: write your prediction (replace the `...`) before this "
                                 "cell measures the answer.", names=names))
        raise CheckFailed(tr("{names} are not written yet: write your predictions (replace the `...`) before this "
                             "cell measures the answer.", names=names))


def student_number(value: object, name: str, infinite_hint: str = "") -> float:
    """A student's numeric answer (a prediction, a chosen setting) as a float: the stub's
    ``...`` (or None) is "not written yet"; a one-element tensor is taken as its number; a
    non-number or an infinite one gets a CheckFailed naming ``name`` (and ``infinite_hint``)."""
    if value is Ellipsis or value is None:
        raise not_written(name)
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CheckFailed(tr("{name} should be a number, got {kind}: {value!r}.", name=name,
                                kind=type(value).__name__, value=value))
    if not math.isfinite(value):
        message = tr("{name} should be a finite number, got {value}.", name=name, value=value)
        raise CheckFailed(tr("{message} {hint}", message=message, hint=infinite_hint) if infinite_hint else message)
    return float(value)


def run_student(fn: Callable, name: str, *args: Any) -> Any:
    """``fn(*args)`` — a student's function — with its stub or its crash turned into a
    CheckFailed that names ``name``."""
    try:
        return fn(*args)
    except NotImplementedError:
        raise not_written(name) from None
    except Exception as exc:
        raise CheckFailed(tr("{name} raised {error}: {exc}", name=name, error=exc.__class__.__name__, exc=exc)) from exc


def call_loss(fn: Callable, *args: torch.Tensor, name: str) -> float:
    """A student's loss function called on ``args``: its value as a float, or a CheckFailed that
    says why it is not a differentiable scalar loss."""
    out = run_student(fn, name, *args)
    if not isinstance(out, torch.Tensor):
        raise CheckFailed(tr("{name} should return a torch tensor (a scalar loss), got {kind}.", name=name,
                                kind=type(out).__name__))
    if out.numel() != 1:
        raise CheckFailed(tr("{name} should return one number (average over the batch with .mean()), got a tensor "
                             "of shape {shape}.", name=name, shape=tuple(out.shape)))
    if not out.requires_grad and any(a.requires_grad for a in args):
        raise CheckFailed(tr("{name}'s result does not depend on its inputs through autograd: keep to torch "
                             "operations (no .item(), .numpy() or .detach()), or the loss cannot train anything.",
                             name=name))
    return float(out.detach())


def diagnose(got: float, alternatives: dict[str, float], fallback: str) -> str:
    """The hint of the first known mistake whose value matches ``got``, else ``fallback``."""
    for hint, value in alternatives.items():
        if math.isclose(got, value, rel_tol=1e-4, abs_tol=1e-5):
            return hint
    return fallback
