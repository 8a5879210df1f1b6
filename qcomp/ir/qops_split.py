"""DynamicDenseSplit: several DynamicDense that read the same activation, as one node (TARGET stage,
--quant dynamic; passes/share_dynamic_input.py makes it, llvm builds only).

A DynamicDense quantizes its activation per tensor: (s_x, zp_x) = dynamic_quant_params(x) and
q = quantize(x, s_x, zp_x) depend on x alone, not on the weights. So P DynamicDense of x (attention's
query, key and value projections) compute the same q, and their P products are the columns of one
product with the weights stacked along N:

    w = [w_0; w_1; ...; w_{P-1}]   (each [n, K], stacked [P n, K]),  b, w_scale stacked alike
    y = DynamicDense(x, w, b, w_scale) {act_min, act_max}              (qops.DynamicDense, [..., P n])
    out_p = y[..., p n : (p + 1) n]                                    (p = 0 .. P - 1)

Element for element out_p is the p-th DynamicDense's output: the same q, the same int32 sum over
k (w_p's row is the stacked w's row p n + c), the same float32 factor s_x * w_scale[n] and bias.
The backend quantizes x once and writes each part's columns straight into its own output.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .ops import Op
from .qops import DynamicDense
from .types import DType, IRError, TensorType

SPLIT_ALIGN = 16   # channels per part: a multiple of the widest llvm channel block (16 int32 lanes)


@dataclass(frozen=True)
class DynamicDenseSplit(Op):
    """DynamicDense of x with weights stacked from `parts` DynamicDense of n channels each, its output's
    last axis split into `parts` outputs of n channels (module docstring). Inputs: x f32[..., K],
    w i8[parts * n, K] (zero point 0), b f32[parts * n], w_scale f32[parts * n]; outputs: parts
    tensors f32[..., n]."""
    parts: int = 2
    act_min: float | None = None
    act_max: float | None = None
    arity: ClassVar[int] = 4

    @property
    def num_outputs(self) -> int:   # ir.ops.output_count reads it: one output per part
        return self.parts

    def dense(self) -> DynamicDense:
        """The stacked DynamicDense (y above)."""
        return DynamicDense(self.act_min, self.act_max)

    def infer(self, ins):
        shape = self.dense().infer(ins)[0].shape
        n_total = shape[-1]
        if self.parts < 2 or n_total % self.parts:
            raise IRError(f"DynamicDenseSplit: {n_total} output channels do not split into {self.parts} "
                          f"equal parts (at least 2)")
        part = TensorType((*shape[:-1], n_total // self.parts), DType.FLOAT32)
        return [part] * self.parts
