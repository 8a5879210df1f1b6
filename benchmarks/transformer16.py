"""MiniLM with every activation int16 (A16W8) on x86-vnni: latency and embedding cosine against static
int8, qcomp dynamic and onnxruntime quantize_dynamic; the int16 / int8 latency ratio.

    python benchmarks/transformer16.py                        1 and 2 threads, writes RESULTS.md (transformer16)
    python benchmarks/transformer16.py --baseline 30a0222     + the int16 build of that revision (ratio before)
    python benchmarks/transformer16.py --runs 10 --rounds 1 --no-write

Model: all-MiniLM-L6-v2 (tests/models/export_minilm.py through the export cache, QCOMP_MODEL_CACHE),
sequence 128, batch 1. Engines, each built once, timed alone in a fresh child process per round
(benchmarks/peers.py: open_engine, time_rounds; the order reversed every other round; a figure is
the median of the round medians through each engine's Python call, wall time and, at 1 thread,
the calling thread's CPU time, which a loaded machine's waits for a core do not inflate):
  qcomp static int16   qcomp.build(target="x86-vnni", calib, precision=every activation =int16):
                       benchmarks/precision16.py's all-int16 configuration (every float activation
                       of the FLOAT graph marked int16; Softmax and LayerNorm, which have no int16
                       form on this checkout, read int8 conversions of their int16 inputs, and
                       the integer LayerNorm writes int8)
  qcomp static int16, LayerNorm float   the same with the LayerNormalization outputs =float (the
                       LayerNorms in float32, reading their int16 inputs dequantized)
  qcomp static int8    the same build without --precision
  qcomp dynamic        qcomp.build(target="x86-vnni", quant="dynamic")
  ort dynamic          onnxruntime.quantization.quantize_dynamic (QInt8 weights, its default op types)
  qcomp static int16 @REV   (--baseline REV) the all-int16 build of qcomp at git revision REV (its
                       tree exported by `git archive`, built in a child with PYTHONPATH there);
                       timed like the others. The int8 kernels are the same at both revisions
                       unless this script's checkout changed them (`git diff REV -- qcomp`), so
                       the ratio before is int16@REV / the int8 engine above.
Calibration: transformer.py's (the first CALIB_SAMPLES sentences of accuracy_lib/minilm.py). Cosine:
each engine's sentence embedding (the attention-masked mean of last_hidden_state) against
onnxruntime FP32's, mean and minimum over the held-out sentences (the rest of accuracy_lib/minilm.py).
The section ends with the per-op time of the int16 artifact at 1 thread (qcomp.layer_profile).
The script rewrites the `transformer16` section of benchmarks/RESULTS.md (between its markers).
"""
from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import shlex
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
for _p in (str(HERE), str(REPO)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import transformer as tr  # noqa: E402

SECTION = "transformer16"
INT16_LN_FLOAT = "qcomp static int16, LayerNorm float"


def every_activation(model: Path, float_norms: bool = False) -> tuple[str, ...]:
    """precision16.py's all-int16 configuration: NAME=int16 for every float activation; float_norms:
    the outputs of the model's LayerNormalization nodes NAME=float instead."""
    import onnx
    import precision16
    norms = set()
    if float_norms:
        graph = onnx.load(str(model), load_external_data=False).graph
        norms = {n.output[0] for n in graph.node if n.op_type == "LayerNormalization"}
    return tuple(f"{v}={'float' if v in norms else 'int16'}" for v in precision16._activations(model))


def child(kind: str, path: str, sentence: str, threads: int, runs: int, warmup: int) -> dict:
    """Time one engine alone: wall seconds and the calling thread's CPU seconds of each run."""
    import peers
    run = peers.open_engine(kind, path, threads, "last_hidden_state")
    feeds = dict(np.load(sentence))
    for _ in range(warmup):
        run(feeds)
    seconds, cpu = [], []
    load = os.getloadavg()[0]
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.thread_time()
        run(feeds)
        seconds.append(time.perf_counter() - t0)
        cpu.append(time.thread_time() - c0)
    return {"seconds": seconds, "cpu": cpu, "load": [load, os.getloadavg()[0]]}


BUILD_CHILD = """
import json, sys, time
from pathlib import Path
import qcomp
model, calib, out, precision = json.loads(sys.argv[1])
t0 = time.perf_counter()
qcomp.build(Path(model), target="x86-vnni", calib=Path(calib), out=Path(out), precision=tuple(precision))
print(json.dumps({"build_s": time.perf_counter() - t0, "qcomp": qcomp.__file__}))
"""


def baseline_artifact(rev: str, model: Path, calib: Path, work: Path) -> tuple[str, str]:
    """(engine name, artifact) of the all-int16 build of qcomp at `rev`: its tree exported by git
    archive, built in a child whose only qcomp is that tree's (PYTHONPATH, working directory)."""
    tree = work / f"qcomp-{rev}"
    tree.mkdir()
    archive = subprocess.run(["git", "archive", rev], cwd=REPO, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(tree, filter="data")
    out = work / f"minilm.int16.{rev}"
    env = {**os.environ, "PYTHONPATH": str(tree)}
    r = subprocess.run([sys.executable, "-c", BUILD_CHILD,
                        json.dumps([str(model), str(calib), str(out), list(every_activation(model))])],
                       cwd=tree, env=env, capture_output=True, text=True, timeout=3600)
    if r.returncode:
        raise RuntimeError(f"the build at {rev} failed: {r.stderr.strip()[-1500:]}")
    built = json.loads(r.stdout.strip().splitlines()[-1])
    if not Path(built["qcomp"]).resolve().is_relative_to(tree.resolve()):
        raise RuntimeError(f"the build at {rev} imported qcomp from {built['qcomp']}")
    print(f"qcomp static int16 @{rev}: built in {built['build_s']:.0f} s", flush=True)
    return f"qcomp static int16 @{rev}", str(out)


def prepare(model: Path, calib: list[dict], work: Path) -> tuple[dict[str, tuple[str, str]], Path]:
    import qcomp
    from onnxruntime.quantization import QuantType, quantize_dynamic
    calib_npz = work / "minilm.calib.npz"
    np.savez(calib_npz, **{k: np.concatenate([c[k] for c in calib]) for k in calib[0]})
    made = {}
    for engine, kwargs in (("qcomp static int16", {"calib": calib_npz, "precision": every_activation(model)}),
                           (INT16_LN_FLOAT, {"calib": calib_npz, "precision": every_activation(model, True)}),
                           ("qcomp static int8", {"calib": calib_npz}), ("qcomp dynamic", {"quant": "dynamic"})):
        t0 = time.perf_counter()
        out = work / engine.replace(" ", "_").replace(",", "")
        made[engine] = ("qcomp", str(qcomp.build(model, target="x86-vnni", out=out, **kwargs)))
        print(f"{engine}: built in {time.perf_counter() - t0:.0f} s", flush=True)
    dyn = work / "minilm.ort_dynamic.onnx"
    quantize_dynamic(str(model), str(dyn), weight_type=QuantType.QInt8)
    made["ort dynamic"] = ("ort", str(dyn))
    return made, calib_npz


def cosines(engines: dict[str, tuple[str, str]], model: Path, seq: int) -> dict[str, list[float]]:
    """engine -> the embedding cosine vs onnxruntime FP32 of each held-out sentence."""
    import peers
    from accuracy_lib import minilm
    feeds = minilm.tokenize(minilm.SENTENCES[tr.CALIB_SAMPLES:], seq)
    fp32 = peers.open_engine("ort", str(model), 2, "last_hidden_state")
    want = [tr.embedding(fp32(f), f["attention_mask"]) for f in feeds]
    out = {}
    for engine, (kind, path) in engines.items():
        run = peers.open_engine(kind, path, 2, "last_hidden_state")
        out[engine] = [tr.cosine(tr.embedding(run(f), f["attention_mask"]), w) for f, w in zip(feeds, want)]
    return out


def op_profile(artifact: str) -> list[tuple[str, int, float]]:
    """(op, nodes, ms) of the artifact at 1 thread, the slowest op first (qcomp.layer_profile)."""
    from qcomp.layer_profile import profile_layers
    p = profile_layers(artifact, threads=1, runs=20, warmup=3)
    by = defaultdict(lambda: [0, 0.0])
    for layer in p.layers:
        by[layer.op][0] += 1
        by[layer.op][1] += layer.ms
    return sorted(((op, n, ms) for op, (n, ms) in by.items()), key=lambda r: -r[2])


def section(command: str, facts: dict, seq: int, ms: dict, cpu: dict, cos: dict, profile, baseline: str | None,
            lat) -> str:
    today = datetime.date.today().isoformat()
    threads = sorted({t for _, t in ms})
    lines = [f"## MiniLM all-int16 (A16W8) on x86-vnni against int8 and dynamic quantization ({today})", "",
             f"Command: `QCOMP_MODEL_CACHE=... {command}`; CPU: {facts['cpu']} ({facts['cores']} cores available), "
             f"onnxruntime {facts['onnxruntime']}, qcomp at {facts['commit']}"
             f"{' (uncommitted changes)' if facts['dirty'] else ''}; load average at the start {facts['load'][0]:.1f} "
             f"(a shared machine: wall times carry the other sessions' load; the calling thread's CPU time per "
             f"run, at 1 thread, does not). all-MiniLM-L6-v2, batch 1, sequence {seq}; median over rounds of each "
             f"engine's median, each engine alone in its own process; cosine: the sentence embedding against "
             f"onnxruntime FP32's, mean (min) over {len(next(iter(cos.values())))} held-out sentences.", ""]
    header = (["engine"] + [f"{t} thread{'s' if t > 1 else ''} ms" for t in threads]
              + (["1 thread CPU ms"] if 1 in threads else []) + ["cosine vs FP32"])
    rows = []
    for engine in dict.fromkeys(e for e, _ in ms):
        c = cos.get(engine)
        rows.append([engine] + [f"{ms[engine, t]:.2f}" if (engine, t) in ms else "-" for t in threads]
                    + ([f"{cpu[engine, 1]:.2f}"] if 1 in threads else [])
                    + [f"{np.mean(c):.5f} ({np.min(c):.5f})" if c else "-"])
    lines += lat.table(header, rows)
    lines.append("")
    figures = [(f"{t} thread(s), wall", ms, t) for t in threads] + ([("1 thread, CPU", cpu, 1)] if 1 in threads else [])
    for label, table, t in figures:
        i16, i8 = table.get(("qcomp static int16", t)), table.get(("qcomp static int8", t))
        if i16 and i8:
            text = f"int16 / int8 latency, {label}: {i16 / i8:.2f}"
            before = table.get((f"qcomp static int16 @{baseline}", t)) if baseline else None
            if before:
                text += f" (at {baseline}: {before / i8:.2f}; the int16 build {before / i16:.2f}x faster now)"
            lines.append(text + ".")
    if profile:
        lines += ["", "Per-op time of the all-int16 artifact, 1 thread (sum of the nodes' medians, ms):", ""]
        lines += lat.table(["op", "nodes", "ms"], [[op, str(n), f"{t:.3f}"] for op, n, t in profile])
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--runs", type=int, default=30, help="timed runs of each engine per round")
    ap.add_argument("--rounds", type=int, default=3, help="rounds, each engine alone in a child per round")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--baseline", help="a git revision whose all-int16 build is timed too (the ratio before)")
    ap.add_argument("--no-write", action="store_true", help="print the section instead of updating RESULTS.md")
    ap.add_argument("--results", default=str(HERE / "RESULTS.md"))
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(*json.loads(args.child))))
        return 0
    lat = tr.latency_lib()
    shown = [a for a in (argv if argv is not None else sys.argv[1:])]
    if "--results" in shown:
        i = shown.index("--results")
        del shown[i:i + 2]
    command = ("python benchmarks/transformer16.py " + shlex.join(shown)).strip()
    import peers
    facts = lat.machine_facts()
    threads = [int(t) for t in args.threads.split(",") if t]
    folder = tr.export("minilm", args.seq)
    model, sentence = folder / "model.onnx", folder / "sentence.npz"
    with tempfile.TemporaryDirectory(prefix="qcomp-transformer16-") as tmp:
        work = Path(tmp)
        engines, calib_npz = prepare(model, tr.calibration_inputs("minilm", args.seq), work)
        if args.baseline:
            name, path = baseline_artifact(args.baseline, model, calib_npz, work)
            engines[name] = ("qcomp", path)
        ms, cpu = {}, defaultdict(list)
        for n in threads:
            def spawn(engine, n=n):
                kind, path = engines[engine]
                t = peers.run_script_child(__file__, [kind, path, str(sentence), n, args.runs, args.warmup], REPO)
                cpu[engine, n].append(1e3 * statistics.median(t["cpu"]))
                return t
            for engine, r in peers.time_rounds(spawn, list(engines), args.rounds).items():
                if "error" in r:
                    raise RuntimeError(f"{engine}, {n} thread(s): {r['error']}")
                ms[engine, n] = r["ms"]
                print(f"{engine} {n} thread(s): {r['ms']:.2f} ms (rounds {r['rounds']}), CPU "
                      f"{statistics.median(cpu[engine, n]):.2f} ms", flush=True)
        cpu = {key: statistics.median(v) for key, v in cpu.items()}
        cos = cosines(engines, model, args.seq)
        profile = op_profile(engines["qcomp static int16"][1])
    text = section(command, facts, args.seq, ms, cpu, cos, profile, args.baseline, lat)
    if args.no_write:
        print(text)
    else:
        tr.write_section(Path(args.results), text, SECTION)
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
