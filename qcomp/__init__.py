"""qcomp: an ahead-of-time quantizing compiler from ONNX to int8 code for real hardware."""
__version__ = "0.1.0"

from .api import build, load, load_model, run_float  # noqa: E402
from .errors import QcompError  # noqa: E402

__all__ = ["__version__", "build", "load", "load_model", "run_float", "QcompError"]
