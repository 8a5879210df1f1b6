"""The recurrent state tensors of an unrolled LSTM / GRU, recorded at import for the quantizer.

frontend/ops_recurrent.py unrolls LSTM, GRU and RNN nodes into ordinary IR ops. The values that
carry the state from one step to the next (and the products summed into it) are recorded here, in
graph.meta[META_KEY] (a JSON list of value names), so that the quantizer can keep them in int16
(passes/state16.py) without recognising the cells again:

    LSTM   fc = f * c'    ig = i * g    c = fc + ig          (and c * mask, the state kept by Concat
                                                              under a constant sequence_lens)
    GRU    d = h' - n     zd = z * d    h = n + zd           (first step: zn = z * n, h = n - zn;
                                                              h * mask, the kept state)

A state re-quantized to int8 at every step collects one rounding error per step (its grid is the
range of the whole sequence over 255 steps), so over a long sequence it drifts; TFLite's integer
LSTM therefore keeps the cell state in int16 (lstm_eval.cc, EvalInteger8x8_16). RNN has no such
sum: its state is an activation of fresh values at every step, bounded by the activation.
"""
from __future__ import annotations

import json

from .graph import Graph

META_KEY = "recurrent_state"


def read(g: Graph) -> list[str]:
    """The recorded state values of g, in recording order (empty for a model without LSTM / GRU)."""
    return list(json.loads(g.meta.get(META_KEY, "[]")))


def record(g: Graph, values) -> None:
    """Add values (names of g, None entries ignored) to g's recorded state values."""
    have = read(g)
    seen = set(have)
    for v in values:
        if v is not None and v not in seen:
            have.append(v)
            seen.add(v)
    g.meta[META_KEY] = json.dumps(have)
