"""plan_memory's Concat slices: a Concat whose operands are contiguous byte ranges of its output
makes each operand a view at its offset (its producer writes there, the Concat runs no kernel);
every case that must stay a copy gives its reason; the verifier rejects broken slice offsets."""
import numpy as np
import pytest

from qcomp.ir import DType, Graph, IRError, QuantParams, Stage, TensorType, format_graph, ops, qops, verify
from qcomp.ir.memory import MemoryPlan, lifetimes, plan_errors
from qcomp.passes.plan_memory import plan_memory, view_slices
from qcomp.ref import run_integer

Q = QuantParams(0.1, 0)


def _graph(shape=(1, 64)) -> Graph:
    g = Graph(stage=Stage.TARGET)
    g.add_input("x", TensorType(shape, DType.INT8, Q))
    return g


def halve(g: Graph, x: str, name: str) -> str:
    """An integer op (x / 2, rounded) that reads x and writes a new int8 value."""
    t = TensorType(g.types[x].shape, DType.INT8, Q)
    return g.add_node(qops.QRequantize(0, 1 << 30, 0, 0), [x], name, out_types=[t]).outputs[0]


def concat(g: Graph, xs, name: str, axis: int = 1) -> str:
    t = ops.Concat(axis).infer([g.types[x] for x in xs])[0]
    return g.add_node(ops.Concat(axis), xs, name, out_types=[TensorType(t.shape, t.dtype, Q)]).outputs[0]


def reshape(g: Graph, x: str, shape, name: str) -> str:
    t = TensorType(tuple(shape), g.types[x].dtype, Q)
    return g.add_node(ops.Reshape(tuple(shape)), [x], name, out_types=[t]).outputs[0]


def copies_of(g: Graph) -> dict[str, str]:
    why: dict[str, str] = {}
    view_slices(g, copies=why)
    return why


def sequence() -> Graph:
    """a, b = halve(x) twice; c = Concat(a, Reshape(b)) on axis 1; y = halve(c); a is read again later."""
    g = _graph()
    a = halve(g, "x", "a")
    b = halve(g, "x", "b")
    c = concat(g, [a, reshape(g, b, (1, 64), "bv")], "c")
    y = halve(g, c, "y")
    g.outputs = [y, halve(g, a, "a2")]
    return verify(g)


def test_before_after_sequence_concat_is_one_storage():
    g = sequence()
    after, before = verify(plan_memory(g)), verify(plan_memory(g, concats=False))
    assert set(before.memory.offsets) == {"a", "b", "c"}
    plan = after.memory
    assert dict(plan.aliases) == {"a": "c", "b": "c", "bv": "c"}
    assert dict(plan.view_offsets) == {"b": 64, "bv": 64}
    assert set(plan.offsets) == {"c"} and lifetimes(after, plan.aliases) == {"c": (0, 5)}   # a read at step 5
    assert [n.name for n in after.nodes if plan.is_view(n)] == ["bv", "c"]
    assert plan.workspace_bytes == 128 < before.memory.workspace_bytes == 256   # a, b and c alive together
    assert format_graph(after, constants=False).endswith(
        "  memory workspace=128 activation=128 align=64\n"
        "    %c @0 +128 steps 0..5\n"
        "    %a view of %c\n"
        "    %b view of %c @+64\n"
        "    %bv view of %c @+64")
    x = np.random.default_rng(0).integers(-128, 128, (1, 64)).astype(np.int8)
    want = run_integer(g, {"x": x})
    for k, v in run_integer(after, {"x": x}).items():
        np.testing.assert_array_equal(v, want[k])


def test_nested_concats_into_a_graph_output():
    g = _graph()
    a, b, d = (halve(g, "x", n) for n in "abd")
    inner = concat(g, [a, b], "inner")
    g.outputs = [concat(g, [reshape(g, inner, (1, 128), "iv"), d], "out")]
    plan = verify(plan_memory(verify(g))).memory
    assert {v: (plan.storage(v), plan.offset_in_storage(v)) for v in ("a", "b", "inner", "iv", "d")} == {
        "a": ("out", 0), "b": ("out", 64), "inner": ("out", 0), "iv": ("out", 0), "d": ("out", 128)}
    assert plan.workspace_bytes == 0 and not plan.offsets


