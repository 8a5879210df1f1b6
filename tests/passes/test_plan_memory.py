"""plan_memory: offsets by liveness, Reshape views, the plan in the IR (printer) and the verifier's
checks of it (every negative case names what is wrong)."""
import numpy as np
import pytest

from qcomp.ir import DType, Graph, IRError, QuantParams, Stage, TensorType, format_graph, ops, qops, verify
from qcomp.ir.memory import ALIGN, MemoryPlan, lifetimes, plan_errors
from qcomp.passes import PassError, run_passes
from qcomp.passes.plan_memory import plan_memory
from qcomp.ref import run_integer

I8 = TensorType((1, 64), DType.INT8, QuantParams(0.1, 0))


def chain(n_layers=6, width=64) -> Graph:
    g = Graph(stage=Stage.TARGET)
    g.add_input("x", TensorType((1, width), DType.FLOAT32))
    prev = "x"
    for k in range(n_layers):
        w = g.add_constant(f"w{k}", np.zeros((width, width), np.float32))
        b = g.add_constant(f"b{k}", np.zeros(width, np.float32))
        prev = g.add_node(ops.Dense(), [prev, w, b], f"fc{k}").outputs[0]
    g.outputs = [prev]
    return g


def halve(g: Graph, x: str, name: str) -> str:
    """An integer op (x / 2, rounded) that reads x and writes a new int8 value."""
    t = TensorType(g.types[x].shape, DType.INT8, I8.quant)
    return g.add_node(qops.QRequantize(0, 1 << 30, 0, 0), [x], name, out_types=[t]).outputs[0]


def concat(g: Graph, xs, name: str) -> str:
    axis = g.types[xs[0]].rank - 1
    t = ops.Concat(axis).infer([g.types[x] for x in xs])[0]
    return g.add_node(ops.Concat(axis), xs, name, out_types=[TensorType(t.shape, t.dtype, I8.quant)]).outputs[0]


def reshape(g: Graph, x: str, shape, name: str) -> str:
    t = TensorType(tuple(shape), g.types[x].dtype, g.types[x].quant)
    return g.add_node(ops.Reshape(tuple(shape)), [x], name, out_types=[t]).outputs[0]


def flattening() -> Graph:
    """x -> a -> Reshape f1 -> Reshape f2 -> b -> Reshape back -> c = Concat(back, a)."""
    g = Graph(stage=Stage.TARGET)
    g.add_input("x", TensorType((1, 2, 4, 8), DType.INT8, I8.quant))
    a = halve(g, "x", "a")
    f1 = reshape(g, a, (1, 64), "f1")
    f2 = reshape(g, f1, (8, 8), "f2")
    b = halve(g, f2, "b")
    g.outputs = [concat(g, [reshape(g, b, (1, 2, 4, 8), "back"), a], "c")]
    return verify(g)


def test_a_chain_reuses_two_buffers():
    g = verify(plan_memory(chain()))
    plan = g.memory
    assert plan.activation_bytes == 5 * 64 * 4                  # fc0..fc4 (fc5 is the output)
    assert plan.workspace_bytes == 2 * 256 and len(set(plan.offsets.values())) == 2
    assert not plan.aliases


def test_values_alive_together_never_overlap():
    g = Graph(stage=Stage.TARGET)
    g.add_input("x", TensorType((1, 100), DType.FLOAT32))
    a = g.add_node(ops.Relu(), ["x"], "a").outputs[0]
    b = g.add_node(ops.Sigmoid(), ["x"], "b").outputs[0]
    c = g.add_node(ops.Tanh(), [a], "c").outputs[0]
    d = g.add_node(ops.Add(), [b, c], "d").outputs[0]
    g.outputs = [g.add_node(ops.Relu(), [d], "y").outputs[0]]
    plan = verify(plan_memory(g)).memory
    assert lifetimes(g)["b"] == (1, 3)
    assert all(o % ALIGN == 0 for o in plan.offsets.values())
    assert plan.offsets["b"] not in (plan.offsets["a"], plan.offsets["c"])


def test_before_after_reshape_chain_is_one_storage():
    g = flattening()
    after = verify(plan_memory(g))
    # before: every Reshape output is its own workspace value
    before = verify(plan_memory(g, aliases=False))
    assert set(before.memory.offsets) == {"a", "f1", "f2", "b", "back"} and not before.memory.aliases
    # after: f1 and f2 are views of a, back a view of b; a lives until c reads it (step 5)
    plan = after.memory
    assert dict(plan.aliases) == {"f1": "a", "f2": "a", "back": "b"}
    assert set(plan.offsets) == {"a", "b"}
    assert lifetimes(after, plan.aliases) == {"a": (0, 5), "b": (3, 5)}
    assert plan.offsets["a"] != plan.offsets["b"]
    assert plan.workspace_bytes == 128 < before.memory.workspace_bytes == 192
    assert plan.activation_bytes == 128 < before.memory.activation_bytes == 320
    assert [n.name for n in after.nodes if plan.is_view(n)] == ["f1", "f2", "back"]
    text = format_graph(after, constants=False)
    assert text.endswith("  memory workspace=128 activation=128 align=64\n"
                         "    %a @0 +64 steps 0..5\n"
                         "    %b @64 +64 steps 3..5\n"
                         "    %f1 view of %a\n"
                         "    %f2 view of %a\n"
                         "    %back view of %b"), text
    # the interpreter does not look at the plan: same results with and without views
    x = np.random.default_rng(0).integers(-128, 128, (1, 2, 4, 8)).astype(np.int8)
    np.testing.assert_array_equal(run_integer(after, {"x": x})["c"], run_integer(g, {"x": x})["c"])


