"""The exercise checks of lesson 14 (gankit.checks.serving): each passes a right answer (and the
service's own schema), and fails each typical wrong version with a message that names the mistake."""

from __future__ import annotations

import pytest
import torch
from pydantic import BaseModel, ConfigDict, Field

from gankit.checks import CheckFailed, check_int8_size_prediction, check_names_request_schema, check_quantize_weight
from gankit.checks.serving import torch_int8_weight
from gankit.serve.schemas import NamesRequest

# --------------------------------------------------------------------------- the request schema


def schema(n_ge=1, n_le=100, t_gt=0.0, t_ge=None, t_le=5.0, p_gt=0.0, p_le=1.0, forbid=True, n_type=int, n_default=5):
    """A student's MyNamesRequest, right by default, with one mistake switched on by an argument."""
    t_limits = {"ge": t_ge} if t_ge is not None else {"gt": t_gt}
    t_limits = {k: v for k, v in t_limits.items() if v is not None}

    class MyNamesRequest(BaseModel):
        model_config = ConfigDict(extra="forbid" if forbid else "ignore")
        n: n_type = Field(n_default, **({"ge": n_ge} if n_ge is not None else {}), **({"le": n_le} if n_le else {}))
        temperature: float = Field(1.0, **t_limits, **({"le": t_le} if t_le else {}))
        top_p: float | None = Field(None, **({"gt": p_gt} if p_gt is not None else {}), **({"le": p_le} if p_le else {}))

    return MyNamesRequest


def test_a_right_schema_and_the_services_own_pass(capsys):
    check_names_request_schema(schema())
    check_names_request_schema(NamesRequest)  # the service's schema: the same limits, and more fields
    assert capsys.readouterr().out.count("✓") == 2


@pytest.mark.parametrize("mistake, message", [
    (dict(n_le=None), "n = 10,000 was accepted"),
    (dict(n_le=1000), "n = 101 was accepted"),
    (dict(n_ge=None), "n = 0 asks for no names"),
    (dict(t_gt=None, t_ge=0.0), "temperature 0 was accepted.*`gt=0`, not `ge=0`"),
    (dict(t_le=None), "temperature 5.5 was accepted"),
    (dict(p_gt=None), "top_p 0 was accepted"),
    (dict(p_le=None), "top_p 1.5 was accepted"),
    (dict(forbid=False), "misspelt field.*extra=\"forbid\""),
    (dict(n_type=float), "n = 2.5 was accepted"),
    (dict(n_le=99), "valid request but was refused"),
    (dict(n_default=10), "default of n should be 5"),
])
def test_each_missing_limit_is_named(mistake, message):
    with pytest.raises(CheckFailed, match=message):
        check_names_request_schema(schema(**mistake))


def test_a_schema_that_is_not_pydantic_or_not_written():
    with pytest.raises(CheckFailed, match="not written yet"):
        check_names_request_schema(...)

    def names_request_schema():  # the lesson's stub
        raise NotImplementedError("Exercise: write names_request_schema (see the instructions above).")

    with pytest.raises(CheckFailed, match="names_request_schema is not written yet"):
        check_names_request_schema(names_request_schema)
    with pytest.raises(CheckFailed, match="not an instance"):
        check_names_request_schema(lambda: schema()())
    check_names_request_schema(lambda: schema())  # the factory the lesson asks for

    class Plain:
        n: int = 5

    with pytest.raises(CheckFailed, match="pydantic's BaseModel"):
        check_names_request_schema(Plain)

    class Partial(BaseModel):
        n: int = Field(5, ge=1, le=100)

    with pytest.raises(CheckFailed, match="no field 'temperature'"):
        check_names_request_schema(Partial)


# --------------------------------------------------------------------------- int8 by hand


def test_torch_stores_the_symmetric_scale_worked_by_hand():
    """max|w| = 2.0, so scale = 2 / 127.5 and 0.5 → round(31.875) = 32, −1 → round(−63.75) = −64."""
    q, scale = torch_int8_weight(torch.tensor([[0.5, -1.0, 0.25], [2.0, -0.7, 0.01]]))
    assert scale == pytest.approx(2.0 / 127.5)
    assert q.tolist() == [[32, -64, 16], [127, -45, 1]]


def quantizer(divisor=127.5, absolute=True, rounding="round", clamp=True, dtype=torch.int8):
    def my_quantize_weight(w):
        top = w.abs().max() if absolute else w.max()
        scale = top / divisor
        x = w / scale
        x = torch.round(x) if rounding == "round" else x
        if clamp:
            x = torch.clamp(x, -128, 127)
        return x.to(torch.int16 if not clamp else torch.int32).to(dtype) if dtype is not None else x, float(scale)
    return my_quantize_weight


def test_a_right_quantizer_passes_on_a_real_layer(capsys):
    weight = torch.randn(64, 48) * 0.1
    check_quantize_weight(quantizer(), weight)
    assert "half a step" in capsys.readouterr().out


@pytest.mark.parametrize("mistake, message", [
    (dict(divisor=127), "max\\|w\\| / 127\\."),
    (dict(divisor=128), "max\\|w\\| / 128"),
    (dict(divisor=255), "max\\|w\\| / 255"),
    (dict(rounding="trunc"), "truncated toward zero"),
    (dict(dtype=torch.float32), "torch.int8"),
])
def test_each_quantizer_mistake_is_named(mistake, message):
    with pytest.raises(CheckFailed, match=message):
        check_quantize_weight(quantizer(**mistake))


def test_a_quantizer_without_a_clamp_is_caught_at_the_tie():
    """With scale = max|w| / 127.5 only the largest weight can overflow: w / scale = 127.5, a tie,
    which rounds to 128 and is stored as −128 without a clamp. Here max|w| = 127.5 / 128, so the
    scale is 2^-7 and the ratio is exactly 127.5 (on the 2×3 matrix it is 127.49999 and rounds down)."""
    w = torch.tensor([[127.5 / 128, -0.5], [0.25, 0.125]])
    assert quantizer(clamp=False)(w)[0].min() == -128
    check_quantize_weight(quantizer(), w)
    with pytest.raises(CheckFailed, match="wrapped around"):
        check_quantize_weight(quantizer(clamp=False), w)


def test_the_largest_weight_not_the_largest_absolute_one():
    w = torch.tensor([[0.5, -3.0], [1.0, 0.2]])  # the largest |w| is negative
    with pytest.raises(CheckFailed, match="largest in absolute value"):
        check_quantize_weight(quantizer(absolute=False), w)


# --------------------------------------------------------------------------- predict the file size


def test_size_prediction_passes_near_and_names_the_mistake_far(capsys):
    check_int8_size_prediction(0.29, 0.303, 0.969)
    assert "✓" in capsys.readouterr().out
    check_int8_size_prediction(0.25, 0.303, 0.969)  # "a quarter" is the idea; within 0.06
    for predicted, message in [(0.125, "8 bits against 64"), (0.5, "16-bit"), (1.0, "shrinks by far more"),
                               (0.1, "a quarter is the floor"), (0.4, "0.969/4")]:
        with pytest.raises(CheckFailed, match=message):
            check_int8_size_prediction(predicted, 0.303, 0.969)
    with pytest.raises(CheckFailed, match="not written yet"):
        check_int8_size_prediction(..., 0.303, 0.969)
