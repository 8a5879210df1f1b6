"""Reference interpreters of the qcomp IR (numpy only).

`run_float(graph, feeds, on_value=None)` runs a FLOAT-stage graph with float32 kernels that mirror
onnxruntime's semantics; `KERNELS` is its op -> kernel table. `run_integer(graph, feeds, raw=False)`
runs a TARGET-stage graph with the integer arithmetic of qcomp.fixedpoint: the ground truth of
every backend.
"""
from .integer import run_integer
from .interpreter import check_feeds, run_float
from .kernels import ACCEPTS, KERNELS, MissingKernelError

__all__ = ["run_float", "run_integer", "check_feeds", "KERNELS", "ACCEPTS", "MissingKernelError"]
