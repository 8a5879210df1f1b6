"""Concat without a copy: workspace bytes, kernels and CPU-time latency with and without Concat views.

    python benchmarks/concat_views.py [--rounds 7] [--runs 20] [--work DIR]

The model: SqueezeNet 1.1's fire modules 2 to 5 (onnx.helper, seeded weights): a 1x64x56x56 input,
fire(16; 64 + 64) twice, MaxPool, fire(32; 128 + 128) twice at 28x28, a 1x1 conv to 10 classes and
a global average pool. Each fire module ends in a Concat of its expand 1x1 and 3x3 convs on the
channel axis: in qcomp's NHWC the operands are strided slices (H x W rows of 64 or 128 channels).

Plan figures (no build): each model (the fire modules, and a 16-step LSTM of hidden size 64 whose
unrolled steps' outputs are one sequence Concat: contiguous slices) is quantized once, lowered and
planned with `concats=False` and with the default, and each backend reports what it would write
(benchmarks/memory_plan.py's x86-vnni / cuda / dsp-c functions: workspace_bytes, activation_bytes,
kernels); x86-vnni with llvm's planner (strided slices), the others with plan_memory.

Both artifacts come from one quantization (4 seeded N(0, 1) calibration inputs) built for x86-vnni
by qcomp.build; A with every Concat copied (`plan_memory(g, concats=False)` as the llvm planner,
the layout before this change), B with the default plan (the llvm GEMMs write into their slices,
builder.BACKEND_PLANS). The script prints each artifact's workspace_bytes, activation_bytes and
llvm node functions, checks both give the same int8 outputs, then runs benchmarks/ab_cpu_latency.py
A B at one thread (CPU time of the running thread, alternating, median of round medians): B / A.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

FIRES = [("fire2", 64, 16, 64), ("fire3", 128, 16, 64), "pool", ("fire4", 128, 32, 128), ("fire5", 256, 32, 128)]


def squeezenet_fires(path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(0)
    inits, nodes = [], []

    def conv(x, c_in, c_out, k, name):
        w = rng.normal(0, np.sqrt(2 / (c_in * k * k)), (c_out, c_in, k, k)).astype(np.float32)
        inits.extend([numpy_helper.from_array(w, f"{name}_w"),
                      numpy_helper.from_array(rng.normal(0, 0.05, c_out).astype(np.float32), f"{name}_b")])
        nodes.append(helper.make_node("Conv", [x, f"{name}_w", f"{name}_b"], [f"{name}_c"], name=name,
                                      pads=[k // 2] * 4))
        nodes.append(helper.make_node("Relu", [f"{name}_c"], [f"{name}_r"], name=f"{name}_relu"))
        return f"{name}_r"
    x = "x"
    for fire in FIRES:
        if fire == "pool":
            nodes.append(helper.make_node("MaxPool", [x], ["pool"], kernel_shape=[3, 3], strides=[2, 2], pads=[0, 0, 1, 1]))
            x = "pool"
            continue
        name, c_in, sq, ex = fire
        s = conv(x, c_in, sq, 1, f"{name}_squeeze")
        e1, e3 = conv(s, sq, ex, 1, f"{name}_expand1"), conv(s, sq, ex, 3, f"{name}_expand3")
        nodes.append(helper.make_node("Concat", [e1, e3], [f"{name}_cat"], name=f"{name}_concat", axis=1))
        x = f"{name}_cat"
    head = conv(x, 256, 10, 1, "head")
    nodes.append(helper.make_node("GlobalAveragePool", [head], ["y"]))
    graph = helper.make_graph(nodes, "squeezenet_fires", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64, 56, 56])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10, 1, 1])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


def lstm(path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(0)
    t, d, h = 16, 32, 64
    inits = [numpy_helper.from_array(rng.normal(0, 0.2, (1, 4 * h, d)).astype(np.float32), "W"),
             numpy_helper.from_array(rng.normal(0, 0.2, (1, 4 * h, h)).astype(np.float32), "R"),
             numpy_helper.from_array(rng.normal(0, 0.1, (1, 8 * h)).astype(np.float32), "B")]
    nodes = [helper.make_node("LSTM", ["x", "W", "R", "B"], ["y"], name="lstm", hidden_size=h)]
    graph = helper.make_graph(nodes, "lstm16", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [t, 1, d])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [t, 1, 1, h])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


def plan_figures(work: Path) -> None:
    """Per model and backend: workspace_bytes, activation_bytes, kernels, Concat views (copies -> views)."""
    import memory_plan as mp
    from qcomp.api import load_model
    from qcomp.builder import BuildOptions, plan_memory_strided, quantize_model
    from qcomp.ir import ops, verify
    from qcomp.passes.lower_integer import lower_integer
    from qcomp.passes.plan_memory import plan_memory
    squeezenet_fires(work / "fires.onnx")
    lstm(work / "lstm.onnx")
    np.savez(work / "lstm_calib.npz", x=np.random.default_rng(1).normal(0, 1, (4, 16, 1, 32)).astype(np.float32))
    np.savez(work / "calib.npz", x=np.random.default_rng(1).normal(0, 1, (4, 1, 64, 56, 56)).astype(np.float32))
    for name, model, calib in (("fires", "fires.onnx", "calib.npz"), ("lstm16", "lstm.onnx", "lstm_calib.npz")):
        q, _ = quantize_model(load_model(work / model, {}), BuildOptions(calib=str(work / calib)))
        lowered = verify(lower_integer(q))
        before = verify(plan_memory(lowered, concats=False))
        n_cat = sum(isinstance(n.op, ops.Concat) for n in lowered.nodes)
        for target, fn in mp.BACKENDS.items():
            after = verify(plan_memory_strided(lowered) if target == "x86-vnni" else plan_memory(lowered))
            b, a = fn(before, work), fn(after, work)
            cells = [f"{b[k]:,} -> {a[k]:,} ({a[k] - b[k]:+,})" for k in ("workspace_bytes", "activation_bytes")]
            print(f"| {name} | {target} | {n_cat} / {len(after.memory.concat_views)} | {' | '.join(cells)} | "
                  f"{b['kernels']} -> {a['kernels']} |", flush=True)


def build_pair(work: Path) -> tuple[Path, Path]:
    import qcomp
    from qcomp import builder
    from qcomp.passes.plan_memory import plan_memory
    model, calib = work / "fires.onnx", work / "calib.npz"
    squeezenet_fires(model)
    np.savez(calib, x=np.random.default_rng(1).normal(0, 1, (4, 1, 64, 56, 56)).astype(np.float32))

    def plan_memory_copies(g):
        return plan_memory(g, concats=False)
    default = builder.BACKEND_PLANS["llvm"]
    builder.BACKEND_PLANS["llvm"] = plan_memory_copies
    try:
        a = qcomp.build(model, target="x86-vnni", calib=calib, out=work / "A.x86-vnni")
    finally:
        builder.BACKEND_PLANS["llvm"] = default
    b = qcomp.build(model, target="x86-vnni", calib=calib, out=work / "B.x86-vnni")
    return a, b


def describe(art: Path) -> dict:
    manifest = json.loads((art / "manifest.json").read_text())
    ir = (art / "model.ll").read_text()
    return {"workspace_bytes": manifest["workspace_bytes"], "activation_bytes": manifest["activation_bytes"],
            "node functions": len(re.findall(r'^define [^\n]*@"?node\.\d+"?\(', ir, re.M))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--work")
    args = ap.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="qcomp-concat-"))
    work.mkdir(parents=True, exist_ok=True)
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    print("| model | target | Concats / views | workspace_bytes | activation_bytes | kernels |", flush=True)
    plan_figures(work)
    a, b = build_pair(work)
    import qcomp
    feed = {"x": np.random.default_rng(2).normal(0, 1, (1, 64, 56, 56)).astype(np.float32)}
    ya, yb = qcomp.load(a).run(feed, raw=True), qcomp.load(b).run(feed, raw=True)
    assert all(np.array_equal(ya[k], yb[k]) for k in ya), "A and B differ"
    for name, art in (("A (Concat copies)", a), ("B (Concat views)", b)):
        print(name, describe(art), flush=True)
    cpu = subprocess.run(["grep", "-m1", "model name", "/proc/cpuinfo"], capture_output=True, text=True).stdout.strip()
    print(cpu, flush=True)
    subprocess.run([sys.executable, str(HERE / "ab_cpu_latency.py"), str(a), str(b), "--rounds", str(args.rounds),
                    "--runs", str(args.runs)], check=True, env={**__import__("os").environ, "PYTHONPATH": str(REPO)})


if __name__ == "__main__":
    main()
