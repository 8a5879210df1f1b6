"""The CUDA emulation header (runtime/cuda/qcomp_cuda_emulate.h) and the runtime's error paths.

- __syncthreads holds across a block: a kernel that rotates values through shared memory across
  two barriers gives the right answer only if every thread wrote before any thread reads.
- __dp4a equals the signed byte dot product (numpy), on edge values.
- the emulated mma.sync m16n8k32 s8, fed fragments laid out as the PTX ISA says (written out in the
  test kernel), computes A x B + C of the whole 16x8 tile (numpy).
- the backend refuses an op it has no kernel for with UnsupportedModelError naming the node.
"""
from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from qcomp.errors import QcompError, UnsupportedModelError
from qcomp.ir import DType, Graph, TensorType, ops
from qcomp.resources import data_dir

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="target cuda --emulate: g++ is missing")

KERNELS = r"""
#include "qcomp_cuda_emulate.h"
__global__ void rotate(const int* x, int* y) {
    __shared__ int s[64];
    const int t = threadIdx.x + 8 * threadIdx.y;
    s[t] = x[blockIdx.x * 64 + t];
    __syncthreads();
    const int v = s[(t + 1) % 64] + s[(t + 63) % 64];
    __syncthreads();
    s[t] = v * 2;
    __syncthreads();
    y[blockIdx.x * 64 + t] = s[63 - t] + t;
}
extern "C" void run_rotate(const int* x, int* y, int blocks) {
    qcomp_emu::launch(dim3(blocks), dim3(8, 8), true, [&] { rotate(x, y); });
}
/* one warp: fragments loaded with the PTX ISA layout of mma.m16n8k32 .s8 (written out here, independently
   of the header), D = A x B + C stored back with the accumulator layout */
__global__ void mma_tile(const int8_t* A, const int8_t* B, const int* C, int* D) {
    const int lane = threadIdx.x, g = lane >> 2, t = lane & 3;
    unsigned a[4] = {0, 0, 0, 0}, b[2] = {0, 0};
    for (int i = 0; i < 16; ++i) {           /* a_i: row g (+8 for i in 4..7, 12..15), col 4t + i%4 (+16 for i >= 8) */
        const int row = g + ((i >= 4 && i < 8) || i >= 12 ? 8 : 0), col = 4 * t + (i & 3) + (i >= 8 ? 16 : 0);
        a[i / 4] |= (unsigned)(uint8_t)A[row * 32 + col] << (8 * (i & 3));
    }
    for (int i = 0; i < 8; ++i) {            /* b_i: row 4t + i%4 (+16 for i >= 4), col g */
        const int row = 4 * t + (i & 3) + (i >= 4 ? 16 : 0);
        b[i / 4] |= (unsigned)(uint8_t)B[row * 8 + g] << (8 * (i & 3));
    }
    int d[4];
    for (int i = 0; i < 4; ++i) d[i] = C[(g + (i >= 2 ? 8 : 0)) * 8 + 2 * t + (i & 1)];
    qcomp_emu_mma_m16n8k32_s8(d, a, b);
    for (int i = 0; i < 4; ++i) D[(g + (i >= 2 ? 8 : 0)) * 8 + 2 * t + (i & 1)] = d[i];
}
extern "C" void run_mma(const int8_t* A, const int8_t* B, const int* C, int* D) {
    qcomp_emu::launch(dim3(1), dim3(32), true, [&] { mma_tile(A, B, C, D); });
}
extern "C" void run_dp4a(const int* a, const int* b, const int* c, int* out, int n) {
    for (int i = 0; i < n; ++i) out[i] = __dp4a(a[i], b[i], c[i]);
}
"""


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("emu")
    (tmp / "k.cpp").write_text(KERNELS)
    header = data_dir("runtime") / "cuda"
    subprocess.run(["g++", "-O2", "-std=c++17", "-shared", "-fPIC", "-I", str(header), "-o", str(tmp / "k.so"),
                    str(tmp / "k.cpp")], check=True)
    return ctypes.CDLL(str(tmp / "k.so"))


def _ptr(a: np.ndarray):
    return a.ctypes.data_as(ctypes.c_void_p)


