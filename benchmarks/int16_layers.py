"""A16W8 against int8: the time of single conv layers on x86-vnni, per layer, and the ratio int16 / int8.

    python benchmarks/int16_layers.py [--runs 30] [--threads 1] [--target x86-vnni]

Layers (MobileNetV2 / ResNet-18 shapes, NHWC, batch 1): a 3x3 conv 56x56x64 -> 64, a 1x1 conv
28x28x128 -> 256, a depthwise 3x3 112x112x32. Each is one TARGET-stage node in a model.so emitted
by the llvm backend: the int8 one is benchmarks/latency.py's conv_kernel (QConv2D + ReLU, int8 I/O),
the int16 one the same geometry as QConv2D16 (int16 input, int8 weights, int64 bias, int16 output;
acc_bits from fixedpoint.accumulator16_bits, as the quantizer would fix it). Timed as latency.py's
child_conv: qcomp_run_ex on raw integer buffers, the conv kernel (im2col pack + GEMM) and nothing
else; the two artifacts of a layer alternate in blocks of 5 runs, and the medians are compared.
The ratio is the cost factor that --accuracy's cost model charges a tensor raised to int16.
"""
from __future__ import annotations

import argparse
import ctypes
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

LAYERS = [  # name, c_in, c_out, k, stride, hw, group
    ("conv3x3 56x56x64->64", 64, 64, 3, 1, 56, 1),
    ("conv1x1 28x28x128->256", 128, 256, 1, 1, 28, 1),
    ("depthwise3x3 112x112x32", 32, 32, 3, 1, 112, 32),
]


def conv16_kernel(out: Path, c_in: int, c_out: int, k: int, stride: int, hw: int, group: int, target: str) -> Path:
    """model.so of one QConv2D16 (int16 in and out) of the layer's geometry."""
    from qcomp import fixedpoint
    from qcomp.codegen.llvm import emit
    from qcomp.ir import DType, Graph, QuantParams, Stage, TensorType, qops16, verify
    from qcomp.target import get_target
    rng = np.random.default_rng(0)
    cg, taps = c_in // group, k * k
    kk = taps * cg
    g = Graph("conv16", Stage.TARGET)
    g.add_input("x", TensorType((1, hw, hw, c_in), DType.INT16, QuantParams(0.0005, 0)))
    bias = rng.integers(-3_000_000, 3_000_000, size=c_out).astype(np.int64)
    m, sh = fixedpoint.quantize_multipliers(np.full(c_out, 9000.0 / np.sqrt(kk * 18900.0**2 * 5400)) *
                                            rng.uniform(0.5, 2, c_out))
    names = [g.add_constant("w", rng.integers(-127, 128, size=(c_out, k, k, cg)).astype(np.int8),
                            QuantParams(np.full(c_out, 0.01, np.float32), 0, axis=0)),
             g.add_constant("bias", bias), g.add_constant("multiplier", m.astype(np.int32)),
             g.add_constant("shift", sh.astype(np.int32))]
    acc_bits = fixedpoint.accumulator16_bits(kk, int(np.abs(bias).max()))
    op = qops16.QConv2D16(strides=(stride, stride), pads=(k // 2,) * 4, group=group, acc_bits=acc_bits, qmin=0)
    out_t = op.infer([g.types[v] for v in ["x", *names]])[0]
    g.add_node(op, ["x", *names], "conv", outputs=["y"],
               out_types=[TensorType(out_t.shape, DType.INT16, QuantParams(0.0005, 0))])
    g.outputs = ["y"]
    emit(verify(g), get_target(target), out)
    return out / "model.so", acc_bits


def _timer(library: Path, threads: int, dtype):
    from qcomp.runtime.llvm import Runner
    runner = Runner(Path(library), num_threads=threads)
    lib = runner._lib
    shape_in = tuple(runner.inputs[0].shape[:runner.inputs[0].rank])
    shape_out = tuple(runner.outputs[0].shape[:runner.outputs[0].rank])
    info = np.iinfo(dtype)
    x = np.random.default_rng(0).integers(info.min, info.max + 1, shape_in).astype(dtype)
    y = np.empty(shape_out, dtype)
    ins, outs = (ctypes.c_void_p * 1)(x.ctypes.data), (ctypes.c_void_p * 1)(y.ctypes.data)
    flags = 3 if dtype == np.int8 else 0     # int8: raw I/O (the int8 forms); int16 I/O is the tensors themselves

    def run(buffers=(x, y)) -> float:     # the closure keeps x and y alive while the pointers are in use
        t0 = time.perf_counter()
        status = lib.qcomp_run_ex(runner._workspace, runner._size, ins, outs, flags)
        dt = time.perf_counter() - t0
        if status != 0:
            raise SystemExit(f"qcomp_run_ex failed with status {status}")
        return dt
    return runner, run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--target", default="x86-vnni")
    args = ap.parse_args()
    spec = importlib.util.spec_from_file_location("latency", HERE / "latency.py")
    latency = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(latency)
    rows = []
    with tempfile.TemporaryDirectory(prefix="qcomp-int16-") as tmp:
        for name, *geo in LAYERS:
            d8, d16 = Path(tmp) / f"{len(rows)}_8", Path(tmp) / f"{len(rows)}_16"
            d8.mkdir()
            d16.mkdir()
            so8 = latency.conv_kernel(d8, *geo)
            so16, acc_bits = conv16_kernel(d16, *geo, args.target)
            (r8, run8), (r16, run16) = _timer(so8, args.threads, np.int8), _timer(so16, args.threads, np.int16)
            t8, t16 = [], []
            for _ in range(3):
                run8(), run16()
            while len(t8) < args.runs:
                t8 += [run8() for _ in range(5)]
                t16 += [run16() for _ in range(5)]
            m8, m16 = statistics.median(t8) * 1e3, statistics.median(t16) * 1e3
            rows.append((name, acc_bits, m8, m16))
            print(f"| {name} | {acc_bits} | {m8:.3f} | {m16:.3f} | {m16 / m8:.2f} |", flush=True)
    print(f"\n{args.target}, {args.threads} thread(s), median of {args.runs} runs each")


if __name__ == "__main__":
    main()
