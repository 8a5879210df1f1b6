"""The llvm vector-kernel tests' shared steps: one graph of many parts compiled per target, every
output compared with the integer reference exactly (test_kernels16_vec.py, test_softmax16_vec.py,
test_softmax_vec.py, test_elem_vec.py: each defines a module fixture `graph` = with_reference(...)
and takes its three target tests from target_tests())."""
import numpy as np
import pytest

from qcomp.codegen.llvm import emit
from qcomp.ir import verify
from qcomp.ref import run_integer
from qcomp.target import get_target, host_support
from tests.opcases.batch import union


def with_reference(graphs: list, feeds: dict) -> tuple:
    """(the parts' union graph, the feeds, the reference's outputs); every part's output must spread
    over at least 8 values, so a broken kernel shows."""
    g = verify(union(graphs))
    want = run_integer(g, feeds)
    for name, value in want.items():
        assert np.unique(value).size >= 8, name
    return g, feeds, want


def runs_on(name: str):
    """Skip a test where this host cannot run target `name`'s artifacts (the reason named)."""
    support = host_support(get_target(name))
    return pytest.mark.skipif(not support.can_run, reason=f"target {name}: {support.why}")


def check(got: dict, want: dict) -> None:
    assert sorted(got) == sorted(want)
    for name, value in want.items():
        assert got[name].dtype == value.dtype and got[name].shape == value.shape, name
        np.testing.assert_array_equal(got[name], value, err_msg=name)


def check_host(name: str, graph, tmp_path, threads=(2,)) -> None:
    """Target `name` (an x86 one) built and run in-process at each thread count: equal to ref."""
    from qcomp.runtime.llvm import Runner
    g, feeds, want = graph
    emit(g, get_target(name), tmp_path)
    for n in threads:
        check(Runner(tmp_path / "model.so", num_threads=n).run({k: v.copy() for k, v in feeds.items()}), want)


def check_cross(name: str, graph, tmp_path) -> None:
    """Target `name` (an aarch64 one) built and run under QEMU: equal to ref."""
    from qcomp.runtime.llvm_cross import CrossRunner
    g, feeds, want = graph
    target = get_target(name)
    emit(g, target, tmp_path)
    check(CrossRunner(tmp_path / "runner", target, g.inputs, g.outputs).run(dict(feeds)), want)


def target_tests() -> tuple:
    """The three tests of a vector-kernel file on its `graph` fixture: x86-vnni at 1 and 2 threads,
    x86-avx2, arm-sdot under QEMU. A file binds them to module-level test names:
        test_x86_vnni_threads, test_x86_avx2, test_arm_sdot = target_tests()"""
    @runs_on("x86-vnni")
    def test_x86_vnni_threads(graph, tmp_path):
        check_host("x86-vnni", graph, tmp_path, threads=(1, 2))

    @runs_on("x86-avx2")
    def test_x86_avx2(graph, tmp_path):
        check_host("x86-avx2", graph, tmp_path)

    @runs_on("arm-sdot")
    def test_arm_sdot(graph, tmp_path):
        check_cross("arm-sdot", graph, tmp_path)

    return test_x86_vnni_threads, test_x86_avx2, test_arm_sdot
