"""The llvm backend's float-fallback kernels (kernels_fallback.py, kernels_float.py) against the
float reference that run_integer uses for them.

Ops whose float32 operation order the reference fixes (Relu, Clip, LeakyRelu, HardSigmoid,
HardSwish, Sqrt, Gelu, BatchNorm, pooling, a ReduceMean that keeps the last axis, depthwise
Conv2D, PRelu) must give the same float32 values. libm transcendentals (expf, tanhf, powf) may
differ from numpy's by a few ulp; BLAS-ordered sums (Dense, MatMul, Conv2D) by float32 rounding. A
float region between a Dequantize and a Quantize may then differ by at most 1 LSB
(ARCHITECTURE.md section 3), which the region tests check on int8 outputs."""
import numpy as np
import pytest

from qcomp.codegen.llvm import check, emit
from qcomp.errors import UnsupportedModelError
from qcomp.ir import DType, Graph, QuantParams, Stage, TensorType, ops, verify
from qcomp.ref import run_integer
from qcomp.target import get_target, host_support

F, I8 = DType.FLOAT32, DType.INT8
VNNI = get_target("x86-vnni")
pytestmark = pytest.mark.skipif(not host_support(VNNI).can_run, reason=f"target x86-vnni: {host_support(VNNI).why}")


def graph(op, shape, consts=(), extra=()) -> Graph:
    g = Graph("float_op", Stage.TARGET)
    g.add_input("x", TensorType(shape, F))
    names = ["x"]
    for name, s in extra:
        g.add_input(name, TensorType(s, F))
        names.append(name)
    names += [g.add_constant(f"c{i}", c) for i, c in enumerate(consts)]
    g.add_node(op, names, "node", outputs=["y"])
    g.outputs = ["y"]
    return verify(g)


def run_both(g, feeds, tmp_path):
    from qcomp.runtime.llvm import Runner
    assert check(g, VNNI) == []
    tmp_path.mkdir(parents=True, exist_ok=True)
    emit(g, VNNI, tmp_path)
    return Runner(tmp_path / "model.so").run(feeds)["y"], run_integer(g, feeds)["y"]


