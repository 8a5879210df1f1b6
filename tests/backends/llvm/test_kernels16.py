"""The llvm backend's A16W8 dot kernels (kernels16_dot.py) beyond the op-case table, on x86-vnni, and
int16 tensors through the ABI: one graph, one compile, run with 1 and 2 threads.

- requantize64 on extreme per-channel parameters (multiplier 2^31 - 1, whose reduced multiplier
  saturates at 2^15 - 1, with shift 14: total shift 1; the rounding boundary of the reduction;
  total shift 46; multiplier 0), on accumulators that land on ties, checked against an independent
  Python-integer formulation as well as the reference;
- MaxPool2D's siblings on int16 values: ReduceMax, Split, Gather (constant and run-time indices),
  nearest Resize;
- a GEMM with two int32 K-blocks (K = 576), several channel chunks and a pixel-tile tail; a
  depthwise layer with full 16-channel blocks and a tail; a grouped conv (the scalar path); a
  1x1 conv read in place (no pack); a QDense16 of odd K (rows padded to pairs); 300 output
  channels (5 chunks: A packed whole, not per tile).
"""
import numpy as np
import pytest

from qcomp import abi, fixedpoint
from qcomp.codegen.llvm import emit
from qcomp.errors import InputError, UnsupportedModelError
from qcomp.ir import DType, Graph, QuantParams, Stage, TensorType, ops, qops16, verify
from qcomp.ref import run_integer
from qcomp.target import get_target, host_support

I16 = DType.INT16
VNNI = get_target("x86-vnni")
runs_here = pytest.mark.skipif(not host_support(VNNI).can_run, reason=f"target x86-vnni: {host_support(VNNI).why}")

# (multiplier, shift) per channel of the extreme QDense16
EXTREME = [((1 << 31) - 1, 14), ((1 << 31) - 1, 0), ((1 << 30) + (1 << 15) - 1, -5), ((1 << 30) + (1 << 15), -5),
           (1 << 30, -31), (0, 0), (1518500250, 7), ((1 << 31) - (1 << 15) - 1, 3)]
SPECIAL = [0, 1, -1, 2, -2, 3, -3, 16384, -16384, 32767, -32768, 49151 - 65536]   # x[row, 0], rest 0
K_EXTREME = 600

# name: (x shape, op, weight shape [O, ...], bias magnitude)
LAYERS = {
    "gemm_2blocks": ((1, 11, 9, 64), qops16.QConv2D16(pads=(1, 1, 1, 1), acc_bits=64), (70, 3, 3, 64), 10**9),
    "depthwise": ((1, 9, 10, 37), qops16.QConv2D16(strides=(2, 1), pads=(1, 1, 1, 1), group=37, out_dtype="i8",
                                                   output_zero_point=-7, qmin=-128, qmax=127), (37, 3, 3, 1), 1000),
    "grouped": ((1, 6, 7, 12), qops16.QConv2D16(pads=(1, 1, 1, 1), group=3), (18, 3, 3, 4), 1000),
    "pointwise": ((1, 9, 7, 24), qops16.QConv2D16(qmin=0), (40, 1, 1, 24), 1000),
    "dense_odd_k": ((3, 5, 37), qops16.QDense16(out_dtype="i8", output_zero_point=4, qmin=-128, qmax=127),
                    (20, 37), 1000),
    "wide_unfused": ((1, 4, 5, 8), qops16.QConv2D16(pads=(1, 1, 1, 1), out_dtype="i8", qmin=-128, qmax=127),
                     (300, 3, 3, 8), 1000),
}


