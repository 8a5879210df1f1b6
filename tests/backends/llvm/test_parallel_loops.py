"""The memory-bound kernels' loops over the thread pool (kernels_parallel.py): Quantize, Transpose
(a gather), MaxPool2D, QMean, QAdd, Lut and Dequantize fork onto the pool where their work pays for it,
stay on the calling thread where it does not, and give the reference's results at 1, 2 and 3
threads (the jobs' ranges do not divide the loops evenly: the last job is short)."""
import re

import numpy as np
import pytest

from qcomp import fixedpoint
from qcomp.codegen.llvm import build_module, emit
from qcomp.codegen.llvm.kernels_parallel import MIN_JOB_WORK, n_jobs
from qcomp.ir import DType, Graph, QuantParams, Stage, TensorType, ops, qops, verify
from qcomp.ref import run_integer
from qcomp.target import get_target, host_support

VNNI = get_target("x86-vnni")
I8 = DType.INT8


def chain(h: int, w: int, c: int = 16) -> tuple[Graph, dict]:
    """float x [1, C, H, W] -Quantize-> -Transpose NHWC-> t; MaxPool 3x3/2 (t) -> mp (output);
    QMean over H, W (t) -> mean (output); QAdd(t, y) -> Lut -> Dequantize -> out (output)."""
    rng = np.random.default_rng(5)
    q = QuantParams(0.05, -3)
    g = Graph("loops", Stage.TARGET)
    g.add_input("x", TensorType((1, c, h, w), DType.FLOAT32))
    g.add_input("y", TensorType((1, h, w, c), I8, QuantParams(0.02, 30)))
    g.add_node(ops.Quantize(), ["x"], "xq", out_types=[TensorType((1, c, h, w), I8, q)])
    g.add_node(ops.Transpose(perm=(0, 2, 3, 1)), ["xq"], "t", out_types=[TensorType((1, h, w, c), I8, q)])
    mp = ops.MaxPool2D((3, 3), (2, 2), (1, 1, 1, 1), (1, 1))
    g.add_node(mp, ["t"], "mp", out_types=[TensorType(mp.infer([g.types["t"]])[0].shape, I8, q)])
    mean = qops.QMean((1, 2), True, **vars(fixedpoint.mean_params(0.05, -3, 0.045, 5, h * w)))
    g.add_node(mean, ["t"], "mean", out_types=[TensorType((1, 1, 1, c), I8, QuantParams(0.045, 5))])
    add = qops.QAdd(**vars(fixedpoint.add_params(0.05, -3, 0.02, 30, 0.06, 0, -128, 127)))
    g.add_node(add, ["t", "y"], "add", out_types=[TensorType((1, h, w, c), I8, QuantParams(0.06, 0))])
    table = g.add_constant("table", rng.integers(-128, 128, size=256).astype(np.int8), QuantParams(1 / 256, -128))
    g.add_node(qops.Lut(), ["add", table], "lut", out_types=[TensorType((1, h, w, c), I8, QuantParams(1 / 256, -128))])
    g.add_node(ops.Dequantize(), ["lut"], "out")
    g.outputs = ["mp", "mean", "out"]
    feeds = {"x": (rng.standard_normal((1, c, h, w)) * 3).astype(np.float32),
             "y": rng.integers(-128, 128, size=(1, h, w, c)).astype(np.int8)}
    return verify(g), feeds


def _pool_callers(graph) -> dict[str, bool]:
    """node name -> whether its function calls qcomp_parallel_for."""
    text = str(build_module(graph, VNNI)[0].m)
    bodies = dict(re.findall(r'define internal i32 @"?node\.(\d+)"?\(.*?\)[^{]*\{(.*?)\n\}', text, re.S))
    return {graph.nodes[int(i)].name: re.search(r'@"?qcomp_parallel_for"?\(', body) is not None
            for i, body in bodies.items()}


def test_job_count_policy():
    assert n_jobs(1000, 4) == 1                                # 4 000 units: below one job's worth
    assert n_jobs(2 * MIN_JOB_WORK, 1) == 2
    assert n_jobs(10, 10 ** 9) == 10                           # never more jobs than iterations
    assert n_jobs(10 ** 9, 4) == 64


def test_large_loops_fork_and_small_ones_do_not():
    large, small = _pool_callers(chain(96, 96)[0]), _pool_callers(chain(8, 8)[0])
    assert large == {"xq": True, "t": True, "mp": True, "mean": True, "add": True, "lut": True, "out": True}
    assert not any(small.values()), small


@pytest.mark.skipif(not host_support(VNNI).can_run, reason=f"target x86-vnni: {host_support(VNNI).why}")
def test_results_equal_the_reference_at_every_thread_count(tmp_path):
    from qcomp.runtime.llvm import Runner
    graph, feeds = chain(62, 58)        # ranges that do not divide evenly into the jobs
    assert all(_pool_callers(graph).values())
    want = run_integer(graph, feeds)
    emit(graph, VNNI, tmp_path)
    runner = Runner(tmp_path / "model.so")
    for n in (1, 2, 3):
        runner.set_num_threads(n)
        got = runner.run(feeds)
        for name in graph.outputs:
            np.testing.assert_array_equal(got[name], want[name], err_msg=f"{name}, {n} threads")
