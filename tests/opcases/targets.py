"""The targets the op-case table is crossed with.

A `Target` is a name, a `run(graph, feeds) -> outputs` callable (graph: a TARGET-stage graph;
feeds and outputs: dicts of numpy arrays keyed by graph input / output name), `skip()`, the
reason this host cannot run it (None when it can), and `qcomp_target`, the qcomp target whose
backend runs it. Adding a backend is one line in TARGETS, e.g.

    Target("x86-vnni", run_x86_vnni, host_skip("x86-vnni")),

where `run_x86_vnni` compiles the graph with the backend and runs the result, and `host_skip`
asks qcomp.target.host_support (missing toolchain, runner or CPU feature) for the reason.

A backend without an emitter for a case's op FAILS the case (its UnsupportedModelError is the
failure). The only exceptions are the refusals by design listed in REFUSED: test_opcases.py
asserts that the backend refuses those cases, with a message that contains the listed words.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from qcomp.ir import Graph

from .batch import batched

Run = Callable[[Graph, Mapping[str, np.ndarray]], dict[str, np.ndarray]]


def _always() -> str | None:
    return None


@dataclass(frozen=True)
class Target:
    name: str
    run: Run
    skip: Callable[[], str | None] = _always
    qcomp_target: str = ""

    @property
    def backend_target(self) -> str:
        return self.qcomp_target or self.name


# (target, case) -> words the refusal must contain: the cases a backend refuses by design. The C
# backend has integer kernels only; --quant dynamic computes activation scales in float at run time.
_DYNAMIC = ("dynamic quantization", "--quant full")
REFUSED: dict[tuple[str, str], tuple[str, ...]] = {
    (t, c): (op, *_DYNAMIC) for t in ("dsp-c", "cortex-m4", "cortex-m7", "cortex-m55")
    for c, op in (("dynamic_dense_relu6", "DynamicDense"), ("dynamic_matmul", "DynamicMatMul"),
                  ("dynamic_dense_tokens_tails", "DynamicDense"), ("dynamic_dense_wide_k_clamped", "DynamicDense"),
                  ("dynamic_matmul_heads_broadcast_tails", "DynamicMatMul"),
                  ("dynamic_matmul_heads_clamped", "DynamicMatMul"))}
REFUSED |= {(t, c): (op, *_DYNAMIC) for t in ("dsp-c", "cortex-m4", "cortex-m7", "cortex-m55")
            for c, op in (("dynamic_dense_threaded_pack", "DynamicDense"),
                          ("dynamic_matmul_threaded_pack", "DynamicMatMul"))}
REFUSED |= {(t, c): ("DynamicDenseRows", "--quant full") for t in ("dsp-c", "cortex-m4", "cortex-m7", "cortex-m55")
            for c in ("dynamic_dense_rows_tails", "dynamic_dense_rows_threaded_clamped")}
REFUSED |= {("cuda-emulated", c): ("DynamicDenseRows",)
            for c in ("dynamic_dense_rows_tails", "dynamic_dense_rows_threaded_clamped")}
# the --quant dynamic fusions (passes/fuse_dynamic.py) exist on llvm only (builder.BACKEND_FUSIONS)
DYNAMIC_FUSED_CASES = ("dynamic_dense_add_norm_tails",)
REFUSED |= {(t, c): ("DynamicDenseAddNorm",) for t in ("cuda-emulated", "dsp-c", "cortex-m4", "cortex-m7", "cortex-m55")
            for c in DYNAMIC_FUSED_CASES}
REFUSED |= {(t, "dynamic_matmul_scale_add_tails"): ("DynamicMatMulScaleAdd",)
            for t in ("cuda-emulated", "dsp-c", "cortex-m4", "cortex-m7", "cortex-m55")}   # fuse_dynamic_attention: llvm only
REFUSED |= {(t, c): ("DynamicDenseSplit",) for t in ("cuda-emulated", "dsp-c", "cortex-m4", "cortex-m7", "cortex-m55")
            for c in ("dynamic_dense_split_threaded_tails",)}   # share_dynamic_input: llvm only
# QConv2DAdd exists on the backends that fuse residual Adds (builder.BACKEND_FUSIONS: llvm); the others
# never receive one from a build, which gives them the unfused QConv2D + QAdd
FUSED_CASES = ("conv1x1_add_relu_c13_o40", "conv3x3_add_residual_first_o17", "conv3x3_relu_add_s2_zp_extremes",
               "conv_depthwise_add_c33", "two_convs_add_relu_downsample")
REFUSED |= {(t, c): ("QConv2DAdd",) for t in ("cuda-emulated", "dsp-c", "cortex-m4", "cortex-m7", "cortex-m55") for c in FUSED_CASES}


def host_skip(target_name: str) -> Callable[[], str | None]:
    """The reason qcomp.target.host_support gives for not running `target_name` here, or None."""
    def why() -> str | None:
        from qcomp.target import get_target, host_support
        support = host_support(get_target(target_name))
        return None if support.can_run else f"target {target_name}: {support.why}"
    return why


def run_ref(graph: Graph, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    from qcomp.ref import run_integer
    return run_integer(graph, feeds)


TARGETS: list[Target] = [
    Target("ref", run_ref),
]


def _run_x86_vnni(graph: Graph, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Compile with the llvm backend for x86-vnni, run model.so."""
    import tempfile

    from qcomp.codegen.llvm import emit
    from qcomp.runtime.llvm import Runner
    from qcomp.target import get_target
    target = get_target("x86-vnni")
    with tempfile.TemporaryDirectory(prefix="qcomp-llvm-") as out:
        emit(graph, target, out)
        return Runner(f"{out}/model.so").run(dict(feeds))


