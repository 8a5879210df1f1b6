"""Batch-1 latency of qcomp x86-avx2 next to qcomp x86-vnni and onnxruntime int8, in one run on this
machine, and how many of each model's dot nodes take the fast VPMADDUBSW form.

    python benchmarks/latency_avx2.py                      full run, rewrites the x86-avx2 section
    python benchmarks/latency_avx2.py --quick --no-write   small settings, prints the section

Models and onnxruntime's int8 model as benchmarks/latency.py (whose helpers this script uses): the
ResNet-18-style and MobileNetV2-style CNNs of tests/models/cnn_zoo.py at 224x224 and EfficientNet-Lite0,
each built by qcomp.build for --target x86-avx2 and --target x86-vnni from the same 4 seeded
calibration images. Per model and thread count a child process (fresh thread pools) loads both
artifacts and onnxruntime int8 (QDQ, QUInt8 x QInt8, per channel: onnxruntime picks its own kernels
for this CPU, VNNI ones where the CPU has them), warms each up and times `runs` runs of each,
interleaved in blocks (qcomp.bench.time_interleaved), with the same random input; medians.

Dot forms: each x86-avx2 build's dot nodes (QConv2D, QConvTranspose2D, QDense; not depthwise)
through dots_x86.plan_node, the decision the backend made (dot_forms): the fast form (one VPMADDUBSW
+ VPMADDWD per step) where the build-time proof holds for every step, with residual steps where it
fails for some, the wide int16 form where it fails for too many.

The script rewrites the `x86-avx2` section of benchmarks/RESULTS.md (between its markers).
"""
from __future__ import annotations

import argparse
import datetime
import json
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import latency  # noqa: E402  (benchmarks/latency.py: models, machine facts, report helpers)

SECTION = "x86-avx2"
TARGETS = ("x86-avx2", "x86-vnni")


def build(model: Path, out: Path, image_shape, target: str) -> float:
    import qcomp
    rng = np.random.default_rng(0)
    calib = out.parent / f"{out.name}.calib.npz"
    np.savez(calib, input=rng.standard_normal((4,) + tuple(image_shape[1:])).astype(np.float32))
    t0 = time.perf_counter()
    qcomp.build(model, target=target, calib=calib, out=out)
    return time.perf_counter() - t0


def dot_forms(artifact: Path) -> dict:
    """How an x86-avx2 artifact's dot nodes (QConv2D, QConvTranspose2D, QDense; not depthwise) run:
    {"fast": n, "fast+fix": n, "wide": n, "corrected": fraction of the fast+fix nodes' (block,
    step)s that have a residual step}, from its model.qir lowered as the build lowered it, each node's form
    decided by dots_x86.plan_node."""
    from qcomp.builder import TARGET_PASSES
    from qcomp.codegen.llvm import kernels_dot
    from qcomp.codegen.llvm.dots_x86 import plan_node
    from qcomp.codegen.llvm.isa import dot_spec
    from qcomp.codegen.llvm.kernels_depthwise import _dot_layer
    from qcomp.ir import qops
    from qcomp.ir.serialize import load_graph
    from qcomp.passes import run_passes
    from qcomp.target import get_target
    graph = run_passes(load_graph(artifact / "model.qir"), TARGET_PASSES)
    spec = dot_spec(get_target("x86-avx2"))
    out, steps, fixed = {"fast": 0, "fast+fix": 0, "wide": 0}, 0, 0
    for node in graph.nodes:
        if not isinstance(node.op, (qops.QConv2D, qops.QConvTranspose2D, qops.QDense)) or \
                kernels_dot._is_depthwise(node, graph):
            continue
        _, _, groups, pad_value, _ = _dot_layer(node, graph)
        packed, n_ob, n_kq = kernels_dot.pack_weights(graph.constants[node.inputs[1]], groups, spec.lanes, spec.depth)
        form, _, fix = plan_node(spec, node, graph, packed, pad_value)
        name = "wide" if form.weight_parts == 2 else "fast+fix" if fix is not None else "fast"
        out[name] += 1
        if fix is not None:
            steps += groups * n_ob * n_kq
            fixed += fix.idx.size
    return {**out, "corrected": fixed / steps if steps else 0.0}


def child(avx2: str, vnni: str, int8_model: str, threads: int, runs: int, warmup: int) -> dict:
    import os

    from qcomp.artifact import read_manifest
    from qcomp.bench import load_qcomp, ort_session, random_feeds, time_interleaved
    feeds = random_feeds(read_manifest(avx2)["inputs"], np.random.default_rng(0))
    a, v, int8 = load_qcomp(avx2, threads), load_qcomp(vnni, threads), ort_session(int8_model, threads)
    load = os.getloadavg()[0]
    timings = time_interleaved([("x86-avx2", lambda: a.run(feeds)), ("x86-vnni", lambda: v.run(feeds)),
                                ("int8", lambda: int8.run(None, feeds))], runs, warmup)
    return {**{t.name: t.seconds for t in timings}, "load": [load, os.getloadavg()[0]]}


