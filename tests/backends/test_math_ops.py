"""The math ops where they do not become lookup tables, on every target (the int8 forms, Lut and
Min / Max of requantized operands, are in the op-case table):
- float regions (a --skip'ped node): llvm and cuda within 4 float32 ulps of the reference (the
  float contract of ARCHITECTURE.md section 3); the C backend refuses each such node by name;
- Min, Max and Mod of int32 / int64 tensors (both fmod modes, negative operands, a zero divisor):
  bit-exact on llvm and cuda.
"""
from __future__ import annotations

import numpy as np
import pytest

from qcomp.codegen import c as c_backend
from qcomp.ir import DType, Graph, Stage, TensorType, ops, verify
from qcomp.passes.calibrate import calibrate
from qcomp.passes.lower_integer import lower_integer
from qcomp.passes.quantize import QuantOptions, quantize
from qcomp.ref import run_integer
from qcomp.target import get_target

from opcases.targets import TARGETS

FLOAT_TARGETS = [t for t in TARGETS if t.name in ("x86-vnni", "arm-sdot", "cuda-emulated")]
UNARY = [ops.Elu(0.7), ops.Selu(), ops.Celu(0.5), ops.Softplus(), ops.Softsign(), ops.Mish(), ops.Log(), ops.Abs(),
         ops.Floor(), ops.Ceil(), ops.Round(), ops.Sign(), ops.Sin(), ops.Cos(), ops.ThresholdedRelu(0.4),
         ops.Shrink(0.2, 0.3)]
F = DType.FLOAT32


def _float_region_graph() -> tuple[Graph, dict[str, np.ndarray]]:
    """Every math op kept in float by --skip: float32 in, float32 out."""
    g = Graph(name="math_float")
    g.add_input("a", TensorType((2, 5, 7), F))
    g.add_input("b", TensorType((5, 1), F))
    g.add_node(ops.Abs(), ["a"], "pos")
    skip = []
    for op in UNARY:
        x = "pos" if isinstance(op, ops.Log) else "a"
        name = f"{op.kind.lower()}_of_{x}"
        g.add_node(op, [x], name)
        skip.append(name)
    for op in (ops.Min(), ops.Max(), ops.Mod(1)):
        g.add_node(op, ["a", "b"], op.kind.lower())
        skip.append(op.kind.lower())
    g.outputs = list(skip)
    rng = np.random.default_rng(0)
    samples = [{"a": (rng.standard_normal((2, 5, 7)) * 3).astype(np.float32),
                "b": (rng.standard_normal((5, 1)) * 2 + 0.5).astype(np.float32)} for _ in range(3)]
    q = quantize(verify(g), calibrate(g, samples).ranges, QuantOptions(skip=frozenset(skip)))
    feeds = samples[0]
    feeds["a"][0, 0, :3] = [0.0, -0.0, 2.5]      # Sign of zeros, Round of a tie
    return verify(lower_integer(q)), feeds


def _integer_graph(dtype: DType) -> tuple[Graph, dict[str, np.ndarray]]:
    g = Graph(name=f"math_{dtype.value}", stage=Stage.TARGET)
    g.add_input("a", TensorType((3, 5), dtype))
    g.add_input("b", TensorType((5,), dtype))
    g.add_node(ops.Mod(0), ["a", "b"], "mod_divisor_sign")
    g.add_node(ops.Mod(1), ["a", "b"], "mod_dividend_sign")
    g.add_node(ops.Min(), ["a", "b"], "min")
    g.add_node(ops.Max(), ["mod_divisor_sign", "a"], "max")
    g.outputs = ["mod_divisor_sign", "mod_dividend_sign", "min", "max"]
    rng = np.random.default_rng(1)
    feeds = {"a": rng.integers(-50, 50, (3, 5)).astype(dtype.np), "b": np.array([3, -4, 0, 7, -1], dtype.np)}
    return verify(g), feeds


@pytest.fixture(scope="module")
def float_region():
    return _float_region_graph()


@pytest.mark.parametrize("target", FLOAT_TARGETS, ids=lambda t: t.name)
def test_float_region_math_ops_within_four_ulps(float_region, target):
    why = target.skip()
    if why is not None:
        pytest.skip(why)
    graph, feeds = float_region
    want = run_integer(graph, feeds)
    got = target.run(graph, {k: v.copy() for k, v in feeds.items()})
    for name, w in want.items():
        assert got[name].dtype == np.float32 and got[name].shape == w.shape, name
        ulps = np.abs(got[name].view(np.int32).astype(np.int64) - w.view(np.int32).astype(np.int64))
        assert ulps.max() <= 4, f"{name} on {target.name}: {ulps.max()} ulps"
        assert np.unique(w).size >= 3, name     # Sign: -1, 0, 1


@pytest.mark.parametrize("dtype", [DType.INT32, DType.INT64], ids=lambda d: d.value)
@pytest.mark.parametrize("target", FLOAT_TARGETS, ids=lambda t: t.name)
def test_integer_min_max_mod_bit_exact(target, dtype):
    why = target.skip()
    if why is not None:
        pytest.skip(why)
    graph, feeds = _integer_graph(dtype)
    want = run_integer(graph, feeds)
    got = target.run(graph, {k: v.copy() for k, v in feeds.items()})
    for name, w in want.items():
        np.testing.assert_array_equal(got[name], w, err_msg=f"{name} on {target.name}")


def test_reference_mod_modes():
    graph, feeds = _integer_graph(DType.INT32)
    got = run_integer(graph, feeds)
    a, b = feeds["a"].astype(np.int64), feeds["b"].astype(np.int64)
    safe = np.where(b == 0, 1, b)
    np.testing.assert_array_equal(got["mod_divisor_sign"], np.where(b == 0, 0, np.mod(a, safe)))
    np.testing.assert_array_equal(got["mod_dividend_sign"], np.where(b == 0, 0, np.fmod(a, safe)))
    assert (got["mod_divisor_sign"] != got["mod_dividend_sign"]).any()


@pytest.mark.parametrize("name", ["dsp-c", "cortex-m4"])
def test_c_backend_refuses_each_float_math_node_by_name(float_region, name):
    graph, _ = float_region
    problems = c_backend.check(graph, get_target(name))
    refused = {p.node for p in problems}
    for op in UNARY + [ops.Min(), ops.Max(), ops.Mod(1)]:
        assert any(n.startswith(op.kind.lower()) for n in refused), op.kind
