"""qcomp `--quant dynamic` against OpenVINO int8 (NNCF), per layer, grouped by op class.

    QCOMP_MODEL_CACHE=... python benchmarks/dynamic_vs_openvino.py [--models minilm,bert_base]
        [--threads 1,2] [--runs 30] [--work DIR] [--qcomp ARTIFACT]

For each model (batch 1, sequence 128, transformer.py's exports and calibration sentences): qcomp's
per-node clock (layer_profile.profile_layers: each node's median over the runs) and OpenVINO's
per-node counters (compile_model with PERF_COUNT, InferRequest.get_profiling_info: each executed
node's real_time, median over the runs), both summed by op class:

  class          qcomp nodes (TARGET graph kinds)                        OpenVINO executed nodes
  dense GEMM     DynamicDense*, QDense (+ the fused bias/GELU/LayerNorm)  FullyConnected
  attention      DynamicMatMul(ScaleAdd), QMatMul                         MatMul, MHA / ScaledAttn
  softmax        Softmax, QSoftmax                                        Softmax
  layernorm      LayerNorm, QLayerNorm                                    MVN
  eltwise        Add, Mul, Div, Sub, Erf, Lut, ...                        Eltwise, Subgraph, Gelu
  quantize       Quantize, Dequantize, Requantize                         FakeQuantize, Convert
  movement       Transpose, Reshape, Concat, Slice, ...                   Transpose, Reshape, Reorder, ...
  embedding      Gather, IntLut                                           Gather

qcomp's fused nodes (DynamicDenseGelu, DynamicDenseAddNorm) hold work that OpenVINO spends in
FullyConnected with its own fused post-ops, so the dense-GEMM rows of the two compare like with like.
Prints one Markdown table per model and thread count (ms per inference, summed medians); the qcomp
artifact and OpenVINO model are built once per model into --work.
"""
from __future__ import annotations

import argparse
import collections
import statistics
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

CLASSES = ("dense GEMM", "attention MatMul", "softmax", "layernorm", "eltwise", "quantize", "movement",
           "embedding", "other")
QCOMP_CLASS = {"DynamicDense": "dense GEMM", "DynamicDenseGelu": "dense GEMM", "DynamicDenseAddNorm": "dense GEMM",
               "DynamicDenseRows": "dense GEMM", "QDense": "dense GEMM", "DynamicMatMul": "attention MatMul",
               "DynamicMatMulScaleAdd": "attention MatMul", "QMatMul": "attention MatMul", "Softmax": "softmax", "QSoftmax": "softmax",
               "LayerNorm": "layernorm", "QLayerNorm": "layernorm", "Quantize": "quantize",
               "Dequantize": "quantize", "Requantize": "quantize", "QRequantize": "quantize",
               "Gather": "embedding", "IntLut": "embedding", "Transpose": "movement", "Reshape": "movement",
               "Concat": "movement", "Slice": "movement", "Split": "movement", "Cast": "movement"}
ELTWISE = {"Add", "Mul", "Div", "Sub", "Erf", "Lut", "QAdd", "QMul", "QSub", "Sqrt", "Pow", "Tanh", "Gelu",
           "Where", "Equal", "Not", "Neg", "Exp"}
OV_CLASS = {"FullyConnected": "dense GEMM", "MatMul": "attention MatMul", "MHA": "attention MatMul",
            "ScaledAttn": "attention MatMul", "ScaledDotProductAttention": "attention MatMul",
            "Softmax": "softmax", "SoftMax": "softmax", "MVN": "layernorm", "Eltwise": "eltwise",
            "Subgraph": "eltwise", "Gelu": "eltwise", "Math": "eltwise", "FakeQuantize": "quantize",
            "Convert": "quantize", "Transpose": "movement", "Reshape": "movement", "Reorder": "movement",
            "Concat": "movement", "StridedSlice": "movement", "Split": "movement", "Gather": "embedding",
            "ShapeOf": "movement", "Broadcast": "movement"}


CLOCK = "real_time"     # or cpu_time (--ov-clock): OpenVINO's per-node counter summed


def qcomp_class(kind: str) -> str:
    if kind in QCOMP_CLASS:
        return QCOMP_CLASS[kind]
    return "eltwise" if kind in ELTWISE else "other"


def ov_class(node_type: str) -> str:
    return OV_CLASS.get(node_type, "other")


