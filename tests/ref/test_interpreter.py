"""run_float itself: input checking, the on_value stream, freeing dead values, the kernel table."""
from __future__ import annotations

import gc
import weakref
from dataclasses import dataclass

import numpy as np
import pytest

from qcomp.errors import InputError, QcompError, UnsupportedModelError
from qcomp.ir import ALL_OPS, DType, Graph, IRError, Stage, TensorType, ops
from qcomp.ref import KERNELS, MissingKernelError, run_float

F32 = DType.FLOAT32


def _two_input_graph() -> Graph:
    g = Graph("m")
    g.add_input("image", TensorType((1, 4, 4, 3), F32))
    g.add_input("ids", TensorType((2,), DType.INT64))
    table = g.add_constant("table", np.arange(15, dtype=np.float32).reshape(5, 3))
    emb = g.add_node(ops.Gather(axis=0), [table, "ids"], "embed").outputs[0]
    r = g.add_node(ops.Relu(), ["image"], "relu").outputs[0]
    g.outputs += [r, emb]
    return g


def _feeds():
    return {"image": np.ones((1, 4, 4, 3), np.float32), "ids": np.array([0, 4], np.int64)}


def test_runs_and_returns_outputs_by_name():
    out = run_float(_two_input_graph(), _feeds())
    assert list(out) == ["relu", "embed"]
    np.testing.assert_array_equal(out["embed"], [[0, 1, 2], [12, 13, 14]])


@pytest.mark.parametrize("feeds,pattern", [
    ({"image": np.ones((1, 4, 4, 3), np.float32)}, r"missing input 'ids': the model's inputs are 'image' "
                                                   r"float32\[1, 4, 4, 3\], 'ids' int64\[2\]"),
    ({**_feeds(), "imag": np.ones(1)}, r"unknown input 'imag': the model's inputs are 'image'"),
    ({**_feeds(), "image": np.ones((1, 4, 4, 3))}, r"input 'image' has dtype float64, expected float32 "
                                                  r"\(shape \(1, 4, 4, 3\)\): convert it with \.astype"),
    ({**_feeds(), "image": np.ones((1, 3, 4, 4), np.float32)}, r"input 'image' has shape \(1, 3, 4, 4\), "
                                                               r"expected \(1, 4, 4, 3\)"),
    ({**_feeds(), "ids": [0, 4]}, r"input 'ids' must be a numpy array of int64\[2\], got list"),
])
def test_bad_feeds_name_the_input_and_what_was_expected(feeds, pattern):
    with pytest.raises(InputError, match=pattern):
        run_float(_two_input_graph(), feeds)


def test_feeds_must_be_a_mapping():
    with pytest.raises(InputError, match="must be a dict"):
        run_float(_two_input_graph(), [np.ones(1)])


def test_rank0_input_accepts_a_numpy_scalar():
    g = Graph("s")
    g.add_input("t", TensorType((), F32))
    g.outputs.append(g.add_node(ops.Exp(), ["t"], "e").outputs[0])
    assert float(run_float(g, {"t": np.float32(0.0)})["e"]) == 1.0


def _chain(n: int) -> Graph:
    g = Graph("chain")
    prev = g.add_input("x", TensorType((64, 64), F32))
    for k in range(n):
        prev = g.add_node(ops.Tanh(), [prev], f"t{k}").outputs[0]
    g.outputs.append(prev)
    return g


def test_on_value_sees_every_input_and_node_output_in_order():
    g = _two_input_graph()
    seen = []
    run_float(g, _feeds(), on_value=lambda name, a: seen.append((name, a.shape)))
    assert seen == [("image", (1, 4, 4, 3)), ("ids", (2,)), ("embed", (2, 3)), ("relu", (1, 4, 4, 3))]


def test_values_are_freed_after_their_last_consumer():
    """When t3 is reported, t0 and t1 are dead (their consumers t1 and t2 have run): nothing holds them."""
    refs: dict[str, weakref.ref] = {}
    alive_at: dict[str, list[str]] = {}

    def on_value(name, array):
        gc.collect()
        alive_at[name] = [k for k, r in refs.items() if r() is not None]
        refs[name] = weakref.ref(array)

    out = run_float(_chain(5), {"x": np.zeros((64, 64), np.float32)}, on_value=on_value)
    # the caller's x stays alive (the test holds it); t_{k-1} is the input of t_k and still alive
    assert alive_at["t3"] == ["x", "t2"]
    assert alive_at["t4"] == ["x", "t3"]
    assert list(out) == ["t4"]