def test_a_concat_reshaped_into_a_graph_output_moves_there():
    g = _graph()
    c = concat(g, [halve(g, "x", "a"), halve(g, "x", "b")], "c")
    g.outputs = [reshape(g, c, (2, 64), "y")]
    plan = verify(plan_memory(verify(g))).memory
    assert dict(plan.aliases) == {"a": "y", "b": "y", "c": "y"} and plan.view_offsets == {"b": 64}


def test_channel_concat_in_nhwc_copies():
    g = _graph((1, 2, 4, 8))
    c = concat(g, [halve(g, "x", "a"), halve(g, "x", "b")], "c", axis=3)
    g.outputs = [halve(g, c, "y")]
    assert copies_of(verify(g)) == {"c": "its operands are strided in the output (axes before the concat "
                                         "axis 3 have extents (1, 2, 4), not all 1)"}
    assert not verify(plan_memory(g)).memory.aliases


def test_concat_along_h_of_nhwc_is_a_view():
    g = _graph((1, 2, 4, 8))
    c = concat(g, [halve(g, "x", "a"), halve(g, "x", "b")], "c", axis=1)
    g.outputs = [halve(g, c, "y")]
    assert verify(plan_memory(verify(g))).memory.view_offsets == {"b": 64}


def _copy_cases():
    """(graph, the Concat's output, the words of its reason): one per rule of plan_memory."""
    g = _graph((1, 40))                          # operand sizes 40: slice 1 starts at byte 40
    g.outputs = [concat(g, [halve(g, "x", "a"), halve(g, "x", "b")], "c")]
    yield g, "c", "not a multiple of 64 ([0, 40])"
    g = _graph()
    g.outputs = [concat(g, [halve(g, "x", "a"), "x"], "c")]
    yield g, "c", "operand 'x' is (a view of) a graph input, output or constant"
    g = _graph()
    xv = reshape(g, "x", (1, 64), "xv")
    g.outputs = [concat(g, [xv, halve(g, "x", "a")], "c")]
    yield g, "c", "operand 'xv' is (a view of) a graph input"
    g = _graph()
    k = g.add_constant("k", np.arange(64, dtype=np.int8).reshape(1, 64), Q)
    g.outputs = [concat(g, [halve(g, "x", "a"), k], "c")]
    yield g, "c", "operand 'k' is (a view of) a graph input, output or constant"
    g = _graph()
    a = halve(g, "x", "a")
    g.outputs = [a, concat(g, [a, halve(g, "x", "b")], "c")]
    yield g, "c", "operand 'a' is (a view of) a graph input, output or constant"
    g = _graph()
    a = halve(g, "x", "a")
    g.outputs = [concat(g, [a, a], "c")]
    yield g, "c", "two operands share their storage"
    g = _graph()
    a = halve(g, "x", "a")
    g.outputs = [concat(g, [a, reshape(g, a, (1, 64), "av")], "c")]
    yield g, "c", "two operands share their storage"
    g = _graph()
    a, b = halve(g, "x", "a"), halve(g, "x", "b")
    g.outputs = [halve(g, concat(g, [a, b], "c1"), "y"), concat(g, [b, a], "c2")]   # c1 claims a and b
    yield g, "c2", "operand 'b' is already a slice of another Concat's output"


@pytest.mark.parametrize("case", range(8))
def test_each_copy_case_gives_its_reason_and_runs_a_kernel(case):
    g, name, words = list(_copy_cases())[case]
    why = copies_of(verify(g))
    assert list(why) == [name] and words in why[name], why
    p = verify(plan_memory(g))
    node = next(n for n in p.nodes if n.outputs[0] == name)
    assert not p.memory.is_view(node)


def test_a_slice_reshaped_into_a_graph_output_is_a_copy():
    g = _graph()
    a, b = halve(g, "x", "a"), halve(g, "x", "b")
    c = concat(g, [a, b], "c")
    g.outputs = [halve(g, c, "y"), reshape(g, b, (64,), "bout")]
    p = verify(plan_memory(verify(g)))
    assert p.memory.storage("b") == "c" and p.memory.storage("bout") == "bout"
    assert [n.name for n in p.nodes if p.memory.is_view(n)] == ["c"]


def test_the_slices_survive_save_and_load(tmp_path):
    from qcomp.ir.serialize import graph_sha256, load_graph, save_graph
    g = verify(plan_memory(sequence()))
    save_graph(g, tmp_path / "g.qir")
    back = verify(load_graph(tmp_path / "g.qir"))
    assert back.memory == g.memory and graph_sha256(back) == graph_sha256(g)
    assert graph_sha256(g) != graph_sha256(plan_memory(sequence(), concats=False))


