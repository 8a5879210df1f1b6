"""Batch-1 latency of two qcomp checkouts (A: a base, B: this one) and onnxruntime int8, each engine in its
own process, alternating, median of round medians.

    python benchmarks/checkout_ab.py --base /path/to/base/checkout [--models ...] [--threads 1,2] [--rounds 7]

Each model (benchmarks/latency.py's write_model: cnn_zoo ResNet-18 / MobileNetV2 at 224, the
EfficientNet-Lite0 exports) is built for x86-vnni by each checkout in a child process (PYTHONPATH set
to that checkout; the build time is that child's qcomp.build call), calibrated on the same 4 seeded
images; onnxruntime int8 is qcomp.bench's QDQ model. Then, per thread count, `rounds` rounds: each
round starts one fresh process per engine, in an order rotated every round (no engine always runs
after another's spinning threads), each timing `runs` runs after `warmup` untimed ones; the figure is
the median over rounds of each round's median (with 1 thread also of the calling thread's CPU
time per run, which a loaded machine's waits for a core do not inflate). Build time is given as wall
and as CPU seconds (the build process and its LLVM child). Prints one line per model and thread count.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SELF = Path(__file__).resolve()


def child_build(checkout: str, model: str, out: str, shape: list[int]) -> dict:
    import qcomp
    rng = np.random.default_rng(0)
    calib = Path(out).parent / f"{Path(out).name}.calib.npz"
    np.savez(calib, input=rng.standard_normal([4] + shape[1:]).astype(np.float32))
    t0, cpu0 = time.perf_counter(), _cpu_s()
    qcomp.build(model, target="x86-vnni", calib=calib, out=out)
    return {"build_s": time.perf_counter() - t0, "build_cpu_s": _cpu_s() - cpu0, "qcomp": qcomp.__file__}


def _cpu_s() -> float:
    """CPU seconds of this process and its finished children (LLVM compiles in a child)."""
    import resource
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def child_time(engine: str, path: str, shape: list[int], threads: int, runs: int, warmup: int) -> dict:
    x = {"input": np.random.default_rng(1).standard_normal(shape).astype(np.float32)}
    if engine == "ort":
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name

        def run():
            sess.run(None, {name: x["input"]})
    else:
        import qcomp
        art = qcomp.load(path, num_threads=threads)
        feeds = {art.manifest["inputs"][0]["name"]: x["input"]} if hasattr(art, "manifest") else x

        def run():
            art.run(feeds)
    for _ in range(warmup):
        run()
    times, cpu = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.thread_time()
        run()
        times.append(time.perf_counter() - t0)
        cpu.append(time.thread_time() - c0)
    # cpu: the calling thread's CPU time (1 thread: the whole run's work, without the time the
    # process waited for a core on a loaded machine)
    return {"ms": 1e3 * statistics.median(times), "cpu_ms": 1e3 * statistics.median(cpu)}


def child(kind: str, pythonpath: str, *args) -> dict:
    env = dict(os.environ, PYTHONPATH=pythonpath)
    r = subprocess.run([sys.executable, str(SELF), "--child", json.dumps([kind, *args])], env=env,
                       capture_output=True, text=True, cwd=pythonpath)
    if r.returncode:
        raise RuntimeError(f"{kind} child failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--base", help="the A checkout (its root)")
    ap.add_argument("--models", default="resnet18,mobilenet_v2,efficientnet_lite0_pads")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--work", help="keep models and artifacts here (default: a temporary directory)")
    ap.add_argument("--reuse-base", action="store_true", help="reuse A's artifacts already in --work")
    args = ap.parse_args(argv)
    if args.child:
        kind, *rest = json.loads(args.child)
        print(json.dumps({"build": child_build, "time": child_time}[kind](*rest)))
        return 0
    sys.path.insert(0, str(HERE))
    import latency
    from qcomp.bench import ort_int8_model
    from qcomp.artifact import read_manifest
    checkouts = {"A": str(Path(args.base).resolve()), "B": str(HERE.parent)}
    with open("/proc/cpuinfo") as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "?")
    print(f"CPU: {cpu}; A = {checkouts['A']}, B = {checkouts['B']}", flush=True)
    with tempfile.TemporaryDirectory(prefix="qcomp-ab-") as tmp:
        work = Path(args.work or tmp)
        work.mkdir(parents=True, exist_ok=True)
        for name in args.models.split(","):
            model = latency.write_model(name, work, 224)
            shape = [1, 3, 224, 224]
            arts = {}
            for label, root in checkouts.items():
                arts[label] = str(work / f"{name}.{label}")
                if label == "A" and args.reuse_base and (Path(arts[label]) / "manifest.json").exists():
                    print(f"{name}: A reused from {arts[label]}", flush=True)
                    continue
                b = child("build", root, root, str(model), arts[label], shape)
                print(f"{name}: {label} built in {b['build_s']:.1f} s ({b['build_cpu_s']:.1f} CPU s)", flush=True)
            int8 = ort_int8_model(model, read_manifest(Path(arts["B"]))["inputs"], work / f"{name}.int8.onnx")
            engines = [("A", checkouts["A"], arts["A"]), ("B", checkouts["B"], arts["B"]),
                       ("ort", checkouts["B"], str(int8))]
            for n in (int(t) for t in args.threads.split(",")):
                per = {e[0]: [] for e in engines}
                for r in range(args.rounds):
                    for label, root, path in engines[r % 3:] + engines[:r % 3]:
                        kind = "ort" if label == "ort" else "qcomp"
                        per[label].append(child("time", root, kind, path, shape, n, args.runs, args.warmup))
                for key in ("ms", "cpu_ms") if n == 1 else ("ms",):
                    med = {k: statistics.median(t[key] for t in v) for k, v in per.items()}
                    what = "wall" if key == "ms" else "CPU of the calling thread"
                    print(f"{name} {n} thread(s), {what}: A {med['A']:.2f} ms, B {med['B']:.2f} ms, ort int8 "
                          f"{med['ort']:.2f} ms (B/A {med['B'] / med['A']:.3f}, B/ort {med['B'] / med['ort']:.3f})",
                          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
