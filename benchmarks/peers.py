"""The benchmarks' peer engines: preparing each one's model, and timing one engine alone in a process.

Engines (kind -> what a timing child loads):
  qcomp          a qcomp artifact, Artifact.run (threads: qcomp.load(num_threads=N))
  ort            an ONNX model in onnxruntime (FP32, quantize_dynamic or static QDQ), intra_op N
  openvino       an OpenVINO IR (model.xml) compiled for "CPU" with INFERENCE_NUM_THREADS=N and the
                 LATENCY hint; int8 by NNCF post-training quantization (nncf.quantize) of the ONNX
                 model read by OpenVINO, calibrated on the same samples qcomp calibrates on
  tvm            an Apache TVM Relax VM library: the Relax ONNX frontend (from_onnx), tvm.compile
                 for {"kind": "llvm", "mcpu": this host's LLVM CPU} through relax.get_pipeline
                 ("default"): legalized operators at their default schedules, nothing tuned
                 (TVM_NUM_THREADS=N; default-schedule loops are not parallelized)

The peers are benchmark-only packages (benchmarks/requirements-peers.txt, `scripts/setup.sh
--bench`). A peer that is not installed, or that fails to prepare a model, is recorded with the
reason (`Unavailable`) and the benchmark goes on without it.

Timing (time_rounds): `rounds` rounds; in each, every engine runs alone in a fresh child process
(its own thread pools; nothing else loaded), `warmup` untimed runs then `runs` timed runs (at
least MIN_RUNS and, past them, no more than BUDGET_S seconds: TVM's default schedules take
seconds per CNN run); the
order of engines is reversed every other round, so drift on a shared machine hits all alike. An
engine's figure is the median of its round medians.
"""
from __future__ import annotations

import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Unavailable:
    why: str


def versions() -> dict[str, str]:
    """Installed peer packages and their versions (absent ones left out)."""
    out = {}
    for module in ("onnxruntime", "openvino", "nncf", "tvm"):
        if importlib.util.find_spec(module) is not None:
            try:
                out[module] = str(__import__(module).__version__).split("-")[0]
            except Exception as e:   # a broken install: say so in the table
                out[module] = f"broken ({type(e).__name__})"
    return out


def missing(*modules: str) -> str | None:
    gone = [m for m in modules if importlib.util.find_spec(m) is None]
    return (f"{', '.join(gone)} not installed in this Python (scripts/setup.sh --bench installs the peers)"
            if gone else None)


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[-1] if text else ''}"[:300]


# ---- preparing (parent process) -------------------------------------------------------------

def openvino_int8(model: Path, samples: list[dict[str, np.ndarray]], out: Path, transformer: bool = False):
    """OpenVINO IR of `model` quantized by nncf.quantize on `samples` (path), or Unavailable."""
    why = missing("openvino", "nncf")
    if why:
        return Unavailable(why)
    try:
        import logging

        import nncf
        import openvino as ov
        nncf.set_log_level(logging.ERROR)
        extra = {"model_type": nncf.ModelType.TRANSFORMER} if transformer else {}
        quantized = nncf.quantize(ov.Core().read_model(str(model)), nncf.Dataset(samples),
                                  subset_size=len(samples), **extra)
        out.mkdir(parents=True, exist_ok=True)
        ov.save_model(quantized, str(out / "model.xml"))
        return out / "model.xml"
    except Exception as e:   # noqa: BLE001 - any failure of a peer is reported in its table cell
        return Unavailable(f"OpenVINO/NNCF failed: {_first_line(e)}")


def tvm_library(model: Path, shapes: dict[str, list[int]], out: Path):
    """A TVM Relax VM library of `model` (float or QDQ) at default schedules (path), or Unavailable."""
    why = missing("tvm")
    if why:
        return Unavailable(why)
    try:
        import llvmlite.binding as llvm
        import onnx
        import tvm
        from tvm import relax
        from tvm.relax.frontend.onnx import from_onnx
        mod = from_onnx(onnx.load(str(model)), shapes, keep_params_in_input=False)
        target = tvm.target.Target({"kind": "llvm", "mcpu": llvm.get_host_cpu_name()})
        # a pipeline object, not the string "default": tvm.compile's string path reads target.keys as a
        # list, which TVM 0.27's Target makes a method (TypeError)
        ex = tvm.compile(mod, target=target, relax_pipeline=relax.get_pipeline("default"))
        out.parent.mkdir(parents=True, exist_ok=True)
        ex.export_library(str(out))
        return out
    except Exception as e:   # noqa: BLE001
        return Unavailable(f"TVM failed: {_first_line(e)}")


