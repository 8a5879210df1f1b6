"""The backend protocol (qcomp/protocol.py): every backend of the registry lists every node it cannot
emit in check(), and emit() refuses such a graph with ONE UnsupportedModelError naming them all."""
from __future__ import annotations

import numpy as np
import pytest

from qcomp.errors import UnsupportedModelError
from qcomp.ir import DType, Graph, QuantParams, Stage, TensorType, ops, qops, verify
from qcomp.protocol import BACKENDS, Problem, backend_module, refuse
from qcomp.target import all_targets, get_target

F, I8 = DType.FLOAT32, DType.INT8


def _two_float_nodes() -> Graph:
    """Two float ops no compiled backend emits: ConvTranspose2D (float) and Sigmoid on float16."""
    g = Graph("two", Stage.TARGET)
    g.add_input("x", TensorType((1, 3, 3, 2), F))
    w = g.add_constant("w", np.ones((2, 2, 2, 2), np.float32))
    b = g.add_constant("b", np.zeros(2, np.float32))
    g.add_node(ops.ConvTranspose2D(), ["x", w, b], "up", outputs=["y"])
    g.add_node(ops.Cast(to=DType.FLOAT16), ["y"], "half", outputs=["h"])
    g.add_node(ops.Sigmoid(), ["h"], "gate", outputs=["z"])
    g.outputs = ["z"]
    return verify(g)


@pytest.mark.parametrize("target_name", ["x86-vnni", "cuda", "dsp-c"])
def test_every_problem_is_reported_at_once(target_name, tmp_path):
    g = _two_float_nodes()
    target = get_target(target_name)
    backend = backend_module(target.backend)
    problems = backend.check(g, target)
    named = [p.node for p in problems]
    assert "up" in named and "gate" in named, problems
    with pytest.raises(UnsupportedModelError) as e:
        backend.emit(g, target, tmp_path)
    msg = str(e.value)
    assert msg == str(refuse(problems, target))
    assert msg.startswith(f"target {target_name} cannot build this model: {len(problems)} node(s)")
    assert "node 'up' (ConvTranspose2D f32, f32, f32 -> f32)" in msg and "node 'gate' (Sigmoid f16 -> f16)" in msg
    assert not any(tmp_path.iterdir()), "a refused build wrote files"


def test_problem_names_node_op_dtypes_reason_and_advice():
    """An int8 node a backend cannot emit: the advice is to keep it in float (--skip NODE)."""
    g = Graph("mm", Stage.TARGET)
    q = QuantParams(0.5, 1)
    g.add_input("a", TensorType((4,), I8, q))
    g.add_input("b", TensorType((4,), I8, q))
    g.add_node(qops.QMatMul(1, 1, 1 << 30, 0, 0, -128, 127), ["a", "b"], "dot", outputs=["y"],
               out_types=[TensorType((), I8, q)])
    g.outputs = ["y"]
    [p] = backend_module("llvm").check(g, get_target("x86-vnni"))
    assert p == Problem("dot", "QMatMul", "i8, i8 -> i8", p.reason, p.advice)
    assert "1-D" in p.reason and p.advice.startswith("use --skip dot to keep it in float")
    assert str(p) == f"node 'dot' (QMatMul i8, i8 -> i8): {p.reason}; {p.advice}"


def test_every_target_has_a_registered_backend():
    for t in all_targets().values():
        assert t.backend in BACKENDS, f"target {t.name}: backend {t.backend!r} is not in qcomp.protocol.BACKENDS"


def test_an_unknown_backend_is_a_clear_error():
    with pytest.raises(UnsupportedModelError, match="backend 'tpu' is not part of this qcomp version"):
        backend_module("tpu")