def _extreme(g: Graph, rng) -> dict:
    x = rng.integers(-32768, 32768, size=(len(SPECIAL) + 20, K_EXTREME)).astype(np.int16)
    x[:len(SPECIAL)] = 0
    x[:len(SPECIAL), 0] = SPECIAL
    w = rng.integers(-128, 128, size=(len(EXTREME), K_EXTREME)).astype(np.int8)
    w[:, 0] = 1
    bias = np.array([0, 0, 12345, -12345, 1 << 40, 7, -(1 << 30), 99], np.int64)
    g.add_input("e.x", TensorType(x.shape, I16, QuantParams(0.0005, 0)))
    names = [g.add_constant("e.w", w, QuantParams(np.full(len(EXTREME), 0.01, np.float32), 0, axis=0)),
             g.add_constant("e.bias", bias),
             g.add_constant("e.multiplier", np.array([m for m, _ in EXTREME], np.int32)),
             g.add_constant("e.shift", np.array([s for _, s in EXTREME], np.int32))]
    op = qops16.QDense16(acc_bits=64)
    g.add_node(op, ["e.x", *names], "extreme", outputs=["e.y"],
               out_types=[op.infer([g.types[v] for v in ["e.x", *names]])[0]])
    return {"e.x": x}


def _layer(g: Graph, rng, name, x_shape, op, w_shape, bias_mag) -> dict:
    x = rng.integers(-32768, 32768, size=x_shape).astype(np.int16)
    o, k = w_shape[0], int(np.prod(w_shape[1:]))
    assert op.acc_bits == fixedpoint.accumulator16_bits(k, bias_mag)
    m, s = fixedpoint.quantize_multipliers(rng.uniform(0.5, 2.0, o) * 9000.0 / np.sqrt(k * 18900.0**2 * 5400))
    g.add_input(f"{name}.x", TensorType(x_shape, I16, QuantParams(0.0005, 0)))
    names = [g.add_constant(f"{name}.w", rng.integers(-128, 128, size=w_shape).astype(np.int8),
                            QuantParams(np.full(o, 0.01, np.float32), 0, axis=0)),
             g.add_constant(f"{name}.bias", rng.integers(-bias_mag, bias_mag, size=o).astype(np.int64)),
             g.add_constant(f"{name}.multiplier", m.astype(np.int32)),
             g.add_constant(f"{name}.shift", s.astype(np.int32))]
    t = op.infer([g.types[v] for v in [f"{name}.x", *names]])[0]
    g.add_node(op, [f"{name}.x", *names], name, outputs=[f"{name}.y"],
               out_types=[TensorType(t.shape, t.dtype, QuantParams(0.0005, op.output_zero_point))])
    return {f"{name}.x": x}


def _generic(g: Graph, rng) -> dict:
    """Type-generic ops on int16 values: ReduceMax, Split, Gather (constant and run-time indices),
    nearest Resize."""
    q = QuantParams(0.0005, 0)
    x = rng.integers(-32768, 32768, size=(2, 5, 6, 4)).astype(np.int16)
    x[0, 0, 0, 0] = -32768
    g.add_input("m.x", TensorType(x.shape, I16, q))
    g.add_input("m.idx", TensorType((3,), DType.INT32))
    idx = g.add_constant("m.const_idx", np.array([4, 0, -1], np.int64))
    nodes = [(ops.ReduceMax((1, 2)), ["m.x"], ["m.rmax"]), (ops.Split(3, (1, 3)), ["m.x"], ["m.s0", "m.s1"]),
             (ops.Gather(1), ["m.x", idx], ["m.gc"]), (ops.Gather(2), ["m.x", "m.idx"], ["m.gr"]),
             (ops.Resize((2, 10, 12, 4), (1.0, 2.0, 2.0, 1.0)), ["m.x"], ["m.rs"])]
    for op, ins, outs in nodes:
        types = op.infer([g.types[v] for v in ins])
        g.add_node(op, ins, outs[0], outputs=outs, out_types=[TensorType(t.shape, t.dtype, q) for t in types])
    return {"m.x": x, "m.idx": np.array([5, 0, 2], np.int32)}


GENERIC_OUTPUTS = ["m.rmax", "m.s0", "m.s1", "m.gc", "m.gr", "m.rs"]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    rng = np.random.default_rng(16)
    g = Graph("kernels16", Stage.TARGET)
    feeds = _extreme(g, rng)
    for name, case in LAYERS.items():
        feeds |= _layer(g, rng, name, *case)
    feeds |= _generic(g, rng)
    g.outputs = ["e.y", *(f"{name}.y" for name in LAYERS), *GENERIC_OUTPUTS]
    g = verify(g)
    out = tmp_path_factory.mktemp("kernels16")
    emit(g, VNNI, out)
    return out, g, feeds, run_integer(g, feeds)