def test_graph_output_read_by_a_later_node_is_kept():
    g = Graph("g")
    x = g.add_input("x", TensorType((3,), F32))
    a = g.add_node(ops.Relu(), [x], "a").outputs[0]
    b = g.add_node(ops.Exp(), [a], "b").outputs[0]
    g.outputs += [a, b]
    out = run_float(g, {"x": np.array([-1.0, 0.0, 1.0], np.float32)})
    np.testing.assert_array_equal(out["a"], [0, 0, 1])


def test_graph_output_may_be_an_input_or_a_constant():
    g = Graph("g")
    x = g.add_input("x", TensorType((2,), F32))
    c = g.add_constant("c", np.array([5.0], np.float32))
    g.outputs += [x, c]
    out = run_float(g, {"x": np.array([1.0, 2.0], np.float32)})
    assert out["x"].tolist() == [1.0, 2.0] and out["c"].tolist() == [5.0]


def test_a_quantized_graph_is_refused():
    g = _two_input_graph()
    g.stage = Stage.QUANTIZED
    with pytest.raises(QcompError, match="FLOAT-stage graphs.*QUANTIZED: run it with the integer"):
        run_float(g, _feeds())


@dataclass(frozen=True)
class Mystery(ops.Unary):
    pass


def test_an_op_without_kernel_names_node_op_and_dtypes():
    g = Graph("g")
    g.add_input("x", TensorType((2,), F32))
    g.outputs.append(g.add_node(Mystery(), ["x"], "strange").outputs[0])
    with pytest.raises(MissingKernelError, match=r"node 'strange': .* no kernel for Mystery \(inputs float32\)") as e:
        run_float(g, {"x": np.zeros(2, np.float32)})
    assert isinstance(e.value, UnsupportedModelError) and isinstance(e.value, NotImplementedError)


def test_a_float_only_kernel_refuses_integer_input():
    g = Graph("g")
    g.add_input("x", TensorType((2,), DType.INT32))
    g.outputs.append(g.add_node(ops.Sigmoid(), ["x"], "sig").outputs[0])
    with pytest.raises(MissingKernelError, match=r"node 'sig': .* no kernel for input dtype int32 for Sigmoid"):
        run_float(g, {"x": np.zeros(2, np.int32)})


def test_a_kernel_returning_the_wrong_shape_is_reported_as_a_bug(monkeypatch):
    monkeypatch.setitem(KERNELS, ops.Relu, lambda op, x: x[:1])
    g = Graph("g")
    g.add_input("x", TensorType((2,), F32))
    g.outputs.append(g.add_node(ops.Relu(), ["x"], "r").outputs[0])
    with pytest.raises(RuntimeError, match=r"qcomp bug: the Relu kernel made float32\[1\] for 'r'"):
        run_float(g, {"x": np.zeros(2, np.float32)})


def test_every_float_op_of_the_ir_has_a_kernel():
    # the quantization boundary and the TARGET-stage integer ops (qcomp/ir/qops.py) never appear in
    # FLOAT graphs: the integer interpreter owns them
    integer_only = {"Quantize", "Dequantize", "Requantize"}
    integer_only |= {name for name, cls in ALL_OPS.items() if cls.__module__ == "qcomp.ir.qops"}
    missing = sorted(name for name, cls in ALL_OPS.items() if cls not in KERNELS and name not in integer_only)
    assert not missing, f"ops without a float kernel in qcomp/ref: {missing}"


def test_a_malformed_graph_is_an_ir_error_naming_the_node():
    g = _chain(2)
    g.nodes[1].inputs = ("nowhere",)
    with pytest.raises(IRError, match=r"node 't1' \(Tanh\): input 'nowhere' is not defined"):
        run_float(g, {"x": np.zeros((64, 64), np.float32)})
