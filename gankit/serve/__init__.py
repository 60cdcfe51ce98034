"""gankit's models as a web service (lesson 14): ``gankit serve``, or in Python::

    from gankit.serve import create_app, serve
    app = create_app(["names_gpt", "cvae_digits"])   # a FastAPI app, for any ASGI server
    serve(port=8000)                                  # or run it here with uvicorn

* :mod:`~gankit.serve.models` — checkpoints in service: each model wrapped by the adapter of
  its task (names, digits: the conditional VAE or the diffusion model), with its sha256 and a
  lock; where a new model family plugs in;
* :mod:`~gankit.serve.schemas` — the requests and answers, with their limits (pydantic);
* :mod:`~gankit.serve.app` — the endpoints, metrics and request log (FastAPI);
* :mod:`~gankit.serve.monitor` — the quality of what was served, over a rolling window;
* :mod:`~gankit.serve.batching` — micro-batching of name requests that arrive together;
* :mod:`~gankit.serve.server` — running it with uvicorn on a port;
* :mod:`~gankit.serve.process` — the service as a child process that stops with its starter
  (``start_server``: lesson 14, the tests, the load test);
* :mod:`~gankit.serve.export` — leaving PyTorch: ONNX export and parity, int8 quantisation,
  file size and latency, each measured (lesson 14, sections 1–3). Imported on its own
  (``from gankit.serve import export``): it needs onnx and onnxruntime only when called.
"""

from gankit.serve.app import MAX_BODY_BYTES, create_app, png_base64
from gankit.serve.models import (ADAPTERS, DEFAULT_MODELS, DiffusionDigitGenerator, DigitGenerator, NameGenerator,
                                 ServedModel, load_served)
from gankit.serve.batching import NameBatcher
from gankit.serve.monitor import QualityMonitor
from gankit.serve.server import PortInUseError, serve

__all__ = [
    "create_app",
    "serve",
    "png_base64",
    "MAX_BODY_BYTES",
    "ADAPTERS",
    "DEFAULT_MODELS",
    "ServedModel",
    "NameGenerator",
    "DigitGenerator",
    "DiffusionDigitGenerator",
    "load_served",
    "QualityMonitor",
    "NameBatcher",
    "PortInUseError",
]
