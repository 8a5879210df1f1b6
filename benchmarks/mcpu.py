"""Batch-1 latency of x86-vnni artifacts built with different `--mcpu` values, in one run on this machine.

    python benchmarks/mcpu.py                                   default, x86-64-v4, icelake-server, znver4
    python benchmarks/mcpu.py --cpus default,znver4 --no-write

Models: ResNet-18-style and MobileNetV2-style (tests/models/cnn_zoo.py, 224x224, seeded weights), each
built once per CPU with qcomp.build(target="x86-vnni", mcpu=CPU) on the same 4 seeded calibration
images ("default": no --mcpu, the target toml's cpu). The builds quantize identically, so the
artifacts compute the same integers (the script checks their outputs are equal) and differ only in
LLVM's instruction selection and scheduling. Timing: benchmarks/peers.time_rounds, each artifact
alone in its own child process per round, the order reversed every other round; the figure is the
median of round medians (ms). With --interleave, all of a model's artifacts are loaded in one child
instead and timed in alternating blocks of qcomp.bench.BLOCK runs (qcomp.bench.time_interleaved):
paired, so a load that changes from second to second on a shared machine hits every CPU's
artifact alike. The build time of each is reported too.

The script rewrites the `x86-mcpu` section of benchmarks/RESULTS.md (between its markers, appended
when absent).
"""
from __future__ import annotations

import argparse
import datetime
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SECTION = "x86-mcpu"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--models", default="resnet18,mobilenet_v2")
    ap.add_argument("--cpus", default="default,x86-64-v4,icelake-server,znver4")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--interleave", action="store_true", help="time all CPUs' artifacts in one child, in blocks")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--results", default=str(HERE / "RESULTS.md"))
    args = ap.parse_args(argv)
    import latency
    import peers
    if args.child:
        kind, *rest = json.loads(args.child)
        print(json.dumps(child_interleaved(*rest) if kind == "interleaved" else latency.child_engine(kind, *rest)))
        return 0
    import qcomp
    from qcomp.artifact import read_manifest
    from qcomp.bench import random_feeds
    shown = [a for a in (argv if argv is not None else sys.argv[1:]) if a]
    command = ("python benchmarks/mcpu.py " + shlex.join(shown)).strip()
    cpus = [c for c in args.cpus.split(",") if c]
    threads = [int(t) for t in args.threads.split(",") if t]
    facts = latency.machine_facts()
    start = time.time()
    rows, builds = [], []
    with tempfile.TemporaryDirectory(prefix="qcomp-mcpu-") as tmp:
        work = Path(tmp)
        for name in [m for m in args.models.split(",") if m]:
            model = latency.write_model(name, work, 224)
            calib = work / f"{name}.calib.npz"
            np.savez(calib, input=np.random.default_rng(0).standard_normal((4, 3, 224, 224)).astype(np.float32))
            arts, outputs = {}, {}
            for cpu in cpus:
                t0 = time.perf_counter()
                art = qcomp.build(model, target="x86-vnni", calib=calib, out=work / f"{name}.{cpu}",
                                  mcpu=None if cpu == "default" else cpu)
                builds.append((name, cpu, time.perf_counter() - t0, read_manifest(art)["cpu"]["llvm_cpu"]))
                arts[cpu] = str(art)
                feeds = random_feeds(read_manifest(art)["inputs"], np.random.default_rng(0))
                outputs[cpu] = qcomp.load(art).run(feeds, raw=True)
                print(f"{name} {cpu}: built in {builds[-1][2]:.1f} s", flush=True)
            same = all(np.array_equal(outputs[c][k], outputs[cpus[0]][k]) for c in cpus for k in outputs[c])
            inputs = read_manifest(arts[cpus[0]])["inputs"]
            for n in threads:
                if args.interleave:
                    got = peers.run_script_child(__file__, ["interleaved", arts, inputs, n, args.runs * args.rounds,
                                                            args.warmup], REPO)
                    t = {c: {"ms": 1e3 * float(np.median(v))} for c, v in got.items()}
                    rows.append((name, n, t, same))
                    print(f"{name} {n} thread(s): " + ", ".join(f"{c} {peers.cell(t[c])}" for c in cpus), flush=True)
                    continue
                t = peers.time_rounds(lambda cpu, n=n: peers.run_script_child(
                    __file__, ["qcomp", arts[cpu], inputs, n, args.runs, args.warmup], REPO), cpus, args.rounds)
                rows.append((name, n, t, same))
                print(f"{name} {n} thread(s): " + ", ".join(f"{c} {peers.cell(t[c])}" for c in cpus), flush=True)
    text = section(command, facts, cpus, rows, builds, args, time.time() - start)
    if args.no_write:
        print(text)
    else:
        write_section(Path(args.results), text)
        print(text)
    return 0