def test_syncthreads_is_a_block_barrier(lib):
    x = np.random.default_rng(0).integers(-1000, 1000, size=3 * 64).astype(np.int32)
    y = np.zeros_like(x)
    lib.run_rotate(_ptr(x), _ptr(y), 3)
    blocks = x.reshape(3, 64)
    t = np.arange(64)
    v = 2 * (np.roll(blocks, -1, axis=1) + np.roll(blocks, 1, axis=1))
    np.testing.assert_array_equal(y.reshape(3, 64), v[:, 63 - t] + t)


def test_dp4a_is_the_signed_byte_dot_product(lib):
    rng = np.random.default_rng(0)
    a8 = rng.integers(-128, 128, size=(1000, 4)).astype(np.int8)
    b8 = rng.integers(-128, 128, size=(1000, 4)).astype(np.int8)
    a8[0], b8[0] = -128, -128
    a8[1], b8[1] = 127, -128
    c = rng.integers(-2**30, 2**30, size=1000).astype(np.int32)
    out = np.zeros(1000, np.int32)
    lib.run_dp4a(_ptr(a8.view(np.int32).ravel().copy()), _ptr(b8.view(np.int32).ravel().copy()), _ptr(c), _ptr(out),
                 1000)
    want = c.astype(np.int64) + (a8.astype(np.int64) * b8.astype(np.int64)).sum(axis=1)
    np.testing.assert_array_equal(out, want)


def test_mma_fragments_follow_the_ptx_layout(lib):
    rng = np.random.default_rng(1)
    for _ in range(3):
        a = rng.integers(-128, 128, size=(16, 32)).astype(np.int8)
        b = rng.integers(-128, 128, size=(32, 8)).astype(np.int8)
        c = rng.integers(-2**20, 2**20, size=(16, 8)).astype(np.int32)
        a[0], b[:, 0] = -128, -128
        d = np.zeros((16, 8), np.int32)
        lib.run_mma(_ptr(a), _ptr(b), _ptr(c), _ptr(d))
        np.testing.assert_array_equal(d, a.astype(np.int64) @ b.astype(np.int64) + c)


def test_unsupported_op_names_node_and_target(tmp_path):
    from qcomp.codegen.cuda import emit
    from qcomp.ir import Stage
    from qcomp.target import get_target
    g = Graph(name="deconv", stage=Stage.TARGET)
    g.add_input("x", TensorType((1, 3, 4, 2), DType.FLOAT32))
    w = g.add_constant("w", np.ones((2, 2, 2, 2), np.float32))
    b = g.add_constant("b", np.zeros(2, np.float32))
    g.add_node(ops.ConvTranspose2D(), ["x", w, b], "my_deconv")   # no float ConvTranspose2D on cuda
    g.outputs = ["my_deconv"]
    refusal = r"target cuda (.|\n)*'my_deconv' \(ConvTranspose2D f32, f32, f32 -> f32\)"
    with pytest.raises(UnsupportedModelError, match=refusal):
        emit(g, get_target("cuda"), tmp_path, fatbin=False)


def test_runtime_refuses_without_gpu_and_checks_manifest(tmp_path):
    from qcomp.runtime.cuda import load
    with pytest.raises(QcompError, match="lacks 'launches'"):
        load(tmp_path, {"files": {}}, emulate=True)
    from qcomp.runtime.cuda import gpu_unavailable
    if gpu_unavailable() is None:
        return   # a GPU host: the GPU runner's errors are tested in test_cuda_driver_runtime.py
    with pytest.raises(QcompError, match="(no GPU on this host|cuda-bindings).*--emulate"):
        load(tmp_path, {"files": {}, "launches": [], "buffers": {}, "weights_file_bytes": 0})


def test_without_nvcc_the_build_writes_the_source_and_says_why(tmp_path, capsys):
    import dataclasses

    from qcomp.codegen.cuda import emit
    from qcomp.ir import Stage, qops
    from qcomp.target import get_target
    g = Graph(name="rq", stage=Stage.TARGET)
    g.add_input("x", TensorType((2, 5), DType.INT8))
    g.add_node(qops.QRequantize(0, 1 << 30, 0, 3), ["x"], "rq")
    g.outputs = ["rq"]
    target = dataclasses.replace(get_target("cuda"), toolchain={"nvcc": "nvcc-not-installed-here"})
    manifest = emit(g, target, tmp_path)
    assert (tmp_path / "model.cu").is_file() and not (tmp_path / "model.fatbin").exists()
    assert "fatbin" not in manifest["files"]
    assert "nvidia-cuda-nvcc" in manifest["build_notes"][0]
    assert "nvidia-cuda-nvcc" in capsys.readouterr().err


