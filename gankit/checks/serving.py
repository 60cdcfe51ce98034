"""Exercise checks of lesson 14 (serving): a request schema with its limits, int8 quantisation of
one weight matrix by hand, and a prediction of the int8 model's file size.

* :func:`check_names_request_schema` sends a student's pydantic model the payloads a careless
  or hostile client sends (n = 10,000, temperature 0, a misspelt field, ...) and names the
  limit that let one through — the same limits as the service's ``NamesRequest``
  (:mod:`gankit.serve.schemas`).
* :func:`check_quantize_weight` compares a student's symmetric per-tensor int8 quantisation
  with what ``torch.ao.quantization.quantize_dynamic`` stores for the same ``nn.Linear``.
* :func:`check_int8_size_prediction` compares a predicted (int8 file) / (fp32 file) ratio with
  the measured one.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Callable

import torch
from pydantic import BaseModel, ValidationError
from torch import nn

from gankit._i18n import tr
from gankit.checks.core import CheckFailed, not_written, run_student, student_number

__all__ = ["check_names_request_schema", "check_quantize_weight", "check_int8_size_prediction", "torch_int8_weight"]


# --------------------------------------------------------------------------- a request schema

def _refused() -> list[tuple[dict[str, Any], str, str]]:
    """(payload, field, why it must be refused), in the current language — each is one limit of
    the service's NamesRequest."""
    return [
        ({"n": 0}, "n", tr("n = 0 asks for no names: give n a lower limit of 1 (`Field(5, ge=1, ...)`).")),
        ({"n": -3}, "n", tr("a negative n was accepted: give n a lower limit of 1 (`ge=1`).")),
        ({"n": 10_000}, "n", tr("n = 10,000 was accepted: one request could keep the model busy for minutes while "
                                "every other client waits. Give n an upper limit of 100 (`le=100`).")),
        ({"n": 101}, "n", tr("n = 101 was accepted: the limit is 100 names per request (`le=100`).")),
        ({"temperature": 0}, "temperature", tr("temperature 0 was accepted: sampling divides the logits by the "
                                               "temperature, so 0 divides by zero. It must be strictly positive: "
                                               "`gt=0`, not `ge=0`.")),
        ({"temperature": -1}, "temperature", tr("temperature −1 was accepted: give temperature a lower limit, "
                                                "`gt=0`.")),
        ({"temperature": 5.5}, "temperature", tr("temperature 5.5 was accepted: the limit is 5 (`le=5`); beyond it "
                                                 "the distribution is flat, letters at random.")),
        ({"top_p": 0}, "top_p", tr("top_p 0 was accepted: nucleus sampling with p = 0 keeps no letter at all. It "
                                   "must be in (0, 1]: `gt=0, le=1`.")),
        ({"top_p": 1.5}, "top_p", tr("top_p 1.5 was accepted: p is a probability, at most 1 (`le=1`).")),
        ({"temprature": 0.5}, "temprature", tr("a misspelt field (`temprature`) was accepted and silently ignored, "
                                               "so the client gets temperature 1 without knowing. Forbid unknown "
                                               "fields: `model_config = ConfigDict(extra=\"forbid\")`.")),
        ({"n": 2.5}, "n", tr("n = 2.5 was accepted: a number of names is whole; declare n as an `int`.")),
        ({"n": "many"}, "n", tr("n = \"many\" was accepted: declare n as an `int`.")),
    ]


_ACCEPT: list[dict[str, Any]] = [
    {"n": 1}, {"n": 100}, {"temperature": 0.01}, {"temperature": 5}, {"top_p": 1}, {"top_p": 0.05},
    {"top_p": None}, {"n": 3, "temperature": 0.8, "top_p": 0.9},
]


def _validate(schema: type, payload: dict[str, Any]) -> tuple[Any, Exception | None]:
    try:
        return schema.model_validate(payload), None
    except ValidationError as exc:
        return None, exc


