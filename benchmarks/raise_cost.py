"""What raising one tensor to int16 or to float costs on a target, per op class: the data of --accuracy's cost model.

    python benchmarks/raise_cost.py [--target x86-vnni] [--runs 200] [--layers conv,dw,...]

Each layer is a small ONNX model, built for the target three times (qcomp.build, the real pipeline,
so quantize / requantize / Dequantize boundaries are included):

    x --A: Add(x, c0)--> a --pre: Add(a, c)--> T --layer L--> l --post: Add(l, c2)--> y

(L: the layer of the class measured; A and post keep int8 on both sides of the raised region, as
inside a model, so the graph's own input Quantize and output Dequantize are common to every build)

    int8      the default build
    int16     --precision T=int16         (pre writes int16, L reads int16: accuracy/kinds.py's int16 raise)
    float     the float region of T        (pre and L in float: raise_entries(gf, T, "float"))

and the skeleton (the same model without L: post reads T), timed by qcomp.bench (one thread, the
four artifacts interleaved, medians). With work(N) the
MACs of a Conv / MatMul / Gemm node, else its output elements (accuracy/kinds.py), and u the time of
one int8 MAC of the conv3x3 layer (the unit, "int8-MAC equivalents"):

    factor[int8][class(L)]   = (t_int8 - t_skeleton) / work(L) / u
    factor[int16][class(L)]  = factor[int8][class(L)] + (t_int16 - t_int8) / work(L) / u
    factor[float][class(L)]  = factor[int8][class(L)] + (t_float - t_int8 - extra_pre) / work(L) / u

extra_pre the float region's added time on pre (the elementwise layer's float factor, minus its
int8 one, times work(pre)); the elementwise layer itself is an Add after the Add pre, both in its
region. The script prints the table as the Python literal of qcomp/accuracy/costs.py.

Known bias: the conv layers read the Add's NCHW output, so L's time includes a layout Transpose
on each side (qcomp's NHWC convs). The per-layer profile (`qcomp bench --per-layer`) of the
depthwise layer shows them at 0.2 of its 0.28 ms: the depthwise int8 factor is ~3x too high
(EfficientNet-Lite0's own depthwise convs run at ~0.04 ns per MAC, this layer's at 0.15), which
makes the predicted int8 base of a depthwise-heavy model too large and its predicted latency
cost too small. A version with 1x1 depthwise convs around L (no Transpose) gave skeleton
timings too noisy on a loaded machine to subtract; not used.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

LAYERS = {   # name -> (op class of L, the input shape: NCHW or batch x sequence x features); L: layer_model()
    "conv": ("conv", (1, 64, 28, 28)),
    "conv1x1": ("conv", (1, 128, 28, 28)),
    "dw": ("depthwise", (1, 64, 56, 56)),
    "dense": ("matmul", (1, 128, 384)),
    "attn": ("matmul_act", (1, 12, 128, 32)),
    "add": ("elementwise", (1, 64, 56, 56)),
    "sigmoid": ("transcendental", (1, 128, 1536)),
}


def layer_model(path: Path, name: str, skeleton: bool = False) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(0)
    _, shape = LAYERS[name]
    inits = {c: rng.normal(0, 0.1, shape[1:]).astype(np.float32) for c in ("c0", "c")}
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)]
    nodes = [helper.make_node("Add", ["x", "c0"], ["a"], name="A"),
             helper.make_node("Add", ["a", "c"], ["T"], name="pre")]
    if name in ("conv", "conv1x1", "dw"):
        cin = shape[1]
        cout, k, group = {"conv": (64, 3, 1), "conv1x1": (256, 1, 1), "dw": (cin, 3, cin)}[name]
        inits["w"] = rng.normal(0, 0.1, (cout, cin // group, k, k)).astype(np.float32)
        inits["b"] = rng.normal(0, 0.1, cout).astype(np.float32)
        nodes.append(helper.make_node("Conv", ["T", "w", "b"], ["l"], name="L", pads=[k // 2] * 4, group=group))
    elif name == "dense":
        inits["w"] = rng.normal(0, 0.05, (shape[-1], 1536)).astype(np.float32)
        nodes.append(helper.make_node("MatMul", ["T", "w"], ["l"], name="L"))
    elif name == "attn":
        inputs.append(helper.make_tensor_value_info("k", TensorProto.FLOAT, (1, 12, 32, 128)))
        nodes.append(helper.make_node("MatMul", ["T", "k"], ["l"], name="L"))
    elif name == "add":
        nodes.append(helper.make_node("Add", ["T", "a"], ["l"], name="L"))
    else:   # sigmoid: an exp-based activation (a LUT in int8 and int16, libm's exp in float)
        nodes.append(helper.make_node("Sigmoid", ["T"], ["l"], name="L"))
    out_shape = {"conv1x1": (1, 256, 28, 28), "dense": (1, 128, 1536), "attn": (1, 12, 128, 128)}.get(name, shape)
    if skeleton:
        nodes, out_shape = nodes[:2], shape
        inits = {k: v for k, v in inits.items() if k in ("c0", "c")}
        inputs = inputs[:1]
    inits["c2"] = rng.normal(0, 0.1, out_shape[1:]).astype(np.float32)
    nodes.append(helper.make_node("Add", ["T" if skeleton else "l", "c2"], ["y"], name="post"))
    graph = helper.make_graph(nodes, name, inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)],
                              [numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def calibration(path: Path, model: Path, count: int = 8) -> Path:
    import onnx
    rng = np.random.default_rng(1)
    m = onnx.load(model)
    feeds = {}
    for i in m.graph.input:
        shape = tuple(d.dim_value for d in i.type.tensor_type.shape.dim)
        feeds[i.name] = rng.normal(0, 1, (count, *shape[1:])).astype(np.float32)
    np.savez(path, **feeds)
    return path


def measure(name: str, target: str, runs: int, tmp: Path) -> dict:
    import qcomp
    from qcomp.accuracy.kinds import node_work, raise_entries
    from qcomp.bench import load_qcomp, random_feeds, time_interleaved
    from qcomp.artifact import read_manifest
    from qcomp.builder import BuildOptions, float_graph
    from qcomp.errors import QcompError
    model = layer_model(tmp / f"{name}.onnx", name)
    calib = calibration(tmp / f"{name}.npz", model)
    bare = layer_model(tmp / f"{name}_skeleton.onnx", name, skeleton=True)
    gf = float_graph(qcomp.load_model(model), BuildOptions())
    nodes = {n.name: n for n in gf.nodes}
    configs = {"int8": (), "int16": ("T=int16",),
               "float": tuple(f"{k}={v}" for k, v in raise_entries(gf, "T", "float").items()), "skeleton": ()}
    engines = []
    for kind, precision in configs.items():
        try:
            out = qcomp.build(bare if kind == "skeleton" else model, target,
                              calibration(tmp / f"{name}_skeleton.npz", bare) if kind == "skeleton" else calib,
                              tmp / f"{name}_{kind}", precision=precision)
        except QcompError as e:
            print(f"  {name} {kind}: refused ({str(e).splitlines()[0][:100]})", flush=True)
            continue
        art = load_qcomp(out, 1)
        feeds = random_feeds(read_manifest(out)["inputs"], np.random.default_rng(0))
        engines.append((kind, (lambda a, f: lambda: a.run(f))(art, feeds)))
    timings = time_interleaved(engines, runs, 10, settle=0.0)
    ms = {t.name: statistics.median(t.seconds) * 1e3 for t in timings}
    return {"class": LAYERS[name][0], "ms": ms, "work": node_work(gf, nodes["L"]), "pre": node_work(gf, nodes["pre"])}


def factors(rows: dict) -> tuple[dict[str, dict[str, float]], float]:
    """(the factor table of one repeat's layer timings, the unit in ms): module docstring."""
    conv = rows["conv"]
    unit = (conv["ms"]["int8"] - conv["ms"]["skeleton"]) / conv["work"]          # ms per int8 conv MAC
    add = rows.get("add")
    # the float region's added time per element of an elementwise node (each layer's pre's share)
    elem_float = (add["ms"]["float"] - add["ms"]["int8"]) / (add["work"] + add["pre"]) / unit if add else 0.0
    per: dict[str, dict[str, list[float]]] = {"int8": {}, "int16": {}, "float": {}}
    for name, r in rows.items():   # each layer's factors; a class with two layers gets their mean
        c, ms, work = r["class"], r["ms"], r["work"]
        f8 = max(ms["int8"] - ms["skeleton"], 0.0) / work / unit
        per["int8"].setdefault(c, []).append(f8)
        if "int16" in ms:
            per["int16"].setdefault(c, []).append(f8 + (ms["int16"] - ms["int8"]) / work / unit)
        if "float" in ms:
            pre = 0.0 if name == "add" else elem_float * r["pre"]
            per["float"].setdefault(c, []).append(f8 + ((ms["float"] - ms["int8"]) / unit - pre) / work)
    return {kind: {c: float(np.mean(v)) for c, v in d.items()} for kind, d in per.items()}, unit


def median_table(tables: list[dict]) -> dict[str, dict[str, float]]:
    """Per cell, the median over repeats (a busy machine makes single float timings swing 4x)."""
    return {kind: {c: round(float(np.median([t[kind][c] for t in tables if c in t[kind]])), 3)
                   for c in tables[0][kind]} for kind in tables[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", default="x86-vnni")
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3, help="whole measurements; the table is their per-cell median")
    ap.add_argument("--layers", default=",".join(LAYERS))
    args = ap.parse_args()
    tables = []
    for repeat in range(args.repeats):
        rows = {}
        with tempfile.TemporaryDirectory(prefix="qcomp-raise-cost-") as tmp:
            for name in args.layers.split(","):
                rows[name] = measure(name, args.target, args.runs, Path(tmp))
                print(f"  {name}: {rows[name]}", flush=True)
        table, unit = factors(rows)
        tables.append(table)
        print(f"\nrepeat {repeat + 1}: {args.target}, 1 thread, median of {args.runs} interleaved runs; unit "
              f"{unit * 1e6:.4f} ns (one int8 MAC of the conv3x3 layer)")
        for name, r in rows.items():
            print(f"| {name} | {r['class']} | {r['work']:,} | " + " | ".join(
                f"{r['ms'].get(k, float('nan')):.4f}" for k in ("skeleton", "int8", "int16", "float")) + " |")
    print(repr(median_table(tables)))


if __name__ == "__main__":
    main()
