"""The service's requests and answers as pydantic models: the contract of the API.

FastAPI reads every request body into one of these before a handler runs, so a value
outside its limits never reaches a model: the client gets a 422 whose ``detail`` names
the field (``loc``) and the limit (``msg``), and the service goes on serving. The same
classes write the OpenAPI description at ``/docs``.

The limits keep one request cheap (at most ``MAX_NAMES`` names or ``MAX_IMAGES`` images)
and the sampling settings meaningful (``temperature`` in (0, ``MAX_TEMPERATURE``], ``top_p``
in (0, 1], ``top_k`` ≥ 1). Limits that depend on the model — the characters a prompt may
use, its length — are checked by the model's adapter (:mod:`gankit.serve.models`) and
answered in the same 422 shape.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "MAX_NAMES",
    "MAX_IMAGES",
    "MAX_TEMPERATURE",
    "MAX_SEED",
    "NamesRequest",
    "NamesResponse",
    "DigitsRequest",
    "DigitImage",
    "DigitsResponse",
    "ModelInfo",
    "ModelsResponse",
    "MonitorResponse",
    "Health",
]

MAX_NAMES = 100  # names in one request
MAX_IMAGES = 64  # images in one request (digits asked for × n)
MAX_TEMPERATURE = 5.0  # beyond this the distribution is flat: letters at random
MAX_SEED = 2**63 - 1  # torch.Generator.manual_seed takes a 64-bit int

Seed = Annotated[int | None, Field(ge=0, le=MAX_SEED, description=(
    "random seed; the same seed and settings give the same answer. Omitted: the service "
    "picks one and returns it"))]


class _Request(BaseModel):
    # a misspelt field ("temprature") is an error, not silently the default
    model_config = ConfigDict(extra="forbid")


class NamesRequest(_Request):
    """Ask for names. Sampling as in lesson 09: ``temperature`` sharpens (< 1) or flattens (> 1)
    the model's distribution, ``top_k`` keeps the k most likely next letters, ``top_p`` the
    smallest set of letters holding probability p (nucleus sampling)."""

    n: int = Field(5, ge=1, le=MAX_NAMES, description="how many names")
    temperature: float = Field(1.0, gt=0, le=MAX_TEMPERATURE, description="sampling temperature, in (0, 5]")
    top_k: int | None = Field(None, ge=1, description="keep the k most likely letters (≥ 1); omit for all")
    top_p: float | None = Field(None, gt=0, le=1, description="nucleus sampling, in (0, 1]; omit for all")
    prompt: str = Field("", max_length=64, description=(
        "the first letters of every name; only characters of the model's vocabulary "
        "(GET /v1/models lists its alphabet)"))
    control: Literal["female", "male", "none"] = Field(
        "none", description="which census list the names should sound like; 'none' for either")
    seed: Seed = None
    model: str | None = Field(None, description="a served names model (GET /v1/models); omit for the first")


class NamesResponse(BaseModel):
    model: str
    seed: int | None = Field(..., description="the seed that reproduces this answer; null when the request "
                                               "shared a model call with others (micro-batching)")
    names: list[str]


class DigitsRequest(_Request):
    """Ask for images of digits: ``n`` images of each digit in ``digits``."""

    digits: list[Annotated[int, Field(ge=0, le=9)]] = Field(
        ..., min_length=1, max_length=MAX_IMAGES, description="the digits to draw, each 0-9, e.g. [7] or [0, 1, 2]")
    n: int = Field(1, ge=1, le=MAX_IMAGES, description="images of each digit")
    seed: Seed = None
    model: str | None = Field(None, description=(
        "a served digits model (GET /v1/models): by default 'cvae_digits' (the conditional VAE, "
        "under 1 ms an image) or 'diffusion_digits' (the diffusion model, ~40 ms an image, at "
        "most 16 images a request); omit for the first served"))

    @model_validator(mode="after")
    def _not_too_many(self) -> "DigitsRequest":
        if len(self.digits) * self.n > MAX_IMAGES:
            raise ValueError(f"{len(self.digits)} digits × n={self.n} asks for {len(self.digits) * self.n} images; "
                             f"at most {MAX_IMAGES} per request")
        return self


class DigitImage(BaseModel):
    digit: int
    png: str = Field(..., description="a 28×28 greyscale PNG, base64")


class DigitsResponse(BaseModel):
    model: str
    seed: int
    images: list[DigitImage]


class ModelInfo(BaseModel):
    """One served checkpoint; ``figures`` are what its recipe measured (data/README.md)."""

    model_config = ConfigDict(extra="allow")  # a task adds its own fields (a names model: its alphabet)

    name: str
    task: str
    model_class: str
    file: str
    bytes: int
    sha256: str
    parameters: int
    recipe: str | None
    seed: int | None
    figures: dict


class ModelsResponse(BaseModel):
    models: list[ModelInfo]


class Share(BaseModel):
    share: float = Field(..., description="share of the items in the window that pass the measure, 0-1")
    items: int = Field(..., description="items in the window")


class Alert(BaseModel):
    model: str
    measure: str
    share: float
    floor: float
    message: str


class MonitorResponse(BaseModel):
    """Rolling quality of the served items (gankit.serve.monitor): per model, per measure."""

    window: int
    models: dict[str, dict[str, Share]]
    alerts: list[Alert]


class Health(BaseModel):
    status: Literal["ok"]
    models: list[str]
