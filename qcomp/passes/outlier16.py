"""The residual outlier rule: a transformer's residual sums with outlier channels in int16 by default.

Helper of qcomp/builder.py (no pass here), like state16.py: `observed_values(g)` names the values
whose per-channel max |x| calibration collects (calibrate's `channel_absmax_of`), and
`outlier16_values(g, absmax, skip)` is the set of FLOAT-graph values the quantizer makes int16 in
addition to the `--precision NAME=int16` marks (passes/quantize16.py applies its A16W8 rules to
them). `--residual-outliers int8` (BuildOptions.residual_outliers) turns the rule off;
`--precision NODE=int8` keeps one node's outputs int8.

The problem. BERT-style encoders (post-LayerNorm) carry a few outlier channels in their residual
stream: all-MiniLM-L6-v2's feed-forward output has, in hidden channel 99 of the [CLS] row, values
up to 195 (layers 0-3), while the median channel's max |x| is 0.7; in layers 4-5 channels 223, 127
and 319 reach 25-60 in many rows. Such a value, y = Dense(h) + b, is read by the residual sum
s = y + r (r the previous LayerNorm's output), and s only by LayerNorm(s). One per-tensor int8 grid
for s, step (max - min) / 255, is ~0.9 there: the typical |s| ~ 1-2 of every other token lands on
two or three codes, and LayerNorm, which rescales every row by its own standard deviation, turns
that into a large error of every token (clipping the outlier instead breaks the [CLS] row, whose
standard deviation it dominates: percentile calibration loses more, see benchmarks/RESULTS.md).
The cure used by the literature is a finer grid for these tensors only (Bondarenko et al. 2021,
"Understanding and Overcoming the Challenges of Efficient Transformer Quantization": 16-bit
residual sums, or per-embedding-group scales); qcomp takes the 16-bit one, which every backend
already runs (A16W8, ARCHITECTURE.md section 3.1).

The rule. A residual sum is the input s of a LayerNorm made by an Add of two activations. With
a[c] = max |x| over the calibration samples and rows of channel c (the last axis),

    outlier_ratio(x) = max_c a[c] / median_c a[c]

(1.5-1.9 for the residual sums of a BERT-base with random weights, whose channels are alike;
all-MiniLM-L6-v2: 4.7-6.8 for the attention residual sums, 16-124 for the feed-forward ones).
For each residual sum s with outlier_ratio(s) >= OUTLIER_RATIO (4: the int8 grid spends at least
three quarters of its codes on a few channels):
- s is int16 (the Add is QAdd16, the LayerNorm QLayerNorm16 reading it);
- an operand of the Add made by a Dense (through constant bias Adds) whose own ratio is at least
  DENSE_RATIO (16) is int16 with the values of that chain (the Dense is QDense16: it writes the
  outlier on the int16 grid). The higher bar keeps the GEMMs whose outputs are merely long-tailed
  in int8 (QDense16 costs about twice QDense): MiniLM's attention output projections (ratio 2.4-8.4;
  raising layer 0's too changes the embedding cosine by < 0.001) and a random-weight BERT-base's
  (4.3-4.7) stay int8; MiniLM's feed-forward outputs (31-262) go int16;
- that Dense's input, when an elementwise function of one tensor (a Lut: GELU) makes it and the
  Dense is its only reader, is int16 too (Lut16): QDense16 converts an int8 input to int16 anyway,
  so the table writes it directly, on a finer grid, one conversion fewer.
Where passes/split_outliers.py could split the Dense (builder._calibrate runs it first), the rule
finds the split form: the outlier channels' K x k Dense and the one placing them back are int16
(recorded in graph.meta["outlier16"]), the K x C GEMM and its Lut input stay int8.
Left out: a value that is a graph output, a node kept in float (`--skip`) or named int8, and
everything under `--quant weight|dynamic` or a pre-quantized model (builder.quantize_model applies
the rule only when it calibrates). A model without LayerNorm (a CNN) is unchanged.
Cost and accuracy on MiniLM: benchmarks/RESULTS.md "Static int8 encoders accurate" (the split
form costs about +10 % at one thread on x86-vnni, the unsplit QDense16 form about +25-30 %).
"""
from __future__ import annotations