# ---- timing (child process) -----------------------------------------------------------------

def open_engine(kind: str, path: str, threads: int, output: str | None = None):
    """A zero-argument-per-feeds callable: feeds dict -> first output (or `output`) as numpy."""
    if kind == "qcomp":
        from qcomp.bench import load_qcomp
        art = load_qcomp(path, threads)
        return lambda feeds: (art.run(feeds)[output] if output else next(iter(art.run(feeds).values())))
    if kind == "ort":
        from qcomp.bench import ort_session
        session = ort_session(path, threads)
        names = [output] if output else None
        return lambda feeds: session.run(names, feeds)[0]
    if kind == "openvino":
        import openvino as ov
        compiled = ov.Core().compile_model(path, "CPU", {"INFERENCE_NUM_THREADS": threads,
                                                         "PERFORMANCE_HINT": "LATENCY"})
        request = compiled.create_infer_request()
        port = compiled.output(output) if output else compiled.outputs[0]
        return lambda feeds: request.infer(feeds)[port]
    if kind == "tvm":
        os.environ["TVM_NUM_THREADS"] = str(threads)
        import tvm
        from tvm import relax
        vm = relax.VirtualMachine(tvm.runtime.load_module(path), tvm.cpu())
        make = tvm.runtime.tensor if hasattr(tvm.runtime, "tensor") else tvm.nd.array

        def run(feeds):
            result = vm["main"](*[make(v) for v in feeds.values()])
            first = result[0] if isinstance(result, (list, tuple)) or type(result).__name__ == "Array" else result
            return first.numpy()
        return run
    raise ValueError(f"unknown engine kind {kind!r}")


BUDGET_S = 20.0    # timed seconds per engine and child, past which it stops after MIN_RUNS
MIN_RUNS = 3


def time_engine(kind: str, path: str, feeds: dict[str, np.ndarray], threads: int, runs: int, warmup: int,
                output: str | None = None) -> tuple[dict, np.ndarray]:
    """Warm up, then time `runs` runs of one engine: ({"seconds", "load"}, its last result). An engine
    that takes seconds per run (TVM at default schedules) stops after MIN_RUNS once BUDGET_S is spent,
    and after one warm-up run that took over a quarter of it."""
    run = open_engine(kind, path, threads, output)
    for _ in range(warmup):
        t0 = time.perf_counter()
        result = run(feeds)
        if time.perf_counter() - t0 > BUDGET_S / 4:
            break
    seconds = []
    load = os.getloadavg()[0]
    for _ in range(runs):
        t0 = time.perf_counter()
        result = run(feeds)
        seconds.append(time.perf_counter() - t0)
        if len(seconds) >= MIN_RUNS and sum(seconds) > BUDGET_S:
            break
    return {"seconds": seconds, "load": [load, os.getloadavg()[0]]}, np.asarray(result)


def time_rounds(spawn, engines: list[str], rounds: int) -> dict[str, dict]:
    """spawn(engine) -> a child's {"seconds", "load"}; every engine once per round, the order
    reversed every other round. Returns engine -> {"ms": median of round medians, "rounds": [ms],
    "load": (first, last)} or {"error": why} when its child failed."""
    out: dict[str, dict] = {e: {"rounds": [], "loads": []} for e in engines}
    for r in range(rounds):
        for engine in (engines if r % 2 == 0 else engines[::-1]):
            if "error" in out[engine]:
                continue
            try:
                t = spawn(engine)
            except RuntimeError as e:
                out[engine]["error"] = str(e).strip().splitlines()[-1][:300]
                continue
            out[engine]["rounds"].append(1e3 * statistics.median(t["seconds"]))
            out[engine]["loads"] += t["load"]
            out[engine].update({k: v for k, v in t.items() if k not in ("seconds", "load")})
    for engine, d in out.items():
        if d["rounds"]:
            d["ms"] = statistics.median(d["rounds"])
    return out