def test_roofline_limits():
    from qcomp.codegen.cuda.roofline import Gpu, roofline
    gpu = Gpu("toy", 100e12, 1e12, 10e12)   # ridge at 100 ops/byte (tensor cores), 10 (CUDA cores)
    rows = roofline([{"kernel": "gemm", "macs": 10**9, "dram_bytes": 10**6, "tensor_cores": True},
                     {"kernel": "copy", "macs": 0, "dram_bytes": 10**6},
                     {"kernel": "depthwise", "macs": 10**7, "dram_bytes": 10**6, "tensor_cores": False}], gpu)
    assert rows[0].limit == "compute" and rows[0].intensity == 2000 and abs(rows[0].bound_us - 20.0) < 1e-9
    assert rows[1].limit == "memory" and abs(rows[1].bound_us - 1.0) < 1e-9
    # 20 ops/byte: memory-bound against the tensor-core ridge, compute-bound on the CUDA cores it runs on
    assert rows[2].limit == "compute" and rows[2].engine == "cuda-core" and abs(rows[2].bound_us - 2.0) < 1e-9


def test_occupancy_limits():
    from qcomp.codegen.cuda.roofline import A100, H100, occupancy
    # 256 threads, 32 registers, 2.3 KB shared: 8 blocks = 64 warps per SM, full
    o = occupancy(A100, (16, 16, 1), (108 * 8, 1, 1), 32, 2304)
    assert (o.blocks_per_sm, o.theoretical, o.achieved, o.waves) == (8, 1.0, 1.0, 1)
    # 64 registers: 2048 per warp -> 32 warps = 4 blocks of 8 warps, half occupancy
    o = occupancy(A100, (16, 16, 1), (1000, 1, 1), 64, 0)
    assert (o.blocks_per_sm, o.theoretical, o.limiter) == (4, 0.5, "registers")
    # 40 KB shared: (164 KB) // 41 KB = 4 blocks on A100, (228 KB) // 41 KB = 5 on H100
    assert occupancy(A100, (256, 1, 1), (1000, 1, 1), 16, 40 * 1024).blocks_per_sm == 4
    assert occupancy(H100, (256, 1, 1), (1000, 1, 1), 16, 40 * 1024).limiter == "shared"
    # a grid of 54 blocks fills a quarter of one wave on A100 (108 SMs x 2 blocks of 1024 threads)
    o = occupancy(A100, (1024, 1, 1), (54, 1, 1), 16, 0)
    assert o.blocks_per_sm == 2 and o.theoretical == 1.0 and abs(o.achieved - 0.25) < 1e-12


def test_parse_ptxas_usage():
    from qcomp.codegen.cuda.nvcc import parse_ptxas_usage
    report = """ptxas info    : 0 bytes gmem
ptxas info    : Compiling entry function 'k2' for 'sm_80'
ptxas info    : Function properties for k2
    0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Used 10 registers, used 0 barriers, 368 bytes cmem[0]
ptxas info    : Compiling entry function 'k1' for 'sm_80'
ptxas info    : Function properties for k1
    0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Used 14 registers, used 1 barriers, 256 bytes smem, 368 bytes cmem[0]
"""
    assert parse_ptxas_usage(report) == {"k2": {"registers": 10, "shared_bytes": 0},
                                         "k1": {"registers": 14, "shared_bytes": 256}}


def test_check_names_the_missing_op():
    from qcomp.codegen.cuda import check
    from qcomp.ir import Stage, qops
    from qcomp.target import get_target
    g = Graph(name="deconv", stage=Stage.TARGET)
    g.add_input("x", TensorType((1, 3, 4, 2), DType.FLOAT32))
    w = g.add_constant("w", np.ones((2, 2, 2, 2), np.float32))
    b = g.add_constant("b", np.zeros(2, np.float32))
    g.add_node(ops.ConvTranspose2D(), ["x", w, b], "up")   # no float ConvTranspose2D on cuda
    g.outputs = ["up"]
    assert [(p.node, p.op) for p in check(g, get_target("cuda"))] == [("up", "ConvTranspose2D")]
    h = Graph(name="rq", stage=Stage.TARGET)
    h.add_input("x", TensorType((2, 5), DType.INT8))
    h.add_node(qops.QRequantize(0, 1 << 30, 0, 3), ["x"], "rq")
    h.outputs = ["rq"]
    assert check(h, get_target("cuda")) == []
