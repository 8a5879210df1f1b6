"""The thread pool of llvm-backend artifacts (runtime/llvm/pool.c): the default count (available
cores), QCOMP_NUM_THREADS, qcomp_set_num_threads / qcomp_get_num_threads, qcomp.load(num_threads=)
and `qcomp run --threads`, with results identical for every thread count."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import qcomp
from qcomp import fixedpoint
from qcomp.codegen.llvm import emit
from qcomp.errors import QcompError
from qcomp.ir import DType, Graph, QuantParams, Stage, TensorType, qops, verify
from qcomp.ref import run_integer
from qcomp.target import get_target, host_support

REPO = Path(__file__).resolve().parents[3]
VNNI = get_target("x86-vnni")
pytestmark = pytest.mark.skipif(not host_support(VNNI).can_run, reason=f"target x86-vnni: {host_support(VNNI).why}")


def pointwise_graph(rng) -> tuple[Graph, dict]:
    """A 1x1 conv large enough for many parallel jobs (and a depthwise one after it)."""
    g = Graph("threads", Stage.TARGET)
    g.add_input("x", TensorType((1, 24, 24, 32), DType.INT8, QuantParams(0.05, -3)))
    x = "x"
    for name, op, w_shape in (("pw", qops.QConv2D(input_zero_point=-3, output_zero_point=2), (48, 1, 1, 32)),
                              ("dw", qops.QConv2D(pads=(1, 1, 1, 1), group=48, input_zero_point=2,
                                                  output_zero_point=-1), (48, 3, 3, 1))):
        o, k = w_shape[0], int(np.prod(w_shape[1:]))
        m, s = fixedpoint.quantize_multipliers(np.full(o, 40.0 / np.sqrt(k * 85 * 5400)))
        names = [g.add_constant(f"{name}.w", rng.integers(-127, 128, size=w_shape).astype(np.int8),
                                QuantParams(np.full(o, 0.01, np.float32), 0, axis=0)),
                 g.add_constant(f"{name}.bias", rng.integers(-3000, 3000, size=o).astype(np.int32)),
                 g.add_constant(f"{name}.multiplier", m.astype(np.int32)),
                 g.add_constant(f"{name}.shift", s.astype(np.int32))]
        out_t = op.infer([g.types[v] for v in [x, *names]])[0]
        g.add_node(op, [x, *names], name, outputs=[f"{name}.y"],
                   out_types=[TensorType(out_t.shape, DType.INT8, QuantParams(0.05, op.output_zero_point))])
        x = f"{name}.y"
    g.outputs = [x]
    return verify(g), {"x": rng.integers(-128, 128, size=(1, 24, 24, 32)).astype(np.int8)}


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    graph, feeds = pointwise_graph(np.random.default_rng(3))
    out = tmp_path_factory.mktemp("threads")
    emit(graph, VNNI, out)
    return out / "model.so", feeds, run_integer(graph, feeds)["dw.y"]


def test_api_counts_and_results(library):
    from qcomp.runtime.llvm import Runner
    so, feeds, want = library
    runner = Runner(so)
    lib = runner._lib
    cores = len(os.sched_getaffinity(0))
    if "QCOMP_NUM_THREADS" not in os.environ:
        assert lib.qcomp_get_num_threads() == cores
    for n in (1, 2, 3, 1, 4):
        assert lib.qcomp_set_num_threads(n) == n == lib.qcomp_get_num_threads()
        np.testing.assert_array_equal(runner.run(feeds)["dw.y"], want, err_msg=f"{n} threads")
    assert lib.qcomp_set_num_threads(-2) == -1 and lib.qcomp_get_num_threads() == 4   # unchanged
    assert lib.qcomp_set_num_threads(0) == lib.qcomp_get_num_threads()               # the default again
    with pytest.raises(QcompError, match="num_threads"):
        runner.set_num_threads(-1)


def test_environment_variable_sets_the_default(library):
    so, _, _ = library
    code = textwrap.dedent(f"""
        import ctypes
        lib = ctypes.CDLL({str(so)!r})
        print(lib.qcomp_get_num_threads(), lib.qcomp_set_num_threads(5), lib.qcomp_set_num_threads(0))
    """)
    for value, default in (("3", 3), ("1", 1), ("junk", len(os.sched_getaffinity(0)))):
        env = dict(os.environ, QCOMP_NUM_THREADS=value)
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
        assert r.returncode == 0, r.stderr
        assert r.stdout.split() == [str(default), "5", str(default)], value


def test_load_and_cli_threads(tmp_path):
    """qcomp.load(num_threads=) and `qcomp run --threads` on a built artifact, same outputs as 1 thread."""
    model = REPO / "examples" / "fashion_mnist" / "model.onnx"
    if not model.is_file():
        pytest.skip("examples/fashion_mnist/model.onnx is missing")
    art = tmp_path / "art"
    qcomp.build(model, target="x86-vnni", calib=model.parent / "calib.npz", out=art)
    with np.load(model.parent / "input.npz") as data:
        feeds = dict(data)
    one = qcomp.load(art, num_threads=1).run(feeds, raw=True)
    three = qcomp.load(art, num_threads=3)
    assert three._runner.num_threads == 3
    for k, v in three.run(feeds, raw=True).items():
        np.testing.assert_array_equal(v, one[k])
    with pytest.raises(QcompError, match="num_threads"):
        qcomp.load(art, num_threads=-1)
    np.savez(tmp_path / "in.npz", **feeds)
    r = subprocess.run([sys.executable, "-m", "qcomp", "run", art, "--input", tmp_path / "in.npz", "--threads", "2",
                        "--raw", "-o", tmp_path / "out.npz"], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert r.returncode == 0, r.stderr
    with np.load(tmp_path / "out.npz") as out:
        for k, v in one.items():
            np.testing.assert_array_equal(out[k], v)


AFFINITY_PROBE = """
import ctypes, json, os, sys
import numpy as np
lib = ctypes.CDLL(sys.argv[1])
before = set(os.listdir("/proc/self/task"))
assert lib.qcomp_set_num_threads(int(sys.argv[2])) == int(sys.argv[2])
from qcomp.runtime.llvm import Runner
runner = Runner(sys.argv[1])
runner.run({"x": np.zeros((1, 24, 24, 32), np.int8)})
workers = sorted(set(os.listdir("/proc/self/task")) - before)
print(json.dumps({"main": sorted(os.sched_getaffinity(0)),
                  "workers": [sorted(os.sched_getaffinity(int(t))) for t in workers]}))
"""


def affinities(so, threads: int, **env) -> dict:
    import json
    r = subprocess.run([sys.executable, "-c", AFFINITY_PROBE, str(so), str(threads)], capture_output=True, text=True,
                       env={**os.environ, **env}, cwd=REPO, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs 2 CPUs")
def test_workers_pinned_to_distinct_cpus(library):
    """Each worker gets its own CPU of the allowed set (a guest scheduler that packs threads on one
    vCPU made 2 threads slower than 1); the caller is left alone; QCOMP_THREAD_AFFINITY=0 and more
    threads than CPUs leave the workers unpinned."""
    so, _, _ = library
    allowed = sorted(os.sched_getaffinity(0))
    n = len(allowed)
    got = affinities(so, n)
    assert got["main"] == allowed
    assert len(got["workers"]) == n - 1
    assert all(len(w) == 1 for w in got["workers"])
    assert len({w[0] for w in got["workers"]}) == n - 1 and all(w[0] in allowed for w in got["workers"])
    assert affinities(so, n, QCOMP_THREAD_AFFINITY="0")["workers"] == [allowed] * (n - 1)
    assert affinities(so, n + 1)["workers"] == [allowed] * n
