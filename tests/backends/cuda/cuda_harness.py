"""Run a TARGET graph through the cuda backend and its CPU emulation (no GPU needed).

`run_cuda_emulated(graph, feeds)` generates model.cu + the launch plan (no nvcc: the fatbin is
tested separately), compiles the kernels with g++ against the emulation header and replays the
plan. A graph with an op the backend cannot emit fails the test with the backend's own message (the
backend covers every op of the shared op-case table: a refusal is a regression, not a skip).
"""
from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping

import numpy as np
import pytest

from qcomp.errors import UnsupportedModelError
from qcomp.ir import Graph


def emulation_skip() -> str | None:
    return None if shutil.which("g++") else "target cuda --emulate: g++ is missing (apt-get install g++)"


def run_cuda_emulated(graph: Graph, feeds: Mapping[str, np.ndarray], raw: bool = False,
                      arch: int = 80) -> dict[str, np.ndarray]:
    """arch: the emulated compute capability x 10 (80: tensor-core GEMMs, 75: __dp4a GEMMs)."""
    from pathlib import Path

    from qcomp.codegen.cuda import emit
    from qcomp.runtime.cuda import load
    from qcomp.target import get_target

    target = get_target("cuda")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            manifest = emit(graph, target, tmp, fatbin=False)
        except UnsupportedModelError as e:
            pytest.fail(f"the cuda backend refused the graph: {e}", pytrace=False)
        runner = load(Path(tmp), manifest, target, emulate=True, emulate_arch=arch)
        return runner.run(dict(feeds), raw=raw)


def extra_graphs() -> dict[str, tuple[Graph, dict[str, np.ndarray]]]:
    """Small TARGET graphs with the kernels the op-case table lacks (float ops, Gather, Cast, nearest
    Resize, Softmax, LayerNorm), with seeded feeds: for the nvcc test and test_float_ops.py."""
    from qcomp.ir import DType, QuantParams, Stage, TensorType, ops
    rng = np.random.default_rng(0)
    f32, i64 = DType.FLOAT32, DType.INT64
    g = Graph(name="float_ops", stage=Stage.TARGET)
    g.add_input("ids", TensorType((2, 3), i64))
    g.add_input("mask", TensorType((2, 3), i64))
    table = g.add_constant("table", rng.standard_normal((10, 6)).astype(np.float32))
    g.add_node(ops.Gather(axis=0), [table, "ids"], "emb")
    g.add_node(ops.Cast(to=f32), ["mask"], "maskf")
    g.add_node(ops.Reshape(shape=(2, 3, 1)), ["maskf"], "mask3")
    one = g.add_constant("one", np.ones((1,), np.float32))
    g.add_node(ops.Sub(), [one, "mask3"], "inv")
    g.add_node(ops.Mul(), ["emb", "inv"], "scaled")
    three = g.add_constant("three", np.full((6,), 3.0, np.float32))
    g.add_node(ops.Div(), ["scaled", three], "third")
    g.add_node(ops.Add(act_min=0.0), ["third", "emb"], "sum")
    g.add_node(ops.Softmax(axis=1), ["sum"], "soft")
    scale = g.add_constant("ln_scale", rng.standard_normal((6,)).astype(np.float32))
    bias = g.add_constant("ln_bias", rng.standard_normal((6,)).astype(np.float32))
    g.add_node(ops.LayerNorm(axis=2), ["sum", scale, bias], "norm")
    g.outputs = ["soft", "norm"]
    feeds = {"ids": np.array([[1, -1, 9], [0, 4, 4]], np.int64), "mask": np.array([[1, 0, 1], [0, 0, 1]], np.int64)}
    r = Graph(name="resize", stage=Stage.TARGET)
    q = QuantParams(0.1, 3)
    r.add_input("x", TensorType((1, 5, 7, 3), DType.INT8, q))
    r.add_node(ops.Resize((1, 9, 4, 3), (1.0, 9 / 5, 4 / 7, 1.0), "nearest", "half_pixel", "round_prefer_floor"),
               ["x"], "resized", out_types=[TensorType((1, 9, 4, 3), DType.INT8, q)])
    r.outputs = ["resized"]
    import sys
    from pathlib import Path
    if str(Path(__file__).parent) not in sys.path:   # tests/opcases/targets.py loads this file by path
        sys.path.insert(0, str(Path(__file__).parent))
    from float_fallback_graph import float_fallback_graph
    return {"float_ops": (g, feeds),
            "resize": (r, {"x": rng.integers(-128, 128, size=(1, 5, 7, 3)).astype(np.int8)}),
            "float_fallback": float_fallback_graph()}