def _broken(**change) -> Graph:
    g = plan_memory(sequence())
    m = g.memory
    fields = {"offsets": dict(m.offsets), "sizes": dict(m.sizes), "workspace_bytes": m.workspace_bytes,
              "activation_bytes": m.activation_bytes, "aliases": dict(m.aliases), "view_offsets": dict(m.view_offsets),
              "concat_views": m.concat_views}
    for key, value in change.items():
        fields[key] = value(fields[key])
    g.memory = MemoryPlan(**fields)
    return g


@pytest.mark.parametrize("change,message", [
    ({"view_offsets": lambda o: {**o, "bv": 0}}, "Reshape 'bv' is a view, but 'b' and 'bv' start at different offsets"),
    ({"view_offsets": lambda o: {"b": 0, "bv": 0}}, "operand 'bv' lives at offset 0 of 'c', its slice starts at 64"),
    ({"view_offsets": lambda o: {**o, "a": 32}}, "view 'a' at [32, 96) of 'c' is not an 64-aligned range"),
    ({"view_offsets": lambda o: {**o, "a": 128}}, "view 'a' at [128, 192) of 'c' is not an 64-aligned range inside its 128 bytes"),
    ({"view_offsets": lambda o: {**o, "y": 64}}, "'y' has a view offset but is not a view"),
    ({"aliases": lambda a: {k: v for k, v in a.items() if k != "a"}},
     "Concat 'c' is a view, but operands ['a'] live elsewhere"),
])
def test_verifier_rejects_broken_slices(change, message):
    g = _broken(**change)
    errs = plan_errors(g, g.memory)
    assert any(message in e for e in errs), errs
    with pytest.raises(IRError, match="memory plan"):
        verify(g)


# ---- strided slices (an NHWC channel concat), for producers the backend says write rows -----------

def rows_ok(node, graph):
    return None if node.name.startswith("w") else f"{node.name} writes dense outputs only"


def fire() -> Graph:
    """wa, wb (row writers) -> Concat on the channel axis of (1, 2, 4, 8): strided slices; a dense
    writer's operand and an operand with another reader keep the second Concat a copy."""
    g = _graph((1, 2, 4, 8))
    wa, wb = halve(g, "x", "wa"), halve(g, "x", "wb")
    c = concat(g, [wa, wb], "c", axis=3)
    d = halve(g, "x", "d")
    wc = halve(g, "x", "wc")
    e = concat(g, [d, wc], "e", axis=3)
    wd = halve(g, "x", "wd")
    f = concat(g, [wd, halve(g, "x", "we")], "f", axis=3)
    g.outputs = [halve(g, c, "y"), e, f, halve(g, wd, "z")]
    return verify(g)


def test_strided_slices_for_row_writers():
    g = fire()
    why: dict[str, str] = {}
    aliases, offsets, rows, concat_views = view_slices(g, copies=why, strided=rows_ok)
    assert aliases == {"wa": "c", "wb": "c"} and offsets == {"wb": 8} and rows == {"wa": (8, 16), "wb": (8, 16)}
    assert concat_views == {"c"}
    assert why == {"e": "operand 'd': d writes dense outputs only",
                   "f": "operand 'wd' is read by other nodes too, which read dense tensors"}
    p = verify(plan_memory(g, strided=rows_ok))
    assert p.memory.row_stride("wb") == 16 and p.memory.row_stride("c") is None
    assert [n.name for n in p.nodes if p.memory.is_view(n)] == ["c"]
    assert not plan_memory(g).memory.view_rows                      # without strided=: every channel Concat copies


def test_strided_slices_survive_save_and_load(tmp_path):
    from qcomp.ir.serialize import load_graph, save_graph
    p = verify(plan_memory(fire(), strided=rows_ok))
    save_graph(p, tmp_path / "g.qir")
    assert verify(load_graph(tmp_path / "g.qir")).memory == p.memory


