import numpy as np

from qcomp.ir import DType, Graph, TensorType, ops
from qcomp.passes.plan_memory import ALIGN, MemoryPlan, check_plan, lifetimes, plan_memory


def chain(n_layers=6, width=64) -> Graph:
    g = Graph()
    g.add_input("x", TensorType((1, width), DType.FLOAT32))
    prev = "x"
    for k in range(n_layers):
        w = g.add_constant(f"w{k}", np.zeros((width, width), np.float32))
        b = g.add_constant(f"b{k}", np.zeros(width, np.float32))
        prev = g.add_node(ops.Dense(), [prev, w, b], f"fc{k}").outputs[0]
    g.outputs = [prev]
    return g


def test_a_chain_reuses_two_buffers():
    g = chain()
    plan = plan_memory(g)
    check_plan(g, plan)
    assert plan.activation_bytes == 5 * 64 * 4                  # fc0..fc4 (fc5 is the output)
    assert plan.workspace_bytes == 2 * 256 and len(set(plan.offsets.values())) == 2


def test_values_alive_together_never_overlap():
    g = Graph()
    g.add_input("x", TensorType((1, 100), DType.FLOAT32))
    a = g.add_node(ops.Relu(), ["x"], "a").outputs[0]
    b = g.add_node(ops.Sigmoid(), ["x"], "b").outputs[0]
    c = g.add_node(ops.Tanh(), [a], "c").outputs[0]
    d = g.add_node(ops.Add(), [b, c], "d").outputs[0]
    g.outputs = [g.add_node(ops.Relu(), [d], "y").outputs[0]]
    plan = plan_memory(g)
    check_plan(g, plan)
    assert lifetimes(g)["b"] == (1, 3)
    assert all(o % ALIGN == 0 for o in plan.offsets.values())
    assert plan.offsets["b"] not in (plan.offsets["a"], plan.offsets["c"])


def test_check_plan_catches_an_overlap():
    g2 = Graph()
    g2.add_input("x", TensorType((1, 4), DType.FLOAT32))
    p = g2.add_node(ops.Relu(), ["x"], "p").outputs[0]
    q = g2.add_node(ops.Relu(), ["x"], "q").outputs[0]
    g2.outputs = [g2.add_node(ops.Add(), [p, q], "s").outputs[0]]
    bad2 = MemoryPlan({"p": 0, "q": 0}, {"p": 16, "q": 16}, 64, 32)
    try:
        check_plan(g2, bad2)
    except AssertionError as e:
        assert "overlap" in str(e)
    else:
        raise AssertionError("check_plan missed an overlap")
