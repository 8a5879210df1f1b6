"""`qcomp build` time of the CNN benchmark models on the llvm targets, split by phase, wall and CPU.

    python benchmarks/build_time.py                              rewrites the build-time section of RESULTS.md
    python benchmarks/build_time.py --baseline /tmp/qcomp-before --no-write    before/after, printed

Models: ResNet-18-style and MobileNetV2-style at 224x224 (tests/models/cnn_zoo.py, seeded weights)
and EfficientNet-Lite0 (tests/models/export_efficientnet.py through the export cache, dynamo, opset
18), the models of benchmarks/latency.py, calibrated on the same 4 seeded random images. Targets:
x86-vnni and arm-sdot (cross-compiled: + libmodel.a and the static runner).

Each build runs alone in a fresh child process (`--child`), `rounds` times (the table gives the
median round); per build the child times `qcomp.build(...)` as a whole (wall) and its CPU time
(user + sys of the child and of every process it waited for: the LLVM compile processes, gcc), and
wraps the build's steps to time them (wall):
  import      load_model (ONNX -> FLOAT graph)
  passes      the float passes (float_graph)
  calibrate   calibration (the float graph run on the samples)
  quantize    the quantize pass
  IR          the llvm backend's build_module (the TARGET graph -> one LLVM module) and its text
  LLVM        compile_object: parse, optimize (O3), codegen; with the module split into parts
              compiled at once (codegen/llvm/split.py), the slowest part's optimize and codegen
              and the CPU seconds of all parts
  link        model.so (+ libmodel.a and the runner for a cross target)
  other       the rest (lower_integer, plan_memory, writing model.qir and the manifest)
`critical CPU s`: the build's CPU seconds with the LLVM parts counted as the slowest one only (CPU
of the build process and its children, minus the parts' LLVM phases, plus the slowest part's): the
wall time the build would take on an idle machine with a core per part, an estimate that does not
depend on what else runs (it still counts each part's interpreter start).
`IR lines` counts the instructions of model.ll (the text LLVM gets); `functions` its definitions.

--baseline PATH: a checkout of qcomp to compare with (e.g. `git worktree add /tmp/qcomp-before
REV`): its builds run in the same rounds, alternating with this checkout's, and get rows of their
own (a checkout whose compile_object reports no phases shows LLVM as one figure).

--latency ROUNDS (with --baseline): the x86-vnni artifacts of both checkouts, loaded in one process
(1 thread: the run executes on the calling thread), run in alternation: per round 30 timed runs of
each (after 3 warm-up runs), the order swapped every other round; the figure is the median of round
medians, and their ratio. A run is timed by the calling thread's CPU time (time.thread_time), which
other processes on a shared machine do not inflate the way they do wall time (they still share the
caches). Both must
give the same bytes on the same seeded input (the build changed how the code is compiled, not what
it computes).

The machine may be shared: the CPU seconds are the figure other processes disturb least, the
wall seconds are what a user waits for (LLVM's parts run in parallel on the cores it gets).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SECTION = "build-time"
MODELS = ("resnet18", "mobilenet_v2", "efficientnet_lite0")
TARGETS = ("x86-vnni", "arm-sdot")
GOAL_S = 10.0
PHASES = ("import", "passes", "calibrate", "quantize", "IR", "LLVM", "link")


def _wrap(timings: dict, module, name: str, phase: str) -> None:
    """module.name timed into timings[phase] (summed over calls); its result kept in timings["_" + phase]."""
    f = getattr(module, name)

    def timed(*args, **kwargs):
        t0 = time.perf_counter()
        result = f(*args, **kwargs)
        timings[phase] = timings.get(phase, 0.0) + time.perf_counter() - t0
        if isinstance(result, dict):
            timings["_" + phase] = result
        return result
    setattr(module, name, timed)


def child(model: str, target: str, out: str, calib: str, root: str) -> dict:
    """One build in this process, qcomp imported from `root`."""
    sys.path.insert(0, root)
    import qcomp
    import qcomp.api
    import qcomp.builder as builder
    import qcomp.codegen.llvm as llvm_backend
    timings: dict = {}
    _wrap(timings, qcomp.api, "load_model", "import")
    _wrap(timings, builder, "float_graph", "passes")
    _wrap(timings, builder, "calibrate", "calibrate")
    _wrap(timings, builder, "quantize", "quantize")
    _wrap(timings, llvm_backend, "build_module", "IR")
    _wrap(timings, llvm_backend, "compile_object", "LLVM")
    _wrap(timings, llvm_backend, "link_shared", "link")
    _wrap(timings, llvm_backend, "cross_artifact", "link")
    cpu0 = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    t0 = time.perf_counter()
    qcomp.build(model, target=target, calib=calib, out=out)
    wall = time.perf_counter() - t0
    cpu1 = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    cpu = sum(b.ru_utime + b.ru_stime - a.ru_utime - a.ru_stime for a, b in zip(cpu0, cpu1))
    llvm = timings.pop("_LLVM", None) or {}
    parts_cpu = sum(v for k, v in llvm.items() if k.endswith("_cpu_s") and k != "slowest_part_cpu_s")
    critical = cpu - parts_cpu + llvm.get("slowest_part_cpu_s", parts_cpu)
    timings = {k: v for k, v in timings.items() if not k.startswith("_")}
    timings["other"] = wall - sum(timings.values())
    text = (Path(out) / "model.ll").read_text()
    return {"wall": wall, "cpu": cpu, "critical_cpu": critical, "phases": timings, "llvm": llvm,
            "functions": text.count("\ndefine "),
            "ir_lines": sum(1 for line in text.splitlines() if line.startswith("  ") and not line.startswith("  ;"))}


def write_models(work: Path) -> dict:
    """model name -> (ONNX path, calibration .npz): the models benchmarks/latency.py times."""
    import numpy as np
    import onnx
    sys.path.insert(0, str(HERE))
    import latency
    models = {}
    for name in MODELS:
        path = latency.write_model(name, work, 224)
        graph = onnx.load(path, load_external_data=False).graph
        shape = [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim]
        calib = work / f"{name}.calib.npz"
        rng = np.random.default_rng(0)
        np.savez(calib, **{graph.input[0].name: rng.standard_normal([4] + shape[1:]).astype(np.float32)})
        models[name] = (path, calib)
    return models


def run_child(model: Path, target: str, out: Path, calib: Path, root: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(root))
    proc = subprocess.run([sys.executable, __file__, "--child", json.dumps([str(model), target, str(out), str(calib),
                                                                           str(root)])],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"build of {model.name} for {target} ({root}) failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def latency(artifacts: dict, rounds: int, runs: int = 30, warmup: int = 3) -> list[str]:
    """Rows of the run-time table: model -> {label: artifact path} timed in alternation (module docstring)."""
    import numpy as np
    from qcomp.artifact import read_manifest
    from qcomp.bench import load_qcomp, random_feeds
    rows = ["", "Run time of the x86-vnni artifacts (1 thread, in one process, alternating; CPU time of the "
            f"running thread, median of {rounds} round medians of {runs} runs):", "",
            "| model | after ms | before ms | after / before | same outputs |", "|---|---|---|---|---|"]
    for model, paths in artifacts.items():
        feeds = random_feeds(read_manifest(paths[""])["inputs"], np.random.default_rng(0))
        arts = {label: load_qcomp(path, 1) for label, path in paths.items()}
        outs = {label: art.run(dict(feeds)) for label, art in arts.items()}
        same = all(np.array_equal(outs[""][k], outs[label][k]) for label in outs for k in outs[""])
        medians: dict[str, list[float]] = {label: [] for label in arts}
        for r in range(rounds):
            for label in (list(arts) if r % 2 == 0 else list(arts)[::-1]):
                for _ in range(warmup):
                    arts[label].run(dict(feeds))
                seconds = []
                for _ in range(runs):
                    t0 = time.thread_time()
                    arts[label].run(dict(feeds))
                    seconds.append(time.thread_time() - t0)
                medians[label].append(statistics.median(seconds))
        after, before = (1e3 * statistics.median(medians[label]) for label in ("", "before: "))
        rows.append(f"| {model} | {after:.2f} | {before:.2f} | {after / before:.3f} | {'yes' if same else '**no**'} |")
    return rows


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def row(label: str, r: dict) -> str:
    p, llvm = r["phases"], r["llvm"]
    if "optimize_wall_s" in llvm:
        parts = f" ({llvm['parts']} parts)" if llvm.get("parts", 1) > 1 else ""
        llvm_cell = (f"{p.get('LLVM', 0):.2f}{parts}: opt {llvm['optimize_wall_s']:.2f}, codegen "
                     f"{llvm['codegen_wall_s']:.2f}; CPU {llvm['optimize_cpu_s'] + llvm['codegen_cpu_s']:.2f}")
    else:
        llvm_cell = f"{p.get('LLVM', 0):.2f}"
    cells = [label, f"**{r['wall']:.2f}**", f"{r['cpu']:.2f}", f"{r['critical_cpu']:.2f}", *(f"{p.get(k, 0):.2f}" for k in PHASES[:5]),
             llvm_cell, f"{p.get('link', 0):.2f}", f"{p.get('other', 0):.2f}", f"{r['functions']}", f"{r['ir_lines']}"]
    return "| " + " | ".join(cells) + " |"


def section(command: str, results: dict, rounds: int, load: tuple) -> str:
    head = ["model / target", "wall s", "CPU s", "critical CPU s", "import", "passes", "calibrate", "quantize", "IR",
            "LLVM (wall; CPU of all parts)", "link", "other", "functions", "IR lines"]
    lines = ["## Build time (`qcomp build`, llvm targets)", "",
             f"`{command}` on {cpu_model()} ({os.cpu_count()} cores; load average before the run "
             f"{load[0]:.1f}), {datetime_now()}. Median of {rounds} round(s), each build alone in a fresh process; "
             "seconds. CPU s: user + sys of the build and of the processes it waited for (LLVM, gcc): the "
             "figure other processes on a shared machine disturb least. Phases are wall seconds "
             "(benchmarks/build_time.py docstring). Critical CPU s: the CPU seconds on the build's critical "
             "path (LLVM's parallel parts counted as the slowest one): what the wall time would be on an idle "
             "machine. Goal: under "
             f"{GOAL_S:.0f} s wall per model.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (label, model, target), rs in results.items():
        median = sorted(rs, key=lambda r: r["wall"])[len(rs) // 2]
        lines.append(row(f"{label}{model} {target}", median))
    return "\n".join(lines) + "\n"


def datetime_now() -> str:
    import datetime
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--targets", default=",".join(TARGETS))
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--baseline", help="a qcomp checkout to compare with, in the same rounds")
    ap.add_argument("--latency", type=int, default=0, metavar="ROUNDS",
                    help="with --baseline: time both checkouts' x86-vnni artifacts in alternation, this many rounds")
    ap.add_argument("--json", help="also write every build's measurements to this file")
    ap.add_argument("--no-write", action="store_true", help="print the section instead of updating RESULTS.md")
    ap.add_argument("--results", default=str(HERE / "RESULTS.md"))
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(*json.loads(args.child))))
        return 0
    load = os.getloadavg()
    roots = [("", REPO)] + ([("before: ", Path(args.baseline).resolve())] if args.baseline else [])
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="qcomp-build-time-") as tmp:
        work = Path(tmp)
        models = write_models(work)
        for rnd in range(args.rounds):
            for model in args.models.split(","):
                for target in args.targets.split(","):
                    for label, root in (roots if rnd % 2 == 0 else roots[::-1]):
                        path, calib = models[model]
                        r = run_child(path, target, work / f"{model}.{target}.{len(label)}", calib, root)
                        results.setdefault((label, model, target), []).append(r)
                        print(f"{label}{model} {target}: {r['wall']:.2f} s wall, {r['cpu']:.2f} s CPU", file=sys.stderr)
        rows = []
        if args.latency and args.baseline and "x86-vnni" in args.targets.split(","):
            rows = latency({model: {label: work / f"{model}.x86-vnni.{len(label)}" for label, _ in roots}
                            for model in args.models.split(",")}, args.latency)
    results = dict(sorted(results.items(), key=lambda kv: (MODELS.index(kv[0][1]), kv[0][2], kv[0][0] == "")))
    if args.json:
        Path(args.json).write_text(json.dumps({" ".join(k).strip(): v for k, v in results.items()}, indent=1))
    command = "python benchmarks/build_time.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    text = section(command.strip(), results, args.rounds, load) + "\n".join(rows) + ("\n" if rows else "")
    if args.no_write:
        print(text)
    else:
        sys.path.insert(0, str(HERE))
        from latency import write_section
        write_section(Path(args.results), text, SECTION)
    return 0


if __name__ == "__main__":
    sys.exit(main())
