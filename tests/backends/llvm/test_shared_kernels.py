"""Kernels shared between nodes of one shape class (irgen.Module.shared), and the split compile.

kernels_dot.shared_tile: one GEMM micro-kernel per (MR, NR, depth steps, A row stride, live
channels of the last block, requantize form), the output row stride and the requantize constants
passed in; kernels_depthwise: one depthwise row kernel per (channels, taps), the tables and zero
points passed in. Each case is one graph holding several nodes of one class that differ in what
became an argument (output channels, spatial size, stride, zero points, ReLU clamp), built once:
the test checks the class's kernels are emitted once, and every node's output is bit-exact to
tests/opcases/naive.py. The same graph compiled as two parts in parallel processes
(compile.compile_object, split.py) gives the same bytes.
"""
import re
import subprocess
import tempfile

import numpy as np
import pytest

from qcomp.codegen.llvm import build_module, compile as llvm_compile, emit
from qcomp.runtime.llvm import Runner
from qcomp.target import get_target, host_support
from tests.opcases import graphs as gb
from tests.opcases import naive
from tests.opcases.batch import union

pytestmark = pytest.mark.skipif(not host_support(get_target("x86-vnni")).can_run, reason="needs an x86-vnni host")

# (name, x shape NHWC, output channels, kernel, keyword arguments of graphs.conv): every class has
# 35 output pixels (one 5-row tail tile after 6-row tiles) and a multiple of 64 output channels
# (whole 4-block chunks), so its nodes share every tile variant of the first
GEMM_1X1 = [("a", (1, 7, 5, 32), 64, (1, 1), dict(zp_out=5)),
            ("b", (1, 5, 7, 32), 64, (1, 1), dict(zp_in=-128, zp_out=-20, act="relu")),
            ("c", (1, 7, 5, 32), 128, (1, 1), dict(zp_in=17, zp_out=0, act="relu6"))]
GEMM_3X3 = [("d", (1, 7, 5, 16), 64, (3, 3), dict(pads=(1, 1, 1, 1))),
            ("e", (1, 14, 10, 16), 128, (3, 3), dict(strides=(2, 2), pads=(1, 1, 1, 1), zp_out=-9, act="relu"))]
DEPTHWISE = [("f", (1, 9, 9, 40), 40, (3, 3), dict(group=40, pads=(1, 1, 1, 1))),
             ("g", (1, 8, 8, 40), 40, (3, 3), dict(group=40, strides=(2, 2), pads=(0, 1, 1, 0), zp_in=-100,
                                                   zp_out=11, act="relu")),
             ("h", (1, 5, 6, 40), 40, (3, 3), dict(group=40, pads=(1, 1, 1, 1), zp_out=-128))]
CLASSES = {"gemm_1x1": GEMM_1X1, "gemm_3x3": GEMM_3X3, "depthwise": DEPTHWISE}


def _cases(specs):
    rng = np.random.default_rng(15)
    return [gb.conv(name, rng, shape, out_ch, kernel, **kw) for name, shape, out_ch, kernel, kw in specs]


def _kernels(graph, target: str) -> dict[str, int]:
    """Definitions of the shared kernels in graph's module, by kind."""
    text = str(build_module(graph, get_target(target))[0].m)
    names = re.findall(r'^define [^@]*@"(tile|dw_wide_rows|dw_rows)(?:\.\d+)?"', text, re.M)
    return {kind: names.count(kind) for kind in set(names)}


def _run(graph, feeds) -> dict:
    with tempfile.TemporaryDirectory(prefix="qcomp-shared-") as out:
        emit(graph, get_target("x86-vnni"), out)
        return Runner(f"{out}/model.so").run(dict(feeds))


@pytest.fixture(scope="module")
def built():
    """class -> (its cases, their union, the union's outputs on x86-vnni, the union's feeds)"""
    out = {}
    for cls, specs in CLASSES.items():
        cases = _cases(specs)
        feeds = {f"c{i}.{k}": v for i, (_, f) in enumerate(cases) for k, v in f.items()}
        g = union([g for g, _ in cases])
        out[cls] = cases, g, _run(g, feeds), feeds
    return out


@pytest.mark.parametrize("cls", CLASSES)
def test_one_kernel_per_class(built, cls):
    cases, g, _, _ = built[cls]
    alone = _kernels(cases[0][0], "x86-vnni")
    together = _kernels(g, "x86-vnni")
    assert together == alone, f"{cls}: the union's kernels {together} are not those of its first node {alone}"
    assert sum(together.values()) > 0