def _bigint_requantize64(acc: int, multiplier: int, shift: int) -> int:
    """multiply_by_quantized_multiplier_64 in Python integers (>> floors: arithmetic), clamped to int16."""
    reduced = min((multiplier + (1 << 15)) >> 16, (1 << 15) - 1)
    total = 15 - shift
    return min(max((acc * reduced + (1 << (total - 1))) >> total, -32768), 32767)


def test_extreme_multipliers_bigint(built):
    _, g, feeds, want = built
    x = feeds["e.x"].astype(object)
    w = g.constants["e.w"].astype(object)
    bias = g.constants["e.bias"]
    expect = np.array([[_bigint_requantize64(int(bias[o]) + int(np.dot(x[r], w[o])), m, s)
                        for o, (m, s) in enumerate(EXTREME)] for r in range(x.shape[0])], np.int16)
    np.testing.assert_array_equal(want["e.y"], expect)    # the reference agrees with the bigint form
    assert expect[1, 0] == 16384 and expect[2, 0] == -16383     # +-1 * 32767 / 2: ties toward +inf


@runs_here
@pytest.mark.parametrize("threads", [1, 2])
def test_kernels16_bit_exact(built, threads):
    from qcomp.runtime.llvm import Runner
    out, _, feeds, want = built
    got = Runner(out / "model.so", num_threads=threads).run(feeds)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)


@runs_here
def test_int16_tensors_through_the_abi(built):
    from qcomp.runtime.llvm import Runner
    out, g, feeds, want = built
    runner = Runner(out / "model.so", num_threads=1)
    def codes(values):
        return [abi.DTYPE_OF_NUMPY[g.types[v].dtype.np].value for v in values]
    assert [i.dtype for i in runner.inputs] == codes(g.inputs)
    assert [o.dtype for o in runner.outputs] == codes(g.outputs)
    assert codes(["e.x", "m.rs"]) == [abi.DTYPE_OF_NUMPY[np.dtype(np.int16)].value] * 2
    assert "0: i16[" in (out / "model.h").read_text()
    got = runner.run({k: v.astype(np.int32) for k, v in feeds.items()})     # in range: converted exactly
    np.testing.assert_array_equal(got["e.y"], want["e.y"])
    assert got["e.y"].dtype == np.int16
    wide = {k: v.astype(np.int32) for k, v in feeds.items()}
    wide["e.x"][3, 5] = 40000                                               # would wrap to -25536
    with pytest.raises(InputError, match=r"'e.x' is int16.*outside \[-32768, 32767\]"):
        runner.run(wide)


def test_acc_bits_narrower_than_the_spec_is_refused(tmp_path):
    """A QDense16 of K = 600 claiming an int32 accumulator (600 * 2^22 > 2^31): refused by name, not run."""
    g = Graph("narrow", Stage.TARGET)
    g.add_input("x", TensorType((2, 600), I16, QuantParams(0.0005, 0)))
    names = [g.add_constant("w", np.ones((3, 600), np.int8), QuantParams(np.full(3, 0.01, np.float32), 0, axis=0)),
             g.add_constant("bias", np.zeros(3, np.int64)), g.add_constant("multiplier", np.full(3, 1 << 30, np.int32)),
             g.add_constant("shift", np.full(3, -20, np.int32))]
    op = qops16.QDense16(acc_bits=32)
    g.add_node(op, ["x", *names], "narrow_dense", outputs=["y"],
               out_types=[op.infer([g.types[v] for v in ["x", *names]])[0]])
    g.outputs = ["y"]
    with pytest.raises(UnsupportedModelError, match=r"narrow_dense.*acc_bits=32 cannot hold .*K=600.*needs 64"):
        emit(verify(g), VNNI, tmp_path)