def run_child(args: list) -> dict:
    r = subprocess.run([sys.executable, __file__, "--child", json.dumps(args)], capture_output=True, text=True,
                       cwd=latency.REPO, timeout=3600)
    if r.returncode:
        raise SystemExit(f"timing child {args} failed:\n{r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def section(command: str, facts: dict, rows: list, forms: dict, builds: dict, elapsed: float, runs: int,
            warmup: int) -> str:
    from qcomp.bench import BLOCK
    ms = latency.med_ms
    lines = [f"## x86-avx2 ({datetime.date.today().isoformat()})", "",
             f"Command: `{command}` ({elapsed / 60:.1f} min). Written by `benchmarks/latency_avx2.py`; how it "
             f"measures is in its docstring.", "",
             f"Machine: {facts['cpu']} (family {facts.get('CPU family', '?')} model {facts.get('Model', '?')}), "
             f"{facts['cores']} cores available to this process; onnxruntime "
             f"{facts['onnxruntime']}, qcomp commit {facts['commit']}"
             f"{' plus uncommitted changes in the tree' if facts['dirty'] else ''}. This CPU has AVX-512 VNNI, so "
             f"x86-vnni and onnxruntime int8 use VNNI here, while x86-avx2 uses AVX2 instructions only (what it "
             f"would run on a CPU without AVX-512 or AVX-VNNI); the 2 cores are shared with other sessions "
             f"(load averages in the table).", "",
             f"### Batch-1 latency (median of {runs} runs, interleaved in blocks of {BLOCK}, after {warmup} warm-up "
             f"runs, ms)", ""]
    table = []
    for name, threads, t in rows:
        a, v, i = ms(t["x86-avx2"]), ms(t["x86-vnni"]), ms(t["int8"])
        table.append([latency.TITLES[name], str(threads), f"{a:.2f}", f"{v:.2f}", f"{i:.2f}", f"{a / v:.2f}",
                      f"{a / i:.2f}", f"{t['load'][0]:.1f} / {t['load'][1]:.1f}"])
    lines += latency.table(["model", "threads", "qcomp x86-avx2", "qcomp x86-vnni", "ort int8 (QDQ)",
                            "avx2 / vnni", "avx2 / ort int8", "load avg before / after"], table)
    lines += ["", "### x86-avx2's dot nodes by form, and build times", "",
              "fast: every step proved saturation-free (one VPMADDUBSW + VPMADDWD); fast+fix: the same with "
              "residual steps where a weight pair could saturate (the share of steps that have one in "
              "parentheses); wide: int16 pairs, two VPMADDWD per step (too many unsafe steps). "
              "qcomp/codegen/llvm/dots_x86.py has the proof and the forms.", ""]
    lines += latency.table(["model", "fast", "fast+fix (corrected steps)", "wide", "build s x86-avx2",
                            "build s x86-vnni"],
                           [[latency.TITLES[n], str(f["fast"]), f"{f['fast+fix']} ({100 * f['corrected']:.0f} %)",
                             str(f["wide"]), f"{builds[n, 'x86-avx2']:.1f}", f"{builds[n, 'x86-vnni']:.1f}"]
                            for n, f in forms.items()])
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--models", default="resnet18,mobilenet_v2,efficientnet_lite0")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--image", type=int, default=224, help="image size of the cnn_zoo models")
    ap.add_argument("--quick", action="store_true", help="5 runs, 1 warm-up, 64x64 cnn_zoo images")
    ap.add_argument("--no-write", action="store_true", help="print the section instead of updating RESULTS.md")
    ap.add_argument("--results", default=str(HERE / "RESULTS.md"))
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(*json.loads(args.child))))
        return 0
    if args.quick:
        args.runs, args.warmup, args.image = 5, 1, 64
    shown = [a for a in (argv if argv is not None else sys.argv[1:])]
    if "--results" in shown:
        i = shown.index("--results")
        del shown[i:i + 2]
    command = ("python benchmarks/latency_avx2.py " + shlex.join(shown)).strip()
    start = time.time()
    from qcomp.artifact import read_manifest
    from qcomp.bench import ort_int8_model
    rows, forms, builds = [], {}, {}
    with tempfile.TemporaryDirectory(prefix="qcomp-avx2-") as tmp:
        work = Path(tmp)
        facts = latency.machine_facts()
        for name in [m for m in args.models.split(",") if m]:
            model = latency.write_model(name, work, args.image)
            shape = (1, 3, args.image, args.image) if name != "efficientnet_lite0" else (1, 3, 224, 224)
            arts = {t: work / f"{name}.{t}" for t in TARGETS}
            for t in TARGETS:
                builds[name, t] = build(model, arts[t], shape, t)
            forms[name] = dot_forms(arts["x86-avx2"])
            print(f"{name}: built in {builds[name, 'x86-avx2']:.1f} s (avx2), dot nodes {forms[name]}", flush=True)
            int8 = ort_int8_model(model, read_manifest(arts["x86-avx2"])["inputs"], work / f"{name}.int8.onnx")
            for n in [int(t) for t in args.threads.split(",") if t]:
                t = run_child([str(arts["x86-avx2"]), str(arts["x86-vnni"]), str(int8), n, args.runs, args.warmup])
                rows.append((name, n, t))
                print(f"{name} {n} thread(s): avx2 {latency.med_ms(t['x86-avx2']):.2f} ms, vnni "
                      f"{latency.med_ms(t['x86-vnni']):.2f} ms, ort int8 {latency.med_ms(t['int8']):.2f} ms", flush=True)
    text = section(command, facts, rows, forms, builds, time.time() - start, args.runs, args.warmup)
    if args.no_write:
        print(text)
    else:
        doc = Path(args.results).read_text()
        begin, end = f"<!-- {SECTION}:begin -->", f"<!-- {SECTION}:end -->"
        if begin not in doc:
            doc = doc.rstrip("\n") + f"\n\n{begin}\n{end}\n"
        head, rest = doc.split(begin, 1)
        Path(args.results).write_text(head + begin + "\n" + text + end + rest.split(end, 1)[1])
        print(f"wrote the {SECTION} section of {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