@pytest.mark.parametrize("change,message", [
    ({"view_rows": lambda r: {**r, "wb": (8, 32)}}, "operand 'wb' has rows (8, 32), its slice is rows of 8 bytes 16 apart"),
    ({"view_rows": lambda r: {"wa": (8, 16)}}, "view 'wb' at [8, 72) of 'c' is not an 64-aligned range"),
    ({"view_offsets": lambda o: {"wb": 64}}, "strided view 'wb' (8 rows of 8 bytes, 16 apart, at 64) is not inside"),
])
def test_verifier_rejects_broken_strided_slices(change, message):
    g = plan_memory(fire(), strided=rows_ok)
    m = g.memory
    fields = {"offsets": dict(m.offsets), "sizes": dict(m.sizes), "workspace_bytes": m.workspace_bytes,
              "activation_bytes": m.activation_bytes, "aliases": dict(m.aliases),
              "view_offsets": dict(m.view_offsets), "view_rows": dict(m.view_rows),
              "concat_views": m.concat_views}
    for key, value in change.items():
        fields[key] = value(fields[key])
    g.memory = MemoryPlan(**fields)
    errs = plan_errors(g, g.memory)
    assert any(message in e for e in errs), errs


def test_verifier_rejects_a_strided_value_with_another_reader():
    g = fire()
    # wd is read by f and z: a plan that makes f a strided view anyway must fail
    m = plan_memory(g, strided=rows_ok).memory
    g.memory = MemoryPlan(m.offsets, m.sizes, m.workspace_bytes, m.activation_bytes,
                          {**m.aliases, "wd": "f", "we": "f"}, {**m.view_offsets, "we": 8},
                          {**m.view_rows, "wd": (8, 16), "we": (8, 16)}, m.concat_views | {"f"})
    assert any("strided view 'wd' is read by ['f', 'z']" in e for e in plan_errors(g, g.memory))


def test_the_printer_shows_strided_slices():
    text = format_graph(plan_memory(fire(), strided=rows_ok), constants=False)
    assert "    %wa view of %c rows 8/16\n    %wb view of %c @+8 rows 8/16" in text, text


def test_an_operand_with_other_quant_params_is_written_by_its_requantize(tmp_path):
    """The compiler's way: two Gemm branches of different ranges into a sequence Concat; quantize puts
    a Requantize before the operand whose params differ from the output's, and that Requantize (not
    the Gemm) writes into the slice."""
    from onnx import TensorProto, helper, numpy_helper, save
    from qcomp.api import load_model
    from qcomp.builder import BuildOptions, quantize_model
    from qcomp.passes.lower_integer import lower_integer
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.normal(0, s, (64, 64)).astype(np.float32), f"w{i}")
             for i, s in enumerate((0.1, 1.0, 0.1))]
    nodes = [helper.make_node("Gemm", ["x", "w0"], ["a"], name="ga"),
             helper.make_node("Gemm", ["x", "w1"], ["b"], name="gb"),
             helper.make_node("Reshape", ["a", "shape"], ["a3"]), helper.make_node("Reshape", ["b", "shape"], ["b3"]),
             helper.make_node("Concat", ["a3", "b3"], ["c"], name="cat", axis=1),
             helper.make_node("Reshape", ["c", "flat"], ["cf"]),
             helper.make_node("MatMul", ["cf", "w2"], ["y"], name="head")]
    inits += [numpy_helper.from_array(np.array([1, 1, 64], np.int64), "shape"),
              numpy_helper.from_array(np.array([2, 64], np.int64), "flat")]
    graph = helper.make_graph(nodes, "two_ranges", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 64])], inits)
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "m.onnx")
    np.savez(tmp_path / "calib.npz", x=rng.normal(0, 1, (4, 1, 64)).astype(np.float32))
    q, _ = quantize_model(load_model(tmp_path / "m.onnx", {}), BuildOptions(calib=str(tmp_path / "calib.npz")))
    p = verify(plan_memory(verify(lower_integer(q))))
    cat = next(n for n in p.nodes if isinstance(n.op, ops.Concat))
    producers = {o: n for n in p.nodes for o in n.outputs}
    assert p.memory.is_view(cat)
    kinds = []
    for x in cat.inputs:
        w = producers[x]
        while isinstance(w.op, ops.Reshape):     # a Reshape view: its input's producer writes the bytes
            w = producers[w.inputs[0]]
        kinds.append(type(w.op).__name__)
    assert "QRequantize" in kinds and "QDense" in kinds, kinds
    assert all(p.memory.storage(x) == p.memory.storage(cat.outputs[0]) for x in cat.inputs)
