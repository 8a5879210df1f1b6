"""What a raise costs on a target: per-op-class factors by precision, measured, and the latency it predicts.

The unit is one int8 MAC of a 3x3 conv on the target ("int8-MAC equivalents"). A node N of the
FLOAT graph costs, at precision p (int8, int16 or float),

    time(N, p)  = work(N) * FACTORS[family][p][class(N)]
    work(N)     = MACs of a Conv / ConvTranspose / Dense / MatMul, else the elements of N's output
    class(N)    = conv | depthwise (a Conv with group > 1) | matmul (Dense, MatMul with a constant
                  operand) | matmul_act (MatMul of two activations) | transcendental (Sigmoid,
                  Tanh, Erf, Gelu, Exp, Log, Sqrt, Div, Pow, Softmax, LayerNorm, ...: a LUT or a
                  fixed-point routine in int8 and int16, libm in float) | elementwise (the rest)

and a set of raises (accuracy/kinds.py) puts the nodes of its float regions at float, the other
readers of its int16 tensors at int16 (A16W8: the int16 tensor's producer only writes int16, at
its int8 cost), everything else at int8:

    cost(set)            = sum over the raised nodes N of  time(N, p(N)) - time(N, int8)
    predicted latency    = cost(set) / sum over every node N of time(N, int8)       (a fraction)

A raise's own cost is cost({it}); `--accuracy` orders raises by gain per unit of it and prints
the predicted latency of its choice.

FACTORS["x86"] (x86-vnni, and ref, whose choices are built for it) is measured: `python
benchmarks/raise_cost.py --target x86-vnni --runs 200 --repeats 3` (AMD EPYC, 1 thread, 2 cores
shared with other work, 2026-12-07, rerun after the vector A16W8 kernels merged; the per-cell
median of 3 repeats) times one layer per class in
a small model built three ways (int8, its input raised to int16, its input's float region) through
the whole pipeline, so requantize, Quantize and Dequantize at the region's borders are in the
figures. What it shows (this run): int16 costs 1.7x int8 on conv and 2.0x on dense (VPDPWSSD
does half VPDPBUSD's MACs), 1.3x on depthwise, 1.8x on a MatMul of two activations and 2.2x on a
LUT activation (the first run, while those int16 kernels were scalar, gave ~4x and 3.4x), 2.6x on
an Add (a small difference over the model's skeleton time: the noisiest cell); float costs 6x to
20x int8 on conv, depthwise and dense (the float loops beside VNNI's), far over the 4x the
instruction counts suggest, and single float timings swing up
to 4x between repeats on a busy machine (hence the median). Shapes matter too: a matrix-vector
Dense (batch 1) is memory bound at every precision, so these factors overprice its float raise.

The other families are not measured here; their factors are the instruction counts (int8 MACs per
instruction over the wider kind's: aarch64 SDOT 16 / SMLAL 8 / FMLA 4, cuda __dp4a 4 / __dp2a 2 /
FFMA 1), the same for every class, and the C backend's int16 is the Cortex-M4 figure of
benchmarks/a16w8_cost.py (SMLAD on int16 pairs: 1.12x the int8 kernel's instructions).
"""
from __future__ import annotations

from collections.abc import Iterable

from ..ir import Graph, Node, ops
from ..ir.stats import node_macs

CLASSES = ("conv", "depthwise", "matmul", "matmul_act", "transcendental", "elementwise")
TRANSCENDENTAL = (ops.Sigmoid, ops.Tanh, ops.Erf, ops.Gelu, ops.Exp, ops.Log, ops.Sqrt, ops.Div, ops.Pow,
                  ops.Softmax, ops.LayerNorm, ops.Elu, ops.Selu, ops.Celu, ops.Softplus, ops.Mish)

# written by benchmarks/raise_cost.py (module docstring); keep the command with any new figures
MEASURED_X86 = {
    "int8": {"conv": 1.586, "depthwise": 29.956, "matmul": 0.839, "matmul_act": 3.435, "elementwise": 43.293,
             "transcendental": 48.567},
    "int16": {"conv": 2.754, "depthwise": 39.742, "matmul": 1.719, "matmul_act": 6.314, "elementwise": 113.748,
             "transcendental": 106.085},
    "float": {"conv": 9.75, "depthwise": 558.11, "matmul": 16.479, "matmul_act": 9.696, "elementwise": 41.206,
             "transcendental": 505.817},
}


def _uniform(int16: float, float_: float | None) -> dict[str, dict[str, float]]:
    table = {"int8": dict.fromkeys(CLASSES, 1.0), "int16": dict.fromkeys(CLASSES, int16)}
    if float_ is not None:
        table["float"] = dict.fromkeys(CLASSES, float_)
    return table


FACTORS = {
    "x86": MEASURED_X86,
    "aarch64": _uniform(2.0, 4.0),
    "cuda": _uniform(2.0, 4.0),
    "c": _uniform(1.12, None),
}


def family(target) -> str:
    """The FACTORS row of `target` (ref: x86, whose build its choices stand for)."""
    if target is None or target.backend == "ref" or target.triple.startswith("x86_64"):
        return "x86"
    if target.backend == "llvm":
        return "aarch64"
    return "cuda" if target.backend == "cuda" else "c"


def op_class(g: Graph, n: Node) -> str:
    """class(N) (module docstring)."""
    if isinstance(n.op, (ops.Conv2D, ops.ConvTranspose2D)):
        return "depthwise" if getattr(n.op, "group", 1) > 1 else "conv"
    if isinstance(n.op, ops.Dense):
        return "matmul"
    if isinstance(n.op, ops.MatMul):
        return "matmul" if any(v in g.constants for v in n.inputs[:2]) else "matmul_act"
    return "transcendental" if isinstance(n.op, TRANSCENDENTAL) else "elementwise"


def node_work(g: Graph, n: Node) -> int:
    """work(N): MACs of N (Conv, Dense, MatMul), else the elements of its output (module docstring)."""
    macs = node_macs(g, n)
    return int(macs) if macs else int(sum(g.types[o].size for o in n.outputs))


class CostModel:
    """time(N, p) of every node of the FLOAT graph `gf` on `target` (module docstring)."""

    def __init__(self, gf: Graph, target=None):
        self.gf, self.family = gf, family(target)
        self.table = FACTORS[self.family]
        self.nodes = {n.name: n for n in gf.nodes}
        self._time = {n.name: {p: node_work(gf, n) * f[op_class(gf, n)] for p, f in self.table.items()}
                      for n in gf.nodes}
        self.base = sum(t["int8"] for t in self._time.values())

    def extra(self, node: str, precision: str) -> float:
        """time(N, p) - time(N, int8), in int8-MAC equivalents."""
        t = self._time[node]
        return t.get(precision, t["int8"]) - t["int8"]

    def cost(self, floated: Iterable[str], int16_readers: Iterable[str]) -> float:
        """cost(set) of the nodes in float and the nodes reading int16 (a floated node counts once, at float)."""
        floated = set(floated)
        return (sum(self.extra(n, "float") for n in floated)
                + sum(self.extra(n, "int16") for n in set(int16_readers) - floated))

    def latency(self, cost: float) -> float:
        """The predicted latency increase of `cost`, as a fraction of the int8 model's time."""
        return cost / self.base if self.base > 0 else 0.0
