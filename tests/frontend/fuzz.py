"""Fuzzing the ONNX importer with seeded mutants of valid models (fuzz_seeds.py, fuzz_mutate.py).

Each mutant is written to a file and goes through `qcomp.load_model(path)`; when that succeeds, also
through `qcomp inspect PATH` (qcomp.cli.main). The oracle: the mutant either imports into a graph
that passes the IR verifier and inspects with exit code 0, or raises a QcompError whose message is
not empty and leaks no Python exception class or traceback. Anything else is a defect:

  exception:<Class>  any other exception (MemoryError included: see the memory cap below)
  ir-error           an IRError escaped the importer: it built a graph the IR (or its verifier) rejects
  leak               a QcompError whose message carries a builtin exception name or a traceback
  inspect            `qcomp inspect` failed on a model that load_model imported
  timeout            one mutant ran longer than --timeout seconds (SIGALRM in the worker)
  hang / crash       the worker stopped answering, or died (a signal from native code)

Mutants run in a worker subprocess, in-process one after another; a crash or hang costs one mutant:
the parent records it and starts a new worker after it. The worker caps its address space
(RLIMIT_AS, --memory MiB above what it uses after its imports), so an allocation that a huge dim
would make fails as a MemoryError (a defect) instead of exhausting the machine. Mutant k of seed S
is rebuilt from np.random.default_rng([S, k]) alone, so any one reproduces with --only K.

    python -m tests.frontend.fuzz --mutants 20000 --seed 1 [--jobs 2] [--save DIR] [--json OUT]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LEAK = re.compile(r"Traceback \(most recent|\b(KeyError|IndexError|TypeError|AttributeError|ValueError|"
                  r"ZeroDivisionError|AssertionError|RuntimeError|OverflowError|DecodeError|"
                  r"ReferenceEvaluator|onnx\.reference)\b")
DEFECT_PREFIXES = ("exception:", "ir-error", "leak", "inspect", "timeout", "hang", "crash")


class _Timeout(BaseException):
    """Raised by SIGALRM inside a mutant (a BaseException, so `except Exception` cannot swallow it)."""


def is_defect(outcome: str) -> bool:
    return outcome.startswith(DEFECT_PREFIXES)


# ---- the worker ---------------------------------------------------------------------------------

def _classify(path: str) -> tuple[str, str]:
    import qcomp
    from qcomp import cli
    from qcomp.errors import QcompError
    from qcomp.ir.types import IRError
    try:
        qcomp.load_model(path)
    except IRError as e:
        return "ir-error", str(e)[:300]
    except QcompError as e:
        msg = str(e)
        if not msg.strip() or LEAK.search(msg):
            return "leak", f"{type(e).__name__}: {msg}"
        return f"refused:{type(e).__name__}", msg.splitlines()[0][:300]
    except _Timeout:
        raise
    except BaseException as e:  # noqa: BLE001 - the defect the fuzzer looks for
        return f"exception:{type(e).__name__}", str(e)[:300]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli.main(["inspect", path])
    return ("imported", "") if rc == 0 else ("inspect", err.getvalue()[:300])


def _cap_memory(mib: int) -> None:
    import resource
    with open("/proc/self/status") as f:
        vm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    limit = vm + mib * 2 ** 20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def mutant(seeds: dict, seed: int, k: int) -> tuple[str, str, bytes]:
    """(seed model name, mutation label, file bytes) of mutant k of fuzzing seed `seed`."""
    import numpy as np

    from tests.frontend.fuzz_mutate import mutate
    rng = np.random.default_rng([seed, k])
    names = sorted(seeds)
    name = names[int(rng.integers(len(names)))]
    label, data = mutate(seeds[name], rng)
    return name, label, data


def worker(seed: int, start: int, stop: int, fd: int, timeout: float, memory: int, save: str | None) -> None:
    import onnx.reference  # noqa: F401 - every import happens before the memory cap
    import qcomp.cli  # noqa: F401

    from tests.frontend.fuzz_seeds import seeds as build_seeds
    seeds = build_seeds()
    _cap_memory(memory)
    out = os.fdopen(fd, "w", buffering=1)

    def alarm(signum, frame):
        raise _Timeout()
    signal.signal(signal.SIGALRM, alarm)
    with tempfile.TemporaryDirectory(prefix="qcomp-fuzz-") as tmp:
        for k in range(start, stop):
            out.write(json.dumps({"k": k, "start": True}) + "\n")
            name, label, data = mutant(seeds, seed, k)
            path = os.path.join(tmp, f"m{k}.onnx")
            with open(path, "wb") as f:
                f.write(data)
            t0 = time.perf_counter()
            signal.setitimer(signal.ITIMER_REAL, timeout)
            try:
                outcome, detail = _classify(path)
            except _Timeout:
                outcome, detail = "timeout", f"more than {timeout} s"
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            if save and is_defect(outcome):
                Path(save).mkdir(parents=True, exist_ok=True)
                Path(save, f"s{seed}_m{k}_{name}.onnx").write_bytes(data)
            out.write(json.dumps({"k": k, "seed_model": name, "mutation": label, "outcome": outcome,
                                  "detail": detail, "s": round(time.perf_counter() - t0, 4)}) + "\n")
            os.unlink(path)


# ---- the parent ---------------------------------------------------------------------------------

_SEEDS: dict = {}


def _describe(seed: int, k: int) -> dict:
    """Seed model and mutation of mutant k (for the mutants whose worker died)."""
    if not _SEEDS:
        from tests.frontend.fuzz_seeds import seeds
        _SEEDS.update(seeds())
    name, label, _ = mutant(_SEEDS, seed, k)
    return {"seed_model": name, "mutation": label}


def _run_range(seed: int, start: int, stop: int, args) -> list[dict]:
    """Mutants [start, stop) in workers, restarting after each crash or hang."""
    results: list[dict] = []
    k = start
    while k < stop:
        r, w = os.pipe()
        cmd = [sys.executable, "-m", "tests.frontend.fuzz", "--worker", "--seed", str(seed), "--start", str(k),
               "--stop", str(stop), "--fd", str(w), "--timeout", str(args.timeout), "--memory", str(args.memory)]
        if args.save:
            cmd += ["--save", args.save]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
        proc = subprocess.Popen(cmd, cwd=ROOT, pass_fds=(w,), env=env, stdout=subprocess.DEVNULL)
        os.close(w)
        reader = os.fdopen(r)
        current = None
        ready_by = time.monotonic() + 120 + args.timeout        # imports and seeds, then one mutant
        while True:
            if not select.select([reader], [], [], max(ready_by - time.monotonic(), 0))[0]:
                proc.kill()
                at = current if current is not None else k
                results.append({"k": at, "outcome": "hang", "detail": "the worker stopped answering",
                                **_describe(seed, at)})
                break
            line = reader.readline()
            if not line:
                proc.wait()
                if current is not None:
                    results.append({"k": current, "outcome": "crash", "detail": f"worker exit {proc.returncode}",
                                    **_describe(seed, current)})
                break
            msg = json.loads(line)
            if msg.get("start"):
                current = msg["k"]
                ready_by = time.monotonic() + 3 * args.timeout + 10
            else:
                results.append(msg)
                current = None
        reader.close()
        proc.wait()
        k = max([x["k"] for x in results if start <= x["k"] < stop], default=k - 1) + 1
    return results


def fuzz(args) -> dict:
    t0 = time.perf_counter()
    first = args.only if args.only is not None else 0
    last = first + 1 if args.only is not None else args.mutants
    jobs = max(1, min(args.jobs, last - first))
    bounds = [first + (last - first) * j // jobs for j in range(jobs + 1)]
    if jobs == 1:
        results = _run_range(args.seed, first, last, args)
    else:
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(jobs) as pool:
            parts = pool.map(lambda j: _run_range(args.seed, bounds[j], bounds[j + 1], args), range(jobs))
            results = [x for part in parts for x in part]
    results.sort(key=lambda x: x["k"])
    outcomes = Counter(x["outcome"] for x in results)
    by_mutation: dict[str, Counter] = {}
    for x in results:
        for m in set(x.get("mutation", "").split("+")) - {""}:
            by_mutation.setdefault(m, Counter())[x["outcome"].split(":")[0]] += 1
    return {"seed": args.seed, "mutants": len(results), "seconds": round(time.perf_counter() - t0, 1),
            "outcomes": dict(sorted(outcomes.items())),
            "by_mutation": {m: dict(sorted(c.items())) for m, c in sorted(by_mutation.items())},
            "defects": [x for x in results if is_defect(x["outcome"])]}


def summary(report: dict) -> str:
    lines = [f"fuzzed {report['mutants']} mutants of seed {report['seed']} in {report['seconds']} s"]
    lines += [f"  {n:6d}  {o}" for o, n in report["outcomes"].items()]
    lines += [f"DEFECT mutant {d['k']} ({d.get('seed_model')}, {d.get('mutation')}): {d['outcome']}: "
              f"{d['detail'][:200]}" for d in report["defects"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.frontend.fuzz", description=__doc__.split("\n\n")[0])
    p.add_argument("--mutants", type=int, default=600)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", type=int, help="run mutant K only (reproduce one)")
    p.add_argument("--jobs", type=int, default=1, help="worker processes")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per mutant")
    p.add_argument("--memory", type=int, default=4096, help="MiB a worker may allocate beyond its imports")
    p.add_argument("--save", help="write every defective mutant to this folder")
    p.add_argument("--json", help="write the report (outcome counts, defects) here")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--start", type=int, help=argparse.SUPPRESS)
    p.add_argument("--stop", type=int, help=argparse.SUPPRESS)
    p.add_argument("--fd", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker(args.seed, args.start, args.stop, args.fd, args.timeout, args.memory, args.save)
        return 0
    report = fuzz(args)
    print(summary(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 1 if report["defects"] else 0


if __name__ == "__main__":
    sys.exit(main())
