"""The naive QLayerNorm16 for the op-case table: each row of the normalized axes through
tests/fixedpoint/bigint_layernorm16.py (exact Fractions, written from the math independently of
qcomp.fixedpoint and qcomp.ref; like naive.py it reads graphs through qcomp.ir only)."""
from __future__ import annotations

import numpy as np

from qcomp.ir import Graph, Node

try:
    from fixedpoint import bigint_layernorm16          # tests/ on sys.path (pytest)
except ImportError:                                    # imported as tests.opcases.naive_norm16 from the root
    from tests.fixedpoint import bigint_layernorm16

_DT = {"i8": np.int8, "i16": np.int16}


def q_layer_norm16(g: Graph, node: Node, x, gamma_q, beta_q):
    op = node.op
    n = int(np.prod(x.shape[op.axis:]))
    gamma, beta = [int(v) for v in gamma_q.reshape(-1)], [int(v) for v in beta_q.reshape(-1)]
    rows = x.astype(np.int64).reshape(-1, n).tolist()
    out = [bigint_layernorm16.layer_norm_row(r, op.eps_q, gamma, beta, op.output_zero_point, op.qmin, op.qmax)
           for r in rows]
    return np.array(out, np.int64).reshape(x.shape).astype(_DT[op.out_dtype])