def normal(rng, shape, scale=2.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


EXACT = [
    ("relu", ops.Relu(), (2, 3, 5)), ("clip", ops.Clip(0.0, 6.0), (2, 3, 5)),
    ("clip_upper_only", ops.Clip(None, 0.5), (31,)), ("leaky_relu", ops.LeakyRelu(0.1), (64,)),
    ("hard_sigmoid", ops.HardSigmoid(), (64,)), ("hard_swish", ops.HardSwish(), (3, 29)),
    ("sqrt", ops.Sqrt(), (50,)), ("gelu", ops.Gelu(), (3, 40)), ("gelu_tanh", ops.Gelu("tanh"), (3, 40)),
    ("global_mean", ops.ReduceMean((1, 2), True), (1, 5, 7, 9)), ("mean_axis0", ops.ReduceMean((0,), False), (6, 5)),
    ("reduce_max", ops.ReduceMax((1,), True), (2, 5, 3)),
    ("avgpool", ops.AvgPool2D((3, 3), (2, 2), (1, 1, 1, 1)), (1, 9, 8, 5)),
    ("avgpool_ceil_incl_pad", ops.AvgPool2D((2, 2), (2, 2), (0, 1, 0, 0), True, True), (1, 5, 6, 3)),
    ("maxpool", ops.MaxPool2D((3, 3), (2, 2), (1, 1, 1, 1)), (1, 9, 8, 5)),
]


@pytest.mark.parametrize("name,op,shape", EXACT, ids=[c[0] for c in EXACT])
def test_float_op_equals_reference(name, op, shape, tmp_path, rng):
    x = normal(rng, shape)
    if isinstance(op, ops.Sqrt):
        x = np.abs(x)
    got, want = run_both(graph(op, shape), {"x": x}, tmp_path)
    assert got.dtype == np.float32 and np.unique(want).size > 3
    np.testing.assert_array_equal(got, want)


def test_batch_norm_and_depthwise_conv_equal_reference(tmp_path, rng):
    c = 6
    bn = graph(ops.BatchNorm(1e-3), (1, 4, 5, c), [normal(rng, c, 1) for _ in range(3)] + [np.abs(normal(rng, c, 1))])
    x = normal(rng, (1, 4, 5, c))
    np.testing.assert_array_equal(*run_both(bn, {"x": x}, tmp_path / "bn"))
    dw = graph(ops.Conv2D((2, 1), (1, 0, 1, 2), (1, 1), c, act_min=0.0, act_max=6.0), (1, 9, 7, c),
               [normal(rng, (c, 3, 3, 1), 0.5), normal(rng, c, 0.1)])
    x = normal(rng, (1, 9, 7, c))
    np.testing.assert_array_equal(*run_both(dw, {"x": x}, tmp_path / "dw"))


def test_prelu_exact_and_pow_within_an_ulp(tmp_path, rng):
    feeds = {"x": normal(rng, (2, 3, 4)), "s": normal(rng, (1, 3, 1), 0.5)}
    got, want = run_both(graph(ops.PRelu(), (2, 3, 4), extra=[("s", (1, 3, 1))]), feeds, tmp_path / "prelu")
    np.testing.assert_array_equal(got, want)
    feeds["x"] = np.abs(feeds["x"]) + np.float32(0.1)
    got, want = run_both(graph(ops.Pow(), (2, 3, 4), extra=[("s", (1, 3, 1))]), feeds, tmp_path / "pow")
    np.testing.assert_array_max_ulp(got, want, maxulp=1)


@pytest.mark.parametrize("name,op", [("sigmoid", ops.Sigmoid()), ("tanh", ops.Tanh()), ("exp", ops.Exp())])
def test_libm_transcendentals_within_a_few_ulp(name, op, tmp_path, rng):
    """glibc's expf/tanhf are within an ulp of the true value, numpy's SIMD float32 ones within a
    few (measured: 2 ulp apart here)."""
    x = normal(rng, (7, 41), 3.0)
    got, want = run_both(graph(op, x.shape), {"x": x}, tmp_path)
    assert np.unique(want).size > 100
    np.testing.assert_array_max_ulp(got, want, maxulp=3)


PRODUCTS = [("dense_relu", (3, 33), lambda r: ops.Dense(act_min=0.0),
             lambda r: [normal(r, (13, 33), 0.3), normal(r, 13, 0.1)]),
            ("conv_group1", (1, 9, 7, 6), lambda r: ops.Conv2D((2, 1), (1, 0, 1, 2), (1, 1), 1),
             lambda r: [normal(r, (12, 3, 3, 6), 0.3), normal(r, 12, 0.1)]),
            ("conv_group2_dilated", (1, 9, 7, 6), lambda r: ops.Conv2D((1, 1), (2, 2, 2, 2), (2, 2), 2, act_max=1.0),
             lambda r: [normal(r, (4, 3, 3, 3), 0.3), normal(r, 4, 0.1)])]


@pytest.mark.parametrize("name,shape,op,consts", PRODUCTS, ids=[p[0] for p in PRODUCTS])
def test_float_products_agree_to_float32_rounding(name, shape, op, consts, tmp_path, rng):
    x = normal(rng, shape)
    got, want = run_both(graph(op(rng), shape, consts(rng)), {"x": x}, tmp_path)
    assert np.unique(want).size > 10
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * np.abs(want).max())


def test_float_matmul_with_batch_broadcast(tmp_path, rng):
    feeds = {"x": normal(rng, (2, 5, 13)), "k": normal(rng, (1, 13, 7))}
    got, want = run_both(graph(ops.MatMul(), (2, 5, 13), extra=[("k", (1, 13, 7))]), feeds, tmp_path)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * np.abs(want).max())


def test_float_region_within_one_lsb_at_its_quantize(tmp_path, rng):
    """int8 -> Dequantize -> Sigmoid -> Tanh -> Quantize -> int8: the region's end is within 1 LSB."""
    g = Graph("region", Stage.TARGET)
    g.add_input("x", TensorType((4, 64), I8, QuantParams(0.04, -3)))
    g.add_node(ops.Dequantize(), ["x"], "dq", outputs=["xf"])
    g.add_node(ops.Sigmoid(), ["xf"], "sigmoid", outputs=["s"])
    g.add_node(ops.Exp(), ["s"], "exp", outputs=["e"])
    g.add_node(ops.Quantize(), ["e"], "q", outputs=["y"], out_types=[TensorType((4, 64), I8, QuantParams(0.01, -128))])
    g.outputs = ["y"]
    g = verify(g)
    x = np.arange(-128, 128, dtype=np.int8).reshape(4, 64)
    got, want = run_both(g, {"x": x}, tmp_path)
    assert got.dtype == np.int8 and np.unique(want).size > 100
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1


