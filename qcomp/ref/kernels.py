"""The float kernel table: IR op class -> numpy function.

    KERNELS[type(node.op)](node.op, *input_arrays) -> array, or a list of arrays (Split)

A kernel reads its attributes from the op, never mutates its inputs (constants are read-only and
values may be shared), and returns arrays of exactly the shapes and dtypes the op infers. The
interpreter checks both, so a kernel bug surfaces at the node that has it.

ACCEPTS restricts the dtype of input 0 where a kernel only has float semantics; an op absent from
KERNELS, or a dtype outside ACCEPTS, is a MissingKernelError naming the node, the op and the
dtypes. Quantize, Dequantize, Requantize and the TARGET-stage integer ops (qcomp/ir/qops.py) are
not here: FLOAT graphs have none and the integer interpreter owns them. The type-generic kernels
(movement ops, MaxPool2D, ReduceMax, nearest Resize, Relu, Clip) also serve int8 tensors.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..errors import UnsupportedModelError
from ..ir.ops import (AvgPool2D, BatchNorm, ConvTranspose2D, Conv2D, Dense, Erf, Exp, Gelu, HardSigmoid,
                      HardSwish, LayerNorm, LeakyRelu, Op, PRelu, ReduceMean, Sigmoid, Softmax, Sqrt, Tanh)
from . import (float_conv, float_elementwise, float_logic, float_math, float_movement, float_norm, float_pool,
               float_resize)
from . import float_select

Kernel = Callable[..., "np.ndarray | list[np.ndarray]"]


class MissingKernelError(UnsupportedModelError, NotImplementedError):
    """The float reference has no kernel for this op (or for its input dtype)."""


KERNELS: dict[type[Op], Kernel] = {
    **float_conv.TABLE, **float_elementwise.TABLE, **float_math.TABLE, **float_movement.TABLE, **float_norm.TABLE,
    **float_pool.TABLE, **float_resize.TABLE,
    **float_logic.TABLE,
}
KERNELS.update(float_select.TABLE)   # TopK

FLOATS = frozenset({np.dtype(np.float32), np.dtype(np.float16)})
_FLOAT_ONLY = (Conv2D, ConvTranspose2D, Dense, BatchNorm, LayerNorm, Softmax, Sigmoid, Tanh, HardSigmoid,
               HardSwish, LeakyRelu, PRelu, Erf, Gelu, Sqrt, Exp, AvgPool2D, ReduceMean, *float_math.FLOAT_ONLY)

# the numpy dtypes input 0 may have; ops not listed take any dtype (movement, Cast, Add, Relu, ...)
ACCEPTS: dict[type[Op], frozenset[np.dtype]] = {op: FLOATS for op in _FLOAT_ONLY}
# ---- index ops with run-time indices (float_index.py): any element type ----
from . import float_index  # noqa: E402

KERNELS.update(float_index.TABLE)