def run_script_child(script: str, args: list, cwd: Path) -> dict:
    """`python script --child JSON` -> the JSON its last stdout line holds; RuntimeError on failure."""
    r = subprocess.run([sys.executable, script, "--child", json.dumps(args)], capture_output=True, text=True,
                       cwd=cwd, timeout=3600)
    if r.returncode:
        raise RuntimeError(f"timing child {args[:2]} failed: {r.stderr.strip()[-1500:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def cell(d: dict | Unavailable | None) -> str:
    """A table cell: ms, or why the engine has no figure."""
    if d is None:
        return "-"
    if isinstance(d, Unavailable):
        return "n/a"
    if "ms" in d:
        return f"{d['ms']:.2f}"
    return "failed"


# ---- the CNN benchmark's peers and table (benchmarks/latency.py) -----------------------------

def prepare_cnn(model: Path, int8: Path, inputs: list[dict], images: np.ndarray, work: Path,
                  wanted: list[str]) -> dict:
    """engine -> (kind, path) of every peer but qcomp, or Unavailable with the reason."""
    name = inputs[0]["name"]
    shapes = {i["name"]: list(i["shape"]) for i in inputs}
    made = {"ort fp32": ("ort", str(model)), "ort int8": ("ort", str(int8))}
    if "openvino int8" in wanted:
        xml = openvino_int8(model, [{name: image[None]} for image in images], work / f"{model.stem}.ov")
        made["openvino int8"] = xml if isinstance(xml, Unavailable) else ("openvino", str(xml))
    for engine, source in (("tvm fp32", model), ("tvm qdq", int8)):
        if engine in wanted:
            lib = tvm_library(source, shapes, work / f"{source.stem}.tvm.so")
            made[engine] = lib if isinstance(lib, Unavailable) else ("tvm", str(lib))
    return {e: v for e, v in made.items() if e in wanted}


def latency_table(latency: list, engines: list[str], titles: dict, columns: dict, int8_peers: tuple,
                  goal: float) -> list[str]:
    """The latency table: one row per model x threads, a column per engine, qcomp against the best int8
    peer measured; then the reasons of the peers without a figure."""
    rows, verdicts, notes = [], [], {}
    for name, threads, t in latency:
        cells = [titles[name], f"{threads} ({t['qcomp'].get('threads_in_effect', '?')})"]
        cells += [cell(t.get(e)) for e in engines]
        best = min(((t[e]["ms"], e) for e in int8_peers if isinstance(t.get(e), dict) and "ms" in t[e]),
                   default=None)
        q = t["qcomp"].get("ms")
        if best and q:
            verdicts.append(q <= goal * best[0])
            cells += [f"{q / best[0]:.2f} ({columns[best[1]]})", "met" if verdicts[-1] else "not met"]
        else:
            cells += ["-", "-"]
        loads = [x for d in t.values() if isinstance(d, dict) for x in d.get("loads", [])]
        cells.append(f"{min(loads):.1f}-{max(loads):.1f}" if loads else "-")
        rows.append(cells)
        for e in engines:
            d = t.get(e)
            why = d.why if isinstance(d, Unavailable) else d.get("error") if isinstance(d, dict) else None
            if why:
                notes.setdefault((e, why), []).append(f"{titles[name]} {threads}t")
    lines = _table(["model", "threads (qcomp's in effect)"] + [columns[e] for e in engines] +
                  ["qcomp / best int8 peer", f"goal (<= {goal}x)", "load avg during"], rows)
    lines += ["", f"Goal (qcomp at or below {goal}x the best int8 peer) met in {sum(verdicts)} of {len(verdicts)} "
              f"model x thread cases."]
    for (e, why), where in notes.items():
        lines += ["", f"{columns[e]}: no figure ({', '.join(where)}): {why}"]
    return lines


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"] + \
           ["| " + " | ".join(r) + " |" for r in rows]