@pytest.mark.parametrize("cls", CLASSES)
def test_shared_kernels_bit_exact(built, cls):
    cases, _, got, _ = built[cls]
    for i, (graph, feeds) in enumerate(cases):
        want = naive.run(graph, feeds)
        for name in graph.outputs:
            np.testing.assert_array_equal(got[f"c{i}.{name}"], want[name], err_msg=f"{cls}: node {graph.name}")
        assert len(np.unique(want[graph.outputs[0]])) > 20, f"{graph.name}: too few distinct outputs to test"


def test_depthwise_rows_shared_on_arm():
    """The AArch64 depthwise kernel (emit_depthwise's dw_rows) is shared the same way (build only: the
    arm-sdot op cases run it under QEMU)."""
    cases = _cases(DEPTHWISE)
    assert _kernels(union([g for g, _ in cases]), "arm-sdot") == _kernels(cases[0][0], "arm-sdot") == {"dw_rows": 1}


def test_split_compile_is_bit_exact(built, monkeypatch):
    """Every class in one module, compiled as two parts at once (any module size), joined into model.o:
    the same outputs as the whole module compiled in one process."""
    parts = [(g, feeds) for _, g, _, feeds in built.values()]
    g = union([p for p, _ in parts])
    feeds = {f"c{i}.{k}": v for i, (_, f) in enumerate(parts) for k, v in f.items()}
    timings = []
    compile_object = llvm_compile.compile_object

    def spy(*args, **kwargs):
        timings.append(compile_object(*args, **kwargs))
        return timings[-1]
    monkeypatch.setattr(llvm_compile, "SPLIT_MIN_LINES", 0)
    monkeypatch.setattr(llvm_compile, "llvm_jobs", lambda: 2)
    monkeypatch.setattr("qcomp.codegen.llvm.compile_object", spy)
    with tempfile.TemporaryDirectory(prefix="qcomp-split-") as out:
        emit(g, get_target("x86-vnni"), out)
        got = Runner(f"{out}/model.so").run(dict(feeds))
        symbols = subprocess.run(["nm", f"{out}/model.o"], capture_output=True, text=True, check=True).stdout
    assert timings[0]["parts"] == 2
    defined = [line.split() for line in symbols.splitlines() if len(line.split()) == 3]
    exported = sorted(name for _, kind, name in defined if kind.isupper())
    assert exported and all(name.startswith("qcomp_") for name in exported), exported   # tile, node.N: local
    for i, (_, _, whole, _) in enumerate(built.values()):
        for name, value in whole.items():
            np.testing.assert_array_equal(got[f"c{i}.{name}"], value, err_msg=f"{name} after the split compile")


SPLIT_IR = '''; ModuleID = "m"
target triple = "x86_64-unknown-linux-gnu"

@"state" = internal global ptr null
@"table" = internal constant [2 x i8] c"\\01\\02"

define internal i64 @"helper"(i64 %".1") alwaysinline nounwind
{
entry:
  %".3" = add i64 %".1", 1
  ret i64 %".3"
}

define i32 @"api"(ptr %".1") nounwind
{
entry:
  %".3" = call i32 @"node.0"(ptr %".1")
  %".4" = call i32 @"node.1"(ptr %".1")
  ret i32 %".4"
}

define internal i32 @"node.0"(ptr %".1") noinline nounwind
{
entry:
  call void @"kernel"(ptr %".1")
  call void @"only0"(ptr %".1")
  ret i32 0
}

define internal i32 @"node.1"(ptr %".1") noinline nounwind
{
entry:
  call void @"kernel"(ptr %".1")
  %".4" = load ptr, ptr @"state"
  ret i32 0
}

define internal void @"kernel"(ptr %".1") nounwind
{
entry:
  %".3" = load i8, ptr @"table"
  store i8 %".3", ptr %".1"
  ret void
}

define internal void @"only0"(ptr %".1") nounwind
{
entry:
  %".3" = call i64 @"helper"(i64 7)
  store ptr %".1", ptr @"state"
  ret void
}
'''