def child_interleaved(arts: dict, inputs: list, threads: int, runs: int, warmup: int) -> dict:
    """Every artifact loaded here, timed in alternating blocks (qcomp.bench.time_interleaved)."""
    from qcomp.bench import load_qcomp, random_feeds, time_interleaved
    feeds = random_feeds(inputs, np.random.default_rng(0))
    loaded = {cpu: load_qcomp(path, threads) for cpu, path in arts.items()}
    timings = time_interleaved([(cpu, lambda a=a: a.run(feeds)) for cpu, a in loaded.items()], runs, warmup)
    return {t.name: t.seconds for t in timings}


def section(command: str, facts: dict, cpus: list[str], rows: list, builds: list, args, elapsed: float) -> str:
    import latency
    import peers
    base = cpus[0]
    lines = [f"## x86-vnni with --mcpu ({datetime.date.today().isoformat()})", "",
             f"Command: `{command}` ({elapsed / 60:.1f} min); CPU: {facts['cpu']} (family {facts.get('CPU family', '?')} "
             f"model {facts.get('Model', '?')}: LLVM names it {builds[0][3] if cpus[0] == 'native' else _host()}), "
             f"{facts['cores']} cores, qcomp at {facts['commit']}{' (uncommitted changes)' if facts['dirty'] else ''}; "
             f"load average at the start {facts['load'][0]:.1f} (a shared machine: compare within a row). " +
             (f"Median of {args.runs * args.rounds} runs per artifact, all of a model's artifacts in one process, "
              f"timed in alternating blocks of 5 runs" if args.interleave else
              f"Median over {args.rounds} rounds of each artifact's median of {args.runs} runs, each alone in its "
              f"own process") + f", ms; ratio: against `{base}`.", ""]
    table = []
    for name, n, t, same in rows:
        cells = [latency.TITLES[name], str(n)] + [peers.cell(t[c]) for c in cpus]
        b = t[base].get("ms")
        cells += [" / ".join(f"{t[c]['ms'] / b:.2f}" if b and "ms" in t[c] else "-" for c in cpus[1:]),
                  "yes" if same else "NO"]
        table.append(cells)
    lines += latency.table(["model", "threads"] + [f"--mcpu {c}" for c in cpus] +
                           [" / ".join(cpus[1:]) + f" vs {base}", "outputs identical"], table)
    lines += ["", "Build seconds (LLVM CPU): " + "; ".join(f"{latency.TITLES[m]} {c} {s:.1f} ({llvm})"
                                                          for m, c, s, llvm in builds) + "."]
    return "\n".join(lines) + "\n"


def _host() -> str:
    import llvmlite.binding as llvm
    return llvm.get_host_cpu_name()


def write_section(results: Path, text: str) -> None:
    doc = results.read_text()
    begin, end = f"<!-- {SECTION}:begin -->", f"<!-- {SECTION}:end -->"
    if begin in doc and end in doc:
        head, rest = doc.split(begin, 1)
        _, tail = rest.split(end, 1)
        results.write_text(head + begin + "\n" + text + end + tail)
    else:
        results.write_text(doc.rstrip("\n") + "\n\n" + begin + "\n" + text + end + "\n")


if __name__ == "__main__":
    sys.exit(main())