def check_names_request_schema(schema: Any) -> None:
    """Check a student's ``MyNamesRequest`` (the class, or a function without arguments that
    returns it, as lesson 14's ``names_request_schema``): a pydantic model with ``n`` (an int, default 5, 1 … 100),
    ``temperature`` (default 1.0, in (0, 5]) and ``top_p`` (default None, or in (0, 1]), refusing
    unknown fields. Each payload that must be refused, and each that must pass, is tried."""
    if schema is None or schema is Ellipsis:
        raise not_written("MyNamesRequest")
    if callable(schema) and not isinstance(schema, type):  # a function that makes the class, as the lesson asks
        schema = run_student(schema, "names_request_schema")
    if not (isinstance(schema, type) and issubclass(schema, BaseModel)):
        if isinstance(schema, type):
            raise CheckFailed(tr("MyNamesRequest should be a class derived from pydantic's BaseModel, got {schema!r}.",
                                 schema=schema))
        raise CheckFailed(tr("MyNamesRequest should be a class derived from pydantic's BaseModel, got {schema!r} "
                             "(return the class itself, not an instance).", schema=schema))
    try:
        default = schema()
    except ValidationError as exc:
        raise CheckFailed(tr("MyNamesRequest() with no fields should be valid (every field has a default: n 5, "
                             "temperature 1.0, top_p None), but it was refused: {msg} (field {loc}).",
                             msg=exc.errors()[0]['msg'], loc=exc.errors()[0]['loc'])) from None
    except NotImplementedError:
        raise not_written("MyNamesRequest") from None
    expected = {"n": 5, "temperature": 1.0, "top_p": None}
    for field, value in expected.items():
        if not hasattr(default, field):
            raise CheckFailed(tr("MyNamesRequest has no field {field!r}; it needs n, temperature and top_p.",
                                 field=field))
        if getattr(default, field) != value:
            raise CheckFailed(tr("The default of {field} should be {value!r} (as the service's), got {got!r}.",
                                 field=field, value=value, got=getattr(default, field)))
    for payload in _ACCEPT:
        _, error = _validate(schema, payload)
        if error is not None:
            first = error.errors()[0]
            raise CheckFailed(tr("{payload} is a valid request but was refused ({msg}, field {loc}): check that the "
                                 "limits are inclusive where the range is: n from 1 to 100 both included (ge, le), "
                                 "temperature up to 5 included (le), top_p up to 1 included (le), and top_p may be "
                                 "None (`float | None`).", payload=payload, msg=first['msg'], loc=first['loc']))
    refused = _refused()
    for payload, field, hint in refused:
        model, error = _validate(schema, payload)
        if error is None:
            raise CheckFailed(tr("{payload} should be refused with a 422, but MyNamesRequest accepted it: {hint}",
                                 payload=payload, hint=hint))
        fields = {str(part) for e in error.errors() for part in e["loc"]}
        if field not in fields:
            raise CheckFailed(tr("{payload} was refused, but the error names {named} instead of {field!r}; a client "
                                 "must be told which field was wrong.", payload=payload, named=sorted(fields),
                                 field=field))
    print(tr("✓ MyNamesRequest takes the {valid} valid requests and refuses the {bad} bad ones, each with an error "
             "that names its field — the limits of the service's own NamesRequest.", valid=len(_ACCEPT),
             bad=len(refused)))


# --------------------------------------------------------------------------- int8 by hand


def torch_int8_weight(weight: torch.Tensor) -> tuple[torch.Tensor, float]:
    """What ``quantize_dynamic`` stores for an ``nn.Linear`` with this weight: its int8 values and scale."""
    layer = nn.Linear(weight.shape[1], weight.shape[0])
    with torch.no_grad():
        layer.weight.copy_(weight)
    with warnings.catch_warnings():  # torch.ao.quantization's notice that it will move to torchao
        warnings.simplefilter("ignore")
        quantized = torch.ao.quantization.quantize_dynamic(nn.Sequential(layer), {nn.Linear}, dtype=torch.qint8)
    stored = quantized[0].weight()
    return stored.int_repr(), float(stored.q_scale())