def test_reshapes_at_inputs_outputs_and_constants():
    g = Graph(stage=Stage.TARGET)
    g.add_input("x", TensorType((2, 32), DType.INT8, I8.quant))
    k = g.add_constant("k", np.arange(64, dtype=np.int8).reshape(8, 8), I8.quant)
    xv = reshape(g, "x", (1, 64), "xv")          # a view of the caller's input buffer
    kv = reshape(g, k, (1, 64), "kv")            # a view of the constant
    s = concat(g, [xv, kv], "s")
    a = halve(g, xv, "a")
    out1 = reshape(g, a, (64,), "out1")          # a's producer writes into output 1
    out2 = reshape(g, a, (8, 8), "out2")         # a second output from a: a copy
    copy = reshape(g, "x", (64,), "copy")        # input -> output: a copy
    g.outputs = [out1, out2, copy, s]
    g = verify(plan_memory(verify(g)))
    plan = g.memory
    assert dict(plan.aliases) == {"xv": "x", "kv": "k", "a": "out1"}
    assert set(plan.offsets) == set() and plan.workspace_bytes == 0
    assert [n.name for n in g.nodes if plan.is_view(n)] == ["xv", "kv", "out1"]


def test_the_plan_survives_save_and_load(tmp_path):
    from qcomp.ir.serialize import graph_sha256, load_graph, save_graph
    g = verify(plan_memory(flattening()))
    save_graph(g, tmp_path / "g.qir")
    back = verify(load_graph(tmp_path / "g.qir"))
    assert back.memory == g.memory and format_graph(back) == format_graph(g)
    assert graph_sha256(back) == graph_sha256(g) != graph_sha256(flattening())


def test_plan_memory_needs_a_target_graph():
    g = chain()
    g.stage = Stage.QUANTIZED
    with pytest.raises(Exception, match="TARGET"):
        plan_memory(g)


# ---- the verifier's checks (negative cases) ------------------------------------------------

def _planned(**change) -> Graph:
    g = plan_memory(flattening())
    fields = {"offsets": dict(g.memory.offsets), "sizes": dict(g.memory.sizes),
              "workspace_bytes": g.memory.workspace_bytes, "activation_bytes": g.memory.activation_bytes,
              "aliases": dict(g.memory.aliases)}
    for key, value in change.items():
        fields[key] = value(fields[key]) if callable(value) else value
    g.memory = MemoryPlan(**fields)
    return g


@pytest.mark.parametrize("change,message", [
    ({"offsets": lambda o: {**o, "b": o["a"]}}, "'a' (steps 0..5) and 'b' (steps 3..5) are alive together and overlap"),
    ({"offsets": lambda o: {**o, "b": 32}}, "'b' at offset 32 is not aligned to 64"),
    ({"offsets": lambda o: {k: v for k, v in o.items() if k != "b"}}, "'b' lives in the workspace but has no offset"),
    ({"workspace_bytes": 100}, "'b' at [64, 128) is outside the workspace of 100 bytes"),
    ({"offsets": lambda o: {**o, "f1": 128}}, "'f1' has an offset but is not a workspace value"),
    ({"aliases": lambda a: {**a, "b": "a", "back": "a"}}, "is not a chain of Reshapes"),
    ({"aliases": lambda a: {**a, "f2": "f1"}}, "'f2' is a view of 'f1', which is a view itself"),
    ({"sizes": lambda s: {**s, "a": 32}}, "'a' is planned with 32 bytes"),
])
def test_verifier_rejects_a_broken_plan(change, message):
    g = _planned(**change)
    with pytest.raises(IRError, match="memory plan") as e:
        verify(g)
    assert message in str(e.value)


def test_verifier_accepts_the_plan_and_rejects_a_view_across_caller_buffers():
    g = Graph(stage=Stage.TARGET)
    g.add_input("x", TensorType((2, 32), DType.INT8, I8.quant))
    g.outputs = [reshape(g, "x", (64,), "y")]
    g = plan_memory(g)
    assert not plan_errors(g, g.memory)
    g.memory = MemoryPlan({}, {}, 0, 0, {"x": "y"})
    assert any("holds caller buffers or constants ['x', 'y']" in e for e in plan_errors(g, g.memory))


def test_a_plan_outside_target_stage_is_an_error():
    g = chain()
    g.stage = Stage.QUANTIZED
    g.memory = MemoryPlan({}, {}, 0, 0)
    with pytest.raises(IRError, match="QUANTIZED graph carries a memory plan"):
        verify(g)


def test_a_pass_that_breaks_the_plan_is_named():
    def shuffle(g: Graph) -> Graph:
        out = g.copy()
        out.memory = MemoryPlan({v: 0 for v in g.memory.offsets}, g.memory.sizes, g.memory.workspace_bytes,
                                g.memory.activation_bytes, g.memory.aliases)
        return out
    with pytest.raises(PassError, match="pass shuffle .after plan_memory. produced an invalid graph.*overlap"):
        run_passes(flattening(), (plan_memory, shuffle))
