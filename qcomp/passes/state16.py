"""The int16 recurrent state rule: LSTM cell state (and GRU hidden state) in int16 by default.

Helper of qcomp/builder.py (no pass here): `state16_values(g, skip)` is the set of values of the
FLOAT graph that the quantizer makes int16 in addition to the `--precision NAME=int16` marks
(passes/quantize16.py then applies its A16W8 rules to them). `--recurrent-state int8`
(BuildOptions.recurrent_state) turns the rule off; `--precision NODE=int8` keeps one node's
outputs int8.

What TFLite does (tensorflow/lite/kernels/lstm_eval.cc, EvalInteger8x8_16, the fully integer LSTM):
input and hidden state (the output h) int8, weights int8, the gate pre-activations int16 at scale
2^-12 (the int32 matrix products rescaled to int16), the gate activations int16 at 2^-15
(sigmoid / tanh on int16), the cell state int16 at a power-of-two scale, c = f * c' + i * g in
int16 with rounding shifts, tanh(c) int16, and h = o * tanh(c) rescaled to int8.

What qcomp does, and why. The drift of an int8 LSTM comes from the cell state: c is re-quantized at
every step onto a grid of its whole calibrated range over 255 steps, and the rounding errors of the
steps add up in c (f close to 1 keeps them) and flow into every later h. So the values of the state
path (ir/recurrent_state.py: fc = f * c', ig = i * g, c = fc + ig, and their masked / kept forms)
are int16 on the int16 grid of their calibrated range (quantize16.py's scale max(|lo|, |hi|) / 32767,
zero point 0, not a power of two: the same A16W8 ops as every other int16 value, so every backend
already runs them bit-exactly): the products are QMul16 (the int8 gate converted to int16, exact up
to the int16 rounding of its grid), the sum QAdd16, the peephole products of c and tanh(c) read the
int16 state (tanh(c) through an int16 LUT, Lut16, of 513 entries with interpolation, writing int8 at
the calibrated params of tanh(c)). The gates stay int8 (256-entry Luts): their quantization error is
a relative error of at most 1/2 LSB at each step that does not compound the way a re-quantized
state does (benchmarks/RESULTS.md measures int8 gates against int16 gates, `--precision` on the
gate values, on 128-step sequences), and int8 gates keep the two gate matrix products per step (the
input projection and h' R^T) on the int8 dot kernels.

GRU has no integer kernel in TFLite; its hidden state h = n + z (h' - n) is a running sum like the
LSTM's c, so qcomp keeps d = h' - n, z d and h in int16 the same way (the recurrent product h' R^T
then reads int16: QDense16).

Left out: a state value that is a graph output, or copied into one by type-generic ops (Y_c, Y_h
of the last step: the artifact's outputs stay int8, the kept value is then the int8 conversion of the int16 sum), a value whose producer is
kept in float (`--skip`), and everything under `--quant weight|dynamic` or a pre-quantized model
(no calibrated range for an int16 grid; builder.quantize_model applies the rule only when it
calibrates).
"""
from __future__ import annotations

from ..ir import Graph
from ..ir import recurrent_state
from .quantize16 import generic16

STATE_KINDS = ("int16", "int8")


def state16_values(g: Graph, skip=frozenset()) -> frozenset[str]:
    """The recorded recurrent state values of the FLOAT graph g that the rule makes int16; `skip`:
    the nodes whose outputs it leaves alone (kept in float, or named int8)."""
    recorded = recurrent_state.read(g)
    if not recorded:
        return frozenset()
    producers = {v: n for n in g.nodes for v in n.outputs}
    outputs, skipped = _output_sources(g, producers), set(skip)
    return frozenset(v for v in recorded
                     if v in producers and v not in outputs and producers[v].name not in skipped
                     and g.types[v].dtype.is_float)


def _output_sources(g: Graph, producers) -> set[str]:
    """The graph outputs and every value they copy through type-generic ops (a Reshape, a Slice:
    an int16 source would make them int16 too, quantize16.int16_values)."""
    out, todo = set(g.outputs), list(g.outputs)
    while todo:
        n = producers.get(todo.pop())
        if n is not None and generic16(g, n) and n.inputs[0] not in out:
            out.add(n.inputs[0])
            todo.append(n.inputs[0])
    return out