def test_split_module_linkage():
    """split.py's rules on a small module: node.0 keeps its only callee, the exported function stays in
    part 0, a node function referenced across parts becomes hidden and is declared where it is called,
    the shared kernel is copied (internal) into each part that calls it, the mutable global is defined
    once, the helper is copied; every part parses and verifies."""
    import llvmlite.binding as llvm

    from qcomp.codegen.llvm.split import split_module
    parts = split_module(SPLIT_IR, 2)
    assert len(parts) == 2
    for text in parts:
        llvm.parse_assembly(text).verify()
    defined = [set(re.findall(r'^define [^@]*@"([\w.]+)"', t, re.M)) for t in parts]
    owner = {name: i for i, names in enumerate(defined) for name in names - {"helper", "kernel"}}
    assert owner["api"] == 0 and owner["only0"] == owner["node.0"]
    assert sorted(owner) == ["api", "node.0", "node.1", "only0"] and all("helper" in d for d in defined)
    for p in {owner["node.0"], owner["node.1"]}:   # the shared kernel: an internal copy beside each caller
        assert 'define internal void @"kernel"' in parts[p] and 'declare hidden void @"kernel"' not in parts[p]
    assert sum(t.count('@"state" = hidden global ptr null') for t in parts) == 1
    assert sum(t.count('@"state" = external hidden global ptr') for t in parts) == 1
    callers = {"node.0": ["api"], "node.1": ["api"], "only0": ["node.0"]}
    for name, refs in callers.items():   # hidden where a caller is in another part (and declared there)
        across = [owner[r] for r in refs if owner[r] != owner[name]]
        assert (f'define hidden void @"{name}"' in parts[owner[name]] or
                f'define hidden i32 @"{name}"' in parts[owner[name]]) == bool(across), name
        assert all(f'declare hidden' in parts[p] and f'@"{name}"(' in parts[p] for p in across), name
    assert any(owner[name] == 1 for name in callers), "nothing moved to part 1"
    assert split_module(SPLIT_IR, 1) == [SPLIT_IR]


def test_split_module_calls_a_large_kernel_across_parts(monkeypatch):
    """A kernel longer than COPY_MAX_LINES is not copied: hidden where it is defined, declared where
    another part calls it."""
    from qcomp.codegen.llvm import split
    monkeypatch.setattr(split, "COPY_MAX_LINES", 3)
    parts = split.split_module(SPLIT_IR, 2)
    homes = [p for p, t in enumerate(parts) if re.search(r'^define [^@]*@"kernel"', t, re.M)]
    assert len(homes) == 1 and 'define hidden void @"kernel"' in parts[homes[0]]
    callers = [p for p, t in enumerate(parts) if p != homes[0] and 'call void @"kernel"' in t]
    assert callers and all('declare hidden void @"kernel"' in parts[p] for p in callers)


@pytest.mark.skipif(not host_support(get_target("arm-sdot")).can_run, reason="needs the arm-sdot cross toolchain and QEMU")
def test_split_compile_arm_sdot(monkeypatch):
    """The cross target's split compile: joined and localized with its own binutils, shared depthwise and
    GEMM kernels, bit-exact under QEMU."""
    from pathlib import Path

    from qcomp.runtime.llvm_cross import CrossRunner
    monkeypatch.setattr(llvm_compile, "SPLIT_MIN_LINES", 0)
    monkeypatch.setattr(llvm_compile, "llvm_jobs", lambda: 2)
    cases = _cases(DEPTHWISE + GEMM_1X1)
    g = union([c for c, _ in cases])
    feeds = {f"c{i}.{k}": v for i, (_, f) in enumerate(cases) for k, v in f.items()}
    target = get_target("arm-sdot")
    with tempfile.TemporaryDirectory(prefix="qcomp-split-arm-") as out:
        emit(g, target, out)
        symbols = subprocess.run(["aarch64-linux-gnu-nm", f"{out}/model.o"], capture_output=True, text=True,
                                 check=True).stdout
        got = CrossRunner(Path(out) / "runner", target, g.inputs, g.outputs).run(dict(feeds))
    exported = [line.split()[2] for line in symbols.splitlines() if len(line.split()) == 3 and line.split()[1].isupper()]
    assert exported and all(name.startswith("qcomp_") for name in exported), exported
    for i, (graph, f) in enumerate(cases):
        want = naive.run(graph, f)
        for name in graph.outputs:
            np.testing.assert_array_equal(got[f"c{i}.{name}"], want[name], err_msg=f"arm-sdot: node {graph.name}")