def check_quantize_weight(fn: Callable, weight: torch.Tensor | None = None) -> None:
    """Check ``fn(w) -> (q, scale)``: symmetric per-tensor int8, scale = max|w| / 127.5 (half of the
    int8 range 255), q = round(w / scale) clamped to [−128, 127], dtype torch.int8 — what
    ``quantize_dynamic`` stores for an ``nn.Linear``. Tried on a small matrix with a known
    answer and on ``weight`` (a layer of the lesson's model) when given."""
    w_small = torch.tensor([[0.5, -1.0, 0.25], [2.0, -0.7, 0.01]])
    cases = [(tr("a 2×3 test matrix"), w_small)]
    if weight is not None:
        cases.append((tr("the lesson's {shape} weight", shape=tuple(weight.shape)), weight.detach().float()))
    for what, w in cases:
        out = run_student(fn, "my_quantize_weight", w.clone())
        if not (isinstance(out, tuple) and len(out) == 2):
            raise CheckFailed(tr("my_quantize_weight should return a pair (q, scale), got {kind}.",
                                 kind=type(out).__name__))
        q, scale = out
        scale = student_number(scale, "scale")
        want_q, want_scale = torch_int8_weight(w)
        amax = float(w.abs().max())
        if not isinstance(q, torch.Tensor) or q.shape != w.shape:
            raise CheckFailed(tr("q should be a tensor of the weight's shape {shape}, got {got}.", shape=tuple(w.shape),
                                 got=tuple(q.shape) if isinstance(q, torch.Tensor) else type(q).__name__))
        if not math.isclose(scale, want_scale, rel_tol=1e-5):
            hints = {amax / 127: tr("that is max|w| / 127. The int8 range −128 … 127 holds 255 steps; torch's "
                                    "symmetric scheme spreads ±max|w| over all of them: scale = max|w| / 127.5."),
                     amax / 128: tr("that is max|w| / 128; torch uses half the range's width, (127 − (−128)) / 2 = "
                                    "127.5."),
                     amax / 255: tr("that is max|w| / 255: the symmetric scheme covers −max|w| … +max|w|, a width "
                                    "of 2·max|w|, so the scale is 2·max|w| / 255 = max|w| / 127.5."),
                     float(w.max()) / 127.5: tr("that uses the largest weight, not the largest in absolute value: "
                                                "use w.abs().max(), or the most negative weights do not fit.")}
            hint = next((h for value, h in hints.items() if math.isclose(scale, value, rel_tol=1e-5)),
                        tr("the scale maps the largest |w| to the edge of the int8 range: max|w| / 127.5."))
            raise CheckFailed(tr("On {what} the scale should be {want:.6g}, got {scale:.6g}: {hint}", what=what,
                                 want=want_scale, scale=scale, hint=hint))
        if q.dtype != torch.int8:
            raise CheckFailed(tr("q should be stored as torch.int8 (one byte per weight — the point of quantising), "
                                 "got {dtype}: finish with .to(torch.int8) after rounding and clamping.",
                                 dtype=q.dtype))
        # ties (w / scale exactly at .5, as the largest weight is with this scale) may round either way,
        # but only to an int8 value: the largest weight's 127.5 stored as 128 wraps to −128 without a clamp
        ratio = w / want_scale
        tie = (ratio - ratio.floor() - 0.5).abs() < 1e-3
        q32 = q.to(torch.int32)
        either = (q32 == torch.clamp(ratio.floor(), -128, 127).to(torch.int32)) | \
                 (q32 == torch.clamp(ratio.ceil(), -128, 127).to(torch.int32))
        wrong = (q32 != want_q.to(torch.int32)) & ~(tie & either)
        if wrong.any():
            truncated = torch.clamp(ratio.trunc(), -128, 127).to(torch.int32)
            if (q32 - want_q.to(torch.int32)).abs().max() > 200:
                hint = tr("some values wrapped around (127 + 1 becomes −128 in int8): clamp to [−128, 127] "
                          "before converting.")
            elif torch.equal(q32[~tie], truncated[~tie]):
                hint = tr("your values are truncated toward zero (what .to(torch.int8) alone does). Round to the "
                          "nearest first: torch.round(w / scale).")
            else:
                hint = tr("q should be round(w / scale), clamped to [−128, 127].")
            i = int(wrong.flatten().nonzero()[0])
            raise CheckFailed(tr("On {what}, q differs from torch's at {wrong} of {total} weights (first: w = "
                                 "{value:.5f} gave {got}, torch stores {want}): {hint}", what=what,
                                 wrong=int(wrong.sum()), total=w.numel(), value=w.flatten()[i],
                                 got=int(q.flatten()[i]), want=int(want_q.flatten()[i]), hint=hint))
    error = (q.float() * scale - w).abs().max().item()
    print(tr("✓ my_quantize_weight stores what quantize_dynamic stores: scale {scale:.3g}, int8 values; on {what} "
             "the largest rounding error is {error:.2g}, at most half a step (scale / 2 = {half:.2g}).",
             scale=scale, what=what, error=error, half=scale / 2))