def test_skipped_conv_runs_in_float_within_one_lsb(tmp_path):
    """--skip keeps a Conv2D in float (Dequantize -> float Conv2D -> Quantize) through the real passes."""
    from qcomp.passes.calibrate import calibrate
    from qcomp.passes.lower_integer import lower_integer
    from qcomp.passes.quantize import QuantOptions, quantize
    rng = np.random.default_rng(3)
    g = Graph(name="skip_conv")
    g.add_input("x", TensorType((1, 9, 7, 5), F))
    w = g.add_constant("w", normal(rng, (8, 3, 3, 5), 0.3))
    b = g.add_constant("b", normal(rng, 8, 0.1))
    g.add_node(ops.Conv2D(pads=(1, 1, 1, 1), act_min=0.0), ["x", w, b], "conv")
    g.add_node(ops.MaxPool2D(kernel=(2, 2), strides=(2, 2)), ["conv"], "pool")
    g.outputs = ["pool"]
    g = verify(g)
    ranges = calibrate(g, [{"x": normal(rng, (1, 9, 7, 5), 1)} for _ in range(4)]).ranges
    target = verify(lower_integer(verify(quantize(g, ranges, QuantOptions(skip=frozenset({"conv"}))))))
    assert any(type(n.op) is ops.Conv2D for n in target.nodes), "the skipped conv should stay float"
    from qcomp.runtime.llvm import Runner
    emit(target, VNNI, tmp_path)
    x = {"x": normal(rng, (1, 9, 7, 5), 1)}
    got, want = Runner(tmp_path / "model.so").run(x)["pool"], run_integer(target, x)["pool"]
    assert np.unique(want).size > 10
    scale = float(target.types[target.producers()["pool"].inputs[0]].quant.scale[0])
    assert np.abs(got - want).max() <= scale * 1.0001


def test_float_ops_left_out_fail_at_build_naming_the_node(tmp_path):
    g = graph(ops.Gelu("erf_fast"), (4,))
    with pytest.raises(UnsupportedModelError, match="'node'.*Gelu"):
        emit(g, VNNI, tmp_path)


@pytest.mark.parametrize("kind", ["dense", "grouped_conv"])
def test_quant_weight_dequantizes_per_channel_then_runs_float(kind, tmp_path, rng):
    """--quant weight: int8 weights per output channel -> Dequantize (per channel) at run time ->
    float Dense / Conv2D reading the dequantized weights in place."""
    from qcomp.passes.lower_integer import lower_integer
    from qcomp.passes.quantize_weights import quantize_weights
    g = Graph(name="weight_only")
    if kind == "dense":
        shape, w_shape, op = (3, 33), (13, 33), ops.Dense()
    else:
        shape, w_shape, op = (1, 7, 6, 4), (6, 3, 3, 2), ops.Conv2D(pads=(1, 1, 1, 1), group=2, act_min=0.0)
    g.add_input("x", TensorType(shape, F))
    spread = np.linspace(0.1, 3, w_shape[0], dtype=np.float32).reshape((-1,) + (1,) * (len(w_shape) - 1))
    w = g.add_constant("w", normal(rng, w_shape, 0.3) * spread)
    b = g.add_constant("b", normal(rng, w_shape[0], 0.1))
    g.add_node(op, ["x", w, b], "layer")
    g.outputs = ["layer"]
    target = verify(lower_integer(verify(quantize_weights(verify(g)))))
    deq = [n for n in target.nodes if type(n.op) is ops.Dequantize]
    assert deq and target.types[deq[0].inputs[0]].quant.per_channel
    x = normal(rng, shape)
    from qcomp.runtime.llvm import Runner
    emit(target, VNNI, tmp_path)
    got, want = Runner(tmp_path / "model.so").run({"x": x})["layer"], run_integer(target, {"x": x})["layer"]
    assert np.unique(want).size > 10
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * np.abs(want).max())