def qcomp_profile(artifact: Path, threads: int, runs: int) -> tuple[dict, dict, float]:
    """class -> ms (summed node medians), class -> node count, the whole run's median wall ms."""
    from qcomp.layer_profile import profile_layers
    p = profile_layers(artifact, threads=threads, runs=runs, warmup=5)
    ms, count = collections.Counter(), collections.Counter()
    for layer in p.layers:
        c = qcomp_class(layer.op)
        ms[c] += layer.ms
        count[c] += 1
    return ms, count, p.run_ms


def ov_profile(xml: Path, feeds: dict, threads: int, runs: int) -> tuple[dict, dict, float, dict]:
    """class -> ms, class -> executed nodes, median wall ms, node_type -> ms (for the 'other' row)."""
    import time

    import openvino as ov
    compiled = ov.Core().compile_model(str(xml), "CPU", {"INFERENCE_NUM_THREADS": threads,
                                                         "PERFORMANCE_HINT": "LATENCY", "PERF_COUNT": "YES"})
    request = compiled.create_infer_request()
    for _ in range(5):
        request.infer(feeds)
    per_node: dict[str, list[float]] = collections.defaultdict(list)
    node_type: dict[str, str] = {}
    walls = []
    for _ in range(runs):
        t0 = time.perf_counter()
        request.infer(feeds)
        walls.append(time.perf_counter() - t0)
        for info in request.get_profiling_info():
            if str(info.status).endswith("NOT_RUN"):
                continue
            per_node[info.node_name].append(getattr(info, CLOCK).total_seconds() * 1e3)
            node_type[info.node_name] = info.node_type
    ms, count, by_type = collections.Counter(), collections.Counter(), collections.Counter()
    for name, times in per_node.items():
        t = statistics.median(times)
        ms[ov_class(node_type[name])] += t
        count[ov_class(node_type[name])] += 1
        by_type[node_type[name]] += t
    return ms, count, 1e3 * statistics.median(walls), by_type


def table(title: str, q: tuple, o: tuple) -> list[str]:
    (q_ms, q_n, q_wall), (o_ms, o_n, o_wall, o_types) = q, o
    lines = [f"#### {title}", "", "| op class | qcomp nodes | qcomp ms | OpenVINO nodes | OpenVINO ms | qcomp - OpenVINO ms |",
             "|---|---|---|---|---|---|"]
    for c in CLASSES:
        if q_ms[c] or o_ms[c]:
            lines.append(f"| {c} | {q_n[c]} | {q_ms[c]:.2f} | {o_n[c]} | {o_ms[c]:.2f} | {q_ms[c] - o_ms[c]:+.2f} |")
    qt, ot = sum(q_ms.values()), sum(o_ms.values())
    lines.append(f"| all nodes | {sum(q_n.values())} | {qt:.2f} | {sum(o_n.values())} | {ot:.2f} | {qt - ot:+.2f} |")
    lines.append(f"| whole run (median wall) | | {q_wall:.2f} | | {o_wall:.2f} | {q_wall - o_wall:+.2f} |")
    others = ", ".join(f"{t} {v:.2f}" for t, v in sorted(o_types.items(), key=lambda kv: -kv[1]))
    lines += ["", f"OpenVINO by executed node type (ms): {others}", ""]
    return lines


def main(argv=None) -> int:
    import qcomp
    import transformer
    import peers
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="minilm")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--work", default="/tmp/dyn_vs_ov")
    ap.add_argument("--qcomp", default=None, help="profile this qcomp artifact instead of building one")
    ap.add_argument("--ov-clock", choices=("real_time", "cpu_time"), default="real_time")
    args = ap.parse_args(argv)
    global CLOCK
    CLOCK = args.ov_clock
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    for name in args.models.split(","):
        model = transformer.export(name, args.seq) / "model.onnx"
        calib = transformer.calibration_inputs(name, args.seq)
        art = Path(args.qcomp) if args.qcomp else work / f"{name}.dyn"
        if not (art / "manifest.json").exists():
            qcomp.build(model, target="x86-vnni", quant="dynamic", out=art)
        xml = work / f"{name}.ov" / "model.xml"
        if not xml.exists():
            made = peers.openvino_int8(model, calib, xml.parent, transformer=True)
            if isinstance(made, peers.Unavailable):
                print(f"{name}: OpenVINO int8 unavailable: {made}")
                return 1
        feeds = {k: np.asarray(v) for k, v in calib[0].items()}
        for t in (int(x) for x in args.threads.split(",")):
            q = qcomp_profile(art, t, args.runs)
            o = ov_profile(xml, feeds, t, args.runs)
            print("\n".join(table(f"{transformer.TITLES[name]}, seq {args.seq}, {t} thread(s)", q, o)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