# --------------------------------------------------------------------------- predict the file size


def check_int8_size_prediction(predicted_ratio: object, measured_ratio: float, linear_share: float) -> None:
    """Compare a predicted (int8 file size) / (fp32 file size) with the measurement. ``linear_share``:
    the share of the model's parameters that are weights of ``nn.Linear`` layers (what
    ``quantize_dynamic`` turns into int8). A prediction within 0.06 of the measurement passes."""
    predicted = student_number(predicted_ratio, "predicted_size_ratio")
    measured, share = float(measured_ratio), float(linear_share)
    from_counts = share / 4 + (1 - share)
    if abs(predicted - measured) <= 0.06:
        print(tr("✓ You predicted {predicted:.3f}; the files measure {measured:.3f}. An int8 weight takes 1 byte "
                 "instead of 4, and {share:.1%} of the parameters are Linear weights: {share:.3f}/4 + {rest:.3f} = "
                 "{from_counts:.3f}. The rest of the gap is what the file adds — one scale and zero point per "
                 "layer, the packed layout, the names of the tensors.", predicted=predicted, measured=measured,
                 share=share, rest=1 - share, from_counts=from_counts))
        return
    if math.isclose(predicted, 0.125, abs_tol=0.01):
        hint = tr("that is 8 bits against 64. float32 has 32 bits (4 bytes) and int8 8 bits (1 byte): a quarter.")
    elif math.isclose(predicted, 0.5, abs_tol=0.03):
        hint = tr("that would be 16-bit numbers (float16 or int16). int8 is 1 byte against float32's 4: a quarter.")
    elif predicted >= 0.9:
        hint = tr("quantisation stores each Linear weight in 1 byte instead of 4: the file shrinks by far more.")
    elif predicted < 0.2:
        hint = tr("a quarter is the floor: int8 is 1 byte against float32's 4, and what quantize_dynamic does not "
                  "touch (embeddings, LayerNorm, biases) stays 4 bytes per number.")
    else:
        hint = tr("{share:.1%} of the parameters are Linear weights, which become 1 byte instead of 4; the rest "
                  "stays float32. That gives {share:.3f}/4 + {rest:.3f} = {from_counts:.3f}, plus a little per "
                  "layer for its scale and packed layout.", share=share, rest=1 - share, from_counts=from_counts)
    raise CheckFailed(tr("You predicted a size ratio of {predicted:.3f}; the files measure {measured:.3f} (within "
                         "0.06 passes): {hint}", predicted=predicted, measured=measured, hint=hint))