_run_x86_vnni.qcomp_target = "x86-vnni"
run_x86_vnni = batched(_run_x86_vnni)   # the op cases in a few model.so (tests/opcases/batch.py)
TARGETS.append(Target("x86-vnni", run_x86_vnni, host_skip("x86-vnni")))


def run_arm(target_name: str) -> Run:
    """Cross-compile with the llvm backend for an aarch64 target, run the artifact's static runner
    under the target's QEMU command (natively on an aarch64 host): arm-sdot (SDOT, -cpu max),
    arm-neon (no dotprod: -cpu cortex-a72) and arm-i8mm (SMMLA: -cpu max)."""
    def run(graph: Graph, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        import tempfile
        from pathlib import Path

        from qcomp.codegen.llvm import emit
        from qcomp.runtime.llvm_cross import CrossRunner
        from qcomp.target import get_target
        target = get_target(target_name)
        with tempfile.TemporaryDirectory(prefix="qcomp-arm-") as out:
            emit(graph, target, out)
            return CrossRunner(Path(out) / "runner", target, graph.inputs, graph.outputs).run(dict(feeds))
    run.qcomp_target = target_name   # batched(): the cases this backend accepts share artifacts
    return run


# batched: the cases in a few artifacts, one QEMU run each (tests/opcases/batch.py)
TARGETS.append(Target("arm-sdot", batched(run_arm("arm-sdot")), host_skip("arm-sdot")))
TARGETS.append(Target("arm-neon", batched(run_arm("arm-neon")), host_skip("arm-neon")))
TARGETS.append(Target("arm-i8mm", batched(run_arm("arm-i8mm")), host_skip("arm-i8mm")))


def _cuda_harness():
    """tests/backends/cuda/cuda_harness.py, loaded by path (tests/ is not a package)."""
    import importlib.util
    import sys
    from pathlib import Path
    if "cuda_harness" not in sys.modules:
        path = Path(__file__).resolve().parents[1] / "backends" / "cuda" / "cuda_harness.py"
        spec = importlib.util.spec_from_file_location("cuda_harness", path)
        sys.modules["cuda_harness"] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return sys.modules["cuda_harness"]


def run_cuda_emulated(graph: Graph, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The cuda backend's kernels compiled for the CPU (--emulate); a case it refuses fails (it covers the
    table) unless REFUSED lists it: its check's problems are raised as the build would raise them."""
    from qcomp.protocol import backend_module, raise_problems
    from qcomp.target import get_target
    target = get_target("cuda")
    raise_problems(backend_module("cuda").check(graph, target), target)
    return _cuda_harness().run_cuda_emulated(graph, feeds)


TARGETS.append(Target("cuda-emulated", run_cuda_emulated, lambda: _cuda_harness().emulation_skip(), "cuda"))


def run_dsp_c(target_name: str) -> Run:
    """Compile with the C backend (dsp-c on the host, cortex-m4 / m7 / m55 under QEMU) and run its runner
    (the dynamic-quantization cases are refusals by design: REFUSED). Batched (tests/opcases/batch.py):
    the op cases the backend accepts share a few artifacts, one build and one runner start (a firmware
    boot on Cortex-M) each; any other graph, and a refused case, is built and run alone."""
    def run(graph: Graph, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        import tempfile

        from qcomp.codegen.c import emit
        from qcomp.runtime.c import load
        from qcomp.target import get_target
        target = get_target(target_name)
        with tempfile.TemporaryDirectory(prefix="qcomp-c-") as out:
            manifest = emit(graph, target, out)
            return load(out, manifest, target).run(dict(feeds))
    run.qcomp_target = target_name
    return batched(run)


TARGETS.append(Target("dsp-c", run_dsp_c("dsp-c"), host_skip("dsp-c")))
TARGETS.append(Target("cortex-m4", run_dsp_c("cortex-m4"), host_skip("cortex-m4")))
TARGETS += [Target(t, run_dsp_c(t), host_skip(t)) for t in ("cortex-m7", "cortex-m55")]


def _x86_harness():
    """tests/backends/x86/x86_harness.py, loaded by path (tests/ is not a package)."""
    import importlib.util
    import sys
    from pathlib import Path
    if "x86_harness" not in sys.modules:
        path = Path(__file__).resolve().parents[1] / "backends" / "x86" / "x86_harness.py"
        spec = importlib.util.spec_from_file_location("x86_harness", path)
        sys.modules["x86_harness"] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return sys.modules["x86_harness"]


def _run_x86_avx2(graph: Graph, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Compile with the llvm backend for x86-avx2, check model.so holds no AVX-512 instruction, run it
    (batched: the check covers every case of the batch's model.so; a batch that fails it runs its
    cases alone, so the case that brings AVX-512 fails its own test)."""
    import tempfile
    from pathlib import Path

    from qcomp.codegen.llvm import emit
    from qcomp.runtime.llvm import Runner
    from qcomp.target import get_target
    harness = _x86_harness()
    with tempfile.TemporaryDirectory(prefix="qcomp-avx2-") as out:
        emit(graph, get_target("x86-avx2"), out)
        found = harness.avx512_instructions(harness.disassemble(Path(out) / "model.so"))
        assert not found, f"x86-avx2 model.so uses AVX-512: {found[:5]}"
        return Runner(f"{out}/model.so").run(dict(feeds))


def _run_x86_avxvnni_proxy(graph: Graph, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """x86-avxvnni's kernels (the same LLVM IR) encoded for AVX-512VL + VNNI, which this host runs:
    checks the kernels' logic, not the VEX encoding (tests/backends/x86/x86_harness.py)."""
    import tempfile

    from qcomp.codegen.llvm import emit
    from qcomp.runtime.llvm import Runner
    with tempfile.TemporaryDirectory(prefix="qcomp-avxvnni-") as out:
        emit(graph, _x86_harness().avxvnni_proxy(), out)
        return Runner(f"{out}/model.so").run(dict(feeds))


_run_x86_avx2.qcomp_target = "x86-avx2"
_run_x86_avxvnni_proxy.qcomp_target = "x86-avxvnni"
run_x86_avx2 = batched(_run_x86_avx2)
run_x86_avxvnni_proxy = batched(_run_x86_avxvnni_proxy)


def _proxy_skip() -> str | None:
    from qcomp.target import host_support
    support = host_support(_x86_harness().avxvnni_proxy())
    return None if support.can_run else f"the x86-avxvnni proxy (AVX-512VL + VNNI): {support.why}"


TARGETS.append(Target("x86-avx2", run_x86_avx2, host_skip("x86-avx2")))
TARGETS.append(Target("x86-avxvnni-proxy", run_x86_avxvnni_proxy, _proxy_skip, "x86-avxvnni"))


# ---- A16W8 (int16 activations): the targets whose backend has no int16 kernels yet refuse the
# int16 op cases by naming the op (protocol.check_nodes; i16_movement: its MaxPool2D, whose int8
# kernels must not run on int16 data). One target per line: a backend that implements them
# deletes its line.
INT16_PENDING = (
)


def _int16_refusals() -> dict[tuple[str, str], tuple[str, ...]]:
    from .cases16 import CASES16, main_kind
    return {(t, c.name): (main_kind(c),) for t in INT16_PENDING for c in CASES16}


REFUSED |= _int16_refusals()