import json

import numpy as np

from ..ir import Graph, Node, ops
from .quantize_modes import QuantOptions, int8_mode

OUTLIER_KINDS = ("int16", "int8")
OUTLIER_RATIO = 4.0     # max channel / median channel of max |x| at which a residual sum goes int16
DENSE_RATIO = 16.0      # ... and at which a Dense operand of such a sum goes int16 (QDense16)
_LUT_MODES = ("lut", "scalar_lut")
META_KEY = "outlier16"   # graph.meta: values split_outliers.py made that carry outliers (a JSON list)


def recorded(g: Graph) -> list[str]:
    """The values passes/split_outliers.py recorded for int16."""
    return list(json.loads(g.meta.get(META_KEY, "[]")))


def outlier_ratio(absmax: np.ndarray | None) -> float:
    """max_c a[c] / median_c a[c] of the per-channel max |x| (0 for no data or an all-zero value)."""
    if absmax is None or absmax.size == 0:
        return 0.0
    top, mid = float(np.max(absmax)), float(np.median(absmax))
    if top == 0.0:
        return 0.0
    return float("inf") if mid == 0.0 else top / mid


def residual_sums(g: Graph) -> list[tuple[str, Node]]:
    """(s, the Add making s) for every LayerNorm input s made by an Add of two activations."""
    producers = {v: n for n in g.nodes for v in n.outputs}
    out = []
    for n in g.nodes:
        if not isinstance(n.op, ops.LayerNorm):
            continue
        s = n.inputs[0]
        add = producers.get(s)
        if (add is not None and isinstance(add.op, ops.Add) and len(add.inputs) == 2
                and not any(g.is_constant(i) for i in add.inputs)):
            out.append((s, add))
    return out


def dense_chain(g: Graph, value: str, producers: dict[str, Node]) -> tuple[list[str], Node | None]:
    """(the values from `value` down to a Dense's output through Adds of a constant (biases), the
    Dense), or ([], None) when `value` is not made that way."""
    chain = []
    while (n := producers.get(value)) is not None:
        chain.append(value)
        if isinstance(n.op, ops.Dense):
            return chain, n
        if not (isinstance(n.op, ops.Add) and len(n.inputs) == 2 and sum(g.is_constant(i) for i in n.inputs) == 1):
            break
        value = n.inputs[1] if g.is_constant(n.inputs[0]) else n.inputs[0]
    return [], None


def observed_values(g: Graph) -> frozenset[str]:
    """The values whose per-channel max |x| the rule reads: residual sums and their operands."""
    return frozenset(v for s, add in residual_sums(g) for v in (s, *add.inputs))


def outlier16_values(g: Graph, absmax: dict[str, np.ndarray], skip=frozenset()) -> frozenset[str]:
    """The values of the FLOAT graph g that the rule makes int16 (module docstring); `absmax`: the
    per-channel max |x| calibration collected for observed_values(g); `skip`: the nodes whose
    outputs it leaves alone (kept in float, or named int8)."""
    producers = {v: n for n in g.nodes for v in n.outputs}
    readers: dict[str, int] = {}
    for n in g.nodes:
        for v in n.inputs:
            readers[v] = readers.get(v, 0) + 1
    skipped, outputs = set(skip), set(g.outputs)
    marks: set[str] = {v for v in recorded(g) if v in producers and producers[v].name not in skipped and v not in outputs}
    for s, add in residual_sums(g):
        if add.name in skipped or s in outputs or outlier_ratio(absmax.get(s)) < OUTLIER_RATIO:
            continue
        marks.add(s)
        for operand in add.inputs:
            chain, dense = dense_chain(g, operand, producers)
            if (dense is None or outlier_ratio(absmax.get(operand)) < DENSE_RATIO
                    or any(producers[v].name in skipped or v in outputs or readers.get(v, 0) != 1 for v in chain)):
                continue
            marks.update(chain)
            x = dense.inputs[0]
            maker = producers.get(x)
            if (maker is not None and maker.name not in skipped and x not in outputs and readers.get(x, 0) == 1
                    and int8_mode(g, maker, QuantOptions()) in _LUT_MODES):
                marks.add(x)
    return frozenset(marks)
