"""Where qcomp's time goes against OpenVINO's, per class of layer, at one thread (issue 15).

    python benchmarks/ov_layer_classes.py [--models resnet18 efficientnet_lite0] [--runs 300] [--threads 1]

Each model is built as benchmarks/latency.py builds it (qcomp x86-vnni on 4 seeded calibration
images; OpenVINO int8 by nncf.quantize on the same images, benchmarks/peers.py). Then, in this
process, one engine after the other:
  qcomp     the artifact's per-node clock (qcomp_set_profiler; runner.profile): ns[run, node];
  OpenVINO  PERF_COUNT on, INFERENCE_NUM_THREADS=N, LATENCY hint; get_profiling_info() after every
            run: real_time[run, node].
Per node the minimum over the runs and the median are kept. OpenVINO's counters swing on a loaded
machine; the minimum is the figure least disturbed by other processes, and the sums of both are
printed against each engine's measured latency (median wall time of its run call), so a counter
set that does not add up shows. Per class the table gives the sum of its nodes' minimums.

Classes: from the qcomp TARGET graph node of the same name (both engines keep the ONNX node names:
OpenVINO adds suffixes such as "/WithoutBiases", which are cut): stem conv (the conv reading the
3-channel image), dense KxK convs, 1x1 convs, depthwise convs by kernel and stride, add, pool, mean,
FC; nodes of one engine only (layout reorders, fake-quantize subgraphs, qcomp's Quantize/Transpose)
by their type: "quantize / layout" (OpenVINO's bf16 <-> u8 reorders around its bf16 depthwise
convs fall there too).

MAC floor: sum over the TARGET graph of node_macs, against 64 MACs per vpdpbusd zmm, at the
measured rate of vpdpbusd zmm per cycle and clock (latency.measure_clock).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))

ORDER = ["stem conv", "KxK conv", "1x1 conv", "dw 3x3 s1", "dw 3x3 s2", "dw 5x5 s1", "dw 5x5 s2", "add",
         "pool", "mean", "FC", "quantize / layout", "other"]


def conv_class(node, graph) -> str:
    w = graph.types[node.inputs[1]].shape          # [O, KH, KW, C/g]
    x = graph.types[node.inputs[0]].shape          # [N, H, W, C]
    kh, kw, stride = w[1], w[2], node.op.strides[0]
    if node.op.group > 1 and node.op.group == x[3]:
        return f"dw {kh}x{kw} s{stride}"
    if x[3] <= 4:
        return "stem conv"
    return "1x1 conv" if (kh, kw) == (1, 1) else "KxK conv"


def qcomp_class(name: str, nodes: dict, graph) -> str:
    node = nodes.get(name)
    if node is None:
        return "quantize / layout" if name.endswith(("/to_nhwc", "/to_nchw", ".readers")) else "other"
    kind = node.kind
    if kind.startswith("QConv2D"):
        return conv_class(node, graph)
    if kind in ("Quantize", "Dequantize", "Transpose", "Reshape"):
        return "quantize / layout"
    if "Pool" in kind:
        return "pool"
    if "Mean" in kind:
        return "mean"
    if kind in ("QDense", "QMatMul", "QGemm"):
        return "FC"
    if "Add" in kind:
        return "add"
    return "other"


def ov_class(name: str, node_type: str, nodes: dict, graph) -> str:
    base = name.split("/")[0]
    if node_type in ("Convolution", "GroupConvolution") and base in nodes:
        return qcomp_class(base, nodes, graph)
    if node_type in ("Reorder", "Subgraph", "FakeQuantize", "Convert", "Transpose", "Reshape"):
        return "quantize / layout"
    if "Pool" in node_type:
        return "pool"
    if node_type == "ReduceMean":
        return "mean"
    if node_type.startswith("FullyConnected"):
        return "FC"
    if node_type == "Eltwise":
        return "add"
    return "other"


def qcomp_layers(art: Path, threads: int, runs: int):
    from qcomp.artifact import read_manifest
    from qcomp.bench import load_qcomp, random_feeds
    from qcomp.layer_profile import _target_graph
    from qcomp.target import get_target
    manifest = read_manifest(art)
    graph = _target_graph(art, get_target(manifest["target"]))
    runner = load_qcomp(art, threads)._runner
    feeds = random_feeds(manifest["inputs"], np.random.default_rng(0))
    names, times, walls = runner.profile(feeds, runs, warmup=20)
    return graph, names, times / 1e6, 1e3 * statistics.median(walls)


def ov_layers(xml: Path, threads: int, runs: int, shape):
    import openvino as ov
    compiled = ov.Core().compile_model(str(xml), "CPU", {"INFERENCE_NUM_THREADS": threads,
                                                         "PERFORMANCE_HINT": "LATENCY", "PERF_COUNT": True})
    request = compiled.create_infer_request()
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    port = compiled.inputs[0]
    for _ in range(20):
        request.infer({port: x})
    rows, walls, names = [], [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        request.infer({port: x})
        walls.append(time.perf_counter() - t0)
        info = request.get_profiling_info()
        if names is None:
            names = [(p.node_name, p.node_type, p.exec_type) for p in info]
        rows.append([p.real_time.total_seconds() * 1e3 for p in info])
    return names, np.array(rows), 1e3 * statistics.median(walls)


def class_table(model: str, art: Path, xml: Path, threads: int, runs: int) -> tuple[list[str], dict]:
    from qcomp.ir.stats import node_macs
    graph, q_names, q_ms, q_wall = qcomp_layers(art, threads, runs)
    nodes = {n.name: n for n in graph.nodes}
    shape = tuple(graph.types[graph.inputs[0]].shape)
    o_names, o_ms, o_wall = ov_layers(xml, threads, runs, (shape[0], shape[3], shape[1], shape[2])
                                      if len(shape) == 4 and shape[3] == 3 else shape)
    q_cls, o_cls, macs = defaultdict(float), defaultdict(float), defaultdict(int)
    q_counts, o_counts = defaultdict(int), defaultdict(int)
    for k, name in enumerate(q_names):
        c = qcomp_class(name, nodes, graph)
        q_cls[c] += float(q_ms[:, k].min())
        q_counts[c] += 1
        if name in nodes:
            macs[c] += int(node_macs(graph, nodes[name]))
    for k, (name, node_type, _) in enumerate(o_names):
        if o_ms[:, k].max() <= 0:
            continue                                   # not executed (constants, folded)
        c = ov_class(name, node_type, nodes, graph)
        o_cls[c] += float(o_ms[:, k].min())
        o_counts[c] += 1
    lines = [f"{model}, {threads} thread(s), {runs} runs: per class, sum over its nodes of each node's minimum ms",
             f"  {'class':18s} {'nodes q/ov':>10s} {'MMACs':>8s} {'qcomp':>7s} {'OpenVINO':>8s} {'q/ov':>6s}"]
    for c in ORDER:
        if c in q_cls or c in o_cls:
            ratio = f"{q_cls[c] / o_cls[c]:.2f}" if o_cls.get(c) else "-"
            lines.append(f"  {c:18s} {q_counts[c]:>4d}/{o_counts[c]:<5d} {macs[c] / 1e6:8.1f} {q_cls[c]:7.3f} "
                         f"{o_cls[c]:8.3f} {ratio:>6s}")
    q_min, o_min = sum(q_cls.values()), sum(o_cls.values())
    q_med = float(np.median(q_ms.sum(axis=1)))
    o_med = float(np.median(o_ms.sum(axis=1)))
    lines.append(f"  {'sum of minimums':18s} {'':10s} {sum(macs.values()) / 1e6:8.1f} {q_min:7.3f} {o_min:8.3f} "
                 f"{q_min / o_min:6.2f}")
    lines.append(f"  median per-run node sum: qcomp {q_med:.3f} ms, OpenVINO {o_med:.3f} ms; median wall of a run "
                 f"call (counters on): qcomp {q_wall:.3f} ms, OpenVINO {o_wall:.3f} ms")
    return lines, {"macs": sum(macs.values()), "qcomp": dict(q_cls), "openvino": dict(o_cls)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["resnet18", "efficientnet_lite0"])
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--work", help="reuse built artifacts in this folder (NAME.x86-vnni, NAME.ov/model.xml)")
    args = ap.parse_args(argv)
    import latency
    import peers
    with tempfile.TemporaryDirectory(prefix="qcomp-ovcls-") as tmp:
        work = Path(args.work or tmp)
        clock, dp_rate = latency.measure_clock(work)
        print(f"clock {clock / 1e9:.2f} GHz, vpdpbusd zmm {dp_rate / clock:.2f}/cycle", flush=True)
        for name in args.models:
            art, xml = work / f"{name}.x86-vnni", work / f"{name}.ov" / "model.xml"
            if not (art.exists() and xml.exists()):
                model = latency.write_model(name, work, 224)
                _, images = latency.build(model, art, (1, 3, 224, 224))
                from qcomp.artifact import read_manifest
                feed = read_manifest(art)["inputs"][0]["name"]
                xml = peers.openvino_int8(model, [{feed: image[None]} for image in images], work / f"{name}.ov")
            if isinstance(xml, peers.Unavailable):
                print(f"{name}: OpenVINO int8 unavailable: {xml}", flush=True)
                continue
            lines, facts = class_table(name, art, xml, args.threads, args.runs)
            floor_ms = facts["macs"] / 64 / dp_rate * 1e3
            lines.append(f"  MAC floor: {facts['macs'] / 1e9:.3f} GMACs / (64 MACs x {dp_rate / clock:.2f} "
                         f"vpdpbusd zmm x {clock / 1e9:.2f} GHz = {64 * dp_rate / 1e9:.0f} GMAC/s) = "
                         f"{floor_ms:.2f} ms at 1 thread")
            print("\n".join(lines), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
