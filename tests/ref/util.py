"""Build a one-node graph around an op and run it through qcomp.ref.run_float."""
from __future__ import annotations

import numpy as np

from qcomp.ir import Graph, Op, tensor_type_of, verify
from qcomp.ref import run_float


def run_op(op: Op, inputs: list[np.ndarray], const: tuple[int, ...] = ()) -> list[np.ndarray]:
    """Run `op` on `inputs`; the inputs whose positions are in `const` become graph constants, the
    others graph inputs. Returns the node's outputs in order."""
    g = Graph("t")
    names = []
    for k, a in enumerate(inputs):
        if k in const:
            names.append(g.add_constant(f"c{k}", a))
        else:
            names.append(g.add_input(f"x{k}", tensor_type_of(a)))
    node = g.add_node(op, names, "node")
    g.outputs.extend(node.outputs)
    verify(g)
    feeds = {n: a for k, (n, a) in enumerate(zip(names, inputs)) if k not in const}
    out = run_float(g, feeds)
    return [out[o] for o in node.outputs]


def run1(op: Op, *inputs: np.ndarray, const: tuple[int, ...] = ()) -> np.ndarray:
    (y,) = run_op(op, list(inputs), const)
    return y


def close(got: np.ndarray, want: np.ndarray, rtol: float = 1e-5) -> None:
    """float32 result against a float64 reference: rtol on each element, plus an absolute slack of
    rtol * max|want| for elements that are sums with cancellation."""
    assert got.shape == want.shape, (got.shape, want.shape)
    atol = rtol * float(np.max(np.abs(want))) if want.size else 0.0
    np.testing.assert_allclose(got.astype(np.float64), want, rtol=rtol, atol=atol)
