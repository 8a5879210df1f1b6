"""Compile LLVM IR text to an object file in a child process, then link a shared library.

llvmlite is built with LLVM assertions on: a bad target/feature combination aborts the process
(SIGABRT). isa.dot_spec validates the settings first; the compile itself runs in a child Python
(`python -c ... _child(request)`), so even an unforeseen LLVM abort becomes a QcompError
naming the target, never a crash of the CLI.

Child:  parse -> verify -> new pass manager at O3 (create_pass_builder) -> verify -> emit_object
        (and emit_assembly when asked). LLVM is initialized lazily here, never at import.
        It prints its phases' wall and CPU seconds as one JSON line.

LLVM compiles a module on one thread: a large module is split (split.py) into one part per core,
compiled by as many children at once, and joined into model.o with `linker -r` (compile_object).

Linking uses the target's C toolchain (`[toolchain] linker`, e.g. aarch64-linux-gnu-gcc for
arm-sdot): model.so for every target; for cross targets also libmodel.a (`archiver`) and a static
runner program built from runtime/llvm/runner.c against it (build_runner). A missing tool, or a
cross gcc without its C library, is a QcompError naming the Debian packages of the target's toml.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ... import abi
from ...errors import QcompError
from ...resources import data_dir
from ...target import Target
from .cpucheck import runner_defines
from .split import split_module


def _child(request: dict) -> None:
    import llvmlite.binding as llvm
    clock = {"wall": time.perf_counter, "cpu": time.process_time}
    marks = [{k: f() for k, f in clock.items()}]
    llvm.initialize_all_targets()
    llvm.initialize_all_asmprinters()
    mod = llvm.parse_assembly(Path(request["ir"]).read_text())
    mod.verify()
    tm = llvm.Target.from_triple(request["triple"]).create_target_machine(
        cpu=request["cpu"], features=",".join(request["features"]), opt=3, reloc="pic", codemodel="default")
    mod.triple = request["triple"]
    mod.data_layout = str(tm.target_data)
    marks.append({k: f() for k, f in clock.items()})
    pto = llvm.create_pipeline_tuning_options(speed_level=3)
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(mod, pb)
    mod.verify()
    marks.append({k: f() for k, f in clock.items()})
    Path(request["object"]).write_bytes(tm.emit_object(mod))
    if request.get("assembly"):
        Path(request["assembly"]).write_text(tm.emit_assembly(mod))
    marks.append({k: f() for k, f in clock.items()})
    # the phases' seconds, for compile_object's caller (benchmarks/build_time.py)
    print(json.dumps({f"{phase}_{k}_s": marks[i + 1][k] - marks[i][k]
                      for i, phase in enumerate(("parse", "optimize", "codegen")) for k in clock}))


# A module of at least this many lines of IR is split (split.py) into one part per core, at most
# MAX_LLVM_JOBS, compiled in parallel processes: a part costs a process start and LLVM's setup
# (about 0.3 s), which small modules do not win back
SPLIT_MIN_LINES = 20_000
MAX_LLVM_JOBS = 4


def llvm_jobs() -> int:
    """The LLVM processes a large module is compiled in: the cores this process may run on."""
    return max(1, min(MAX_LLVM_JOBS, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                      else os.cpu_count() or 1))


def _start(request: dict) -> subprocess.Popen:
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[3])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    child = "import sys, json; from qcomp.codegen.llvm.compile import _child; _child(json.loads(sys.argv[1]))"
    return subprocess.Popen([sys.executable, "-c", child, json.dumps(request)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def _finish(proc: subprocess.Popen, target: Target) -> dict:
    """The child's phase timings; a QcompError naming the target when it failed."""
    out, err = proc.communicate()
    if proc.returncode != 0:
        how = f"killed by signal {-proc.returncode}" if proc.returncode < 0 else f"exit code {proc.returncode}"
        tail = "\n".join(err.strip().splitlines()[-8:])
        raise QcompError(f"target {target.name!r}: LLVM failed to compile the model ({how}) for triple "
                         f"{target.triple}, cpu {target.cpu}, features {','.join(target.features)}:\n{tail}")
    lines = out.strip().splitlines()
    return json.loads(lines[-1]) if lines else {}


def compile_object(ir_path: Path, obj_path: Path, target: Target, asm_path: Path | None = None,
                   jobs: int | None = None) -> dict:
    """model.ll -> model.o. A module of SPLIT_MIN_LINES lines or more (and no assembly listing
    asked for) is split into `jobs` parts (default llvm_jobs()), compiled at once in as many child
    processes and joined into model.o by a relocatable link (`linker -r`). Returns the timings:
    parts, and per phase (parse, optimize, codegen) wall seconds (the slowest part) and CPU
    seconds (all parts), the CPU seconds of the slowest part, and join_s."""
    request = {"triple": target.triple, "cpu": target.cpu, "features": list(target.features)}
    text = Path(ir_path).read_text()
    n = 1 if asm_path is not None or text.count("\n") < SPLIT_MIN_LINES else (jobs or llvm_jobs())
    if n <= 1:
        timings = _finish(_start({**request, "ir": str(ir_path), "object": str(obj_path),
                                  "assembly": str(asm_path) if asm_path else None}), target)
        return {"parts": 1, **timings, "join_s": 0.0,
                "slowest_part_cpu_s": sum(v for k, v in timings.items() if k.endswith("_cpu_s"))}
    with tempfile.TemporaryDirectory(prefix="qcomp-llvm-") as tmp:
        objects, procs = [], []
        for i, part in enumerate(split_module(text, n)):
            (Path(tmp) / f"part{i}.ll").write_text(part)
            objects.append(str(Path(tmp) / f"part{i}.o"))
            procs.append(_start({**request, "ir": str(Path(tmp) / f"part{i}.ll"), "object": objects[-1]}))
        try:
            results = [_finish(proc, target) for proc in procs]
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        t0 = time.perf_counter()
        linker = _tool(target, "linker", "gcc")
        proc = subprocess.run([linker, "-r", "-nostdlib", "-o", str(obj_path), *objects], capture_output=True, text=True)
        if proc.returncode != 0:
            raise _failed(target, f"joining the {len(objects)} LLVM objects into {Path(obj_path).name}", proc.stderr)
        # the functions split.py made hidden to call across parts become local symbols again, as in
        # the whole module's object: libmodel.a exports the qcomp.h ABI only, never `tile` or `node.3`
        objcopy = _objcopy(target)
        proc = subprocess.run([objcopy, "--localize-hidden", str(obj_path)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise _failed(target, f"localizing the hidden symbols of {Path(obj_path).name}", proc.stderr)
    timings = {"parts": len(results), "join_s": time.perf_counter() - t0}
    for key in results[0]:
        values = [r.get(key, 0.0) for r in results]
        timings[key] = max(values) if key.endswith("_wall_s") else sum(values)
    timings["slowest_part_cpu_s"] = max(sum(v for k, v in r.items() if k.endswith("_cpu_s")) for r in results)
    return timings


_BLOB_ASM = """\
        .section .rodata
        .balign {align}
        .globl {symbol}
        .hidden {symbol}
{symbol}:
        .incbin "{path}"
        .section .note.GNU-stack,"",%progbits
"""


# C sources of runtime/llvm/ compiled into every model.so (with the target's C compiler, -fPIC)
RUNTIME_SOURCES = ["cpu_check.c", "pool.c"]


def compile_runtime(target: Target, out_dir: Path, cpu_check: str | None) -> list[str]:
    """Object files of RUNTIME_SOURCES for `target`, written next to model.o."""
    cc = target.toolchain.get("linker", "gcc")
    objects = []
    for source in RUNTIME_SOURCES:
        obj = out_dir / (Path(source).stem + ".o")
        defines = [f"-DQCOMP_CPU_CHECK={cpu_check}"] if source == "cpu_check.c" and cpu_check else []
        proc = subprocess.run([cc, "-c", "-O2", "-fPIC", "-pthread", *defines, "-I", str(data_dir("runtime")),
                               "-o", str(obj), str(data_dir("runtime") / "llvm" / source)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise _failed(target, f"compiling runtime/llvm/{source}", proc.stderr)
        objects.append(str(obj))
    return objects


def _toolchain_hint(target: Target) -> str:
    pkgs = " ".join(target.toolchain.get("debian_packages", [])) or "gcc"
    return f"apt-get install {pkgs}"


def _tool(target: Target, key: str, default: str) -> str:
    """The toolchain program `key` of the target (the linker, the archiver), checked to exist."""
    tool = target.toolchain.get(key, default)
    if shutil.which(tool) is None:
        raise QcompError(f"target {target.name!r}: the {key} {tool!r} is missing ({_toolchain_hint(target)})")
    return tool


def _objcopy(target: Target) -> str:
    """The objcopy of the target's binutils: the archiver's name with `objcopy` for its final `ar`
    (aarch64-linux-gnu-ar -> aarch64-linux-gnu-objcopy; ar -> objcopy), checked to exist."""
    archiver = target.toolchain.get("archiver", "ar")
    tool = (archiver[:-2] if archiver.endswith("ar") else "") + "objcopy"
    if shutil.which(tool) is None:
        raise QcompError(f"target {target.name!r}: the objcopy {tool!r} is missing ({_toolchain_hint(target)})")
    return tool


def _failed(target: Target, what: str, stderr: str) -> QcompError:
    """A failed toolchain step; a cross gcc without its C library (crt*.o, libc, libm) names the
    packages that provide them."""
    hint = ""
    if "cannot find" in stderr or "No such file" in stderr:
        hint = f"\n(the target's C toolchain or its C library looks incomplete: {_toolchain_hint(target)})"
    return QcompError(f"target {target.name!r}: {what} failed: {stderr.strip()[-2000:]}{hint}")


def link_shared(obj_path: Path, so_path: Path, target: Target, blob: Path | None = None, symbol: str = "",
                cpu_check: str | None = None) -> list[str]:
    """`linker -shared -o model.so model.o [weights.o] <runtime objects> -lm -pthread`; weights.o holds
    the blob (.incbin); the runtime objects are RUNTIME_SOURCES (cpu_check.c gets the target's
    feature test as -DQCOMP_CPU_CHECK). Returns the object files linked (archive_static takes them)."""
    linker = _tool(target, "linker", "gcc")
    objects = [str(obj_path)]
    if blob is not None:
        asm = blob.with_suffix(".S")
        # .incbin names the blob relative to the artifact (assembled there): the .S stays valid when the
        # artifact directory moves (builds are staged in a temporary directory, then renamed)
        asm.write_text(_BLOB_ASM.format(symbol=symbol, path=blob.name, align=abi.WORKSPACE_ALIGN))
        proc = subprocess.run([linker, "-c", "-o", str(blob.with_suffix(".o").resolve()), str(asm.resolve())],
                              capture_output=True, text=True, cwd=blob.parent)
        if proc.returncode != 0:
            raise _failed(target, f"assembling {asm.name}", proc.stderr)
        objects.append(str(blob.with_suffix(".o")))
    objects += compile_runtime(target, obj_path.parent, cpu_check)
    proc = subprocess.run([linker, "-shared", "-o", str(so_path), *objects, "-lm", "-pthread"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise _failed(target, f"linking {so_path.name}", proc.stderr)
    return objects


def archive_static(objects: list[str], lib_path: Path, target: Target) -> None:
    """libmodel.a: the same objects as model.so (model, weights, runtime), for static linking into a
    device program with `cc app.c libmodel.a -lm -pthread`."""
    archiver = _tool(target, "archiver", "ar")
    lib_path.unlink(missing_ok=True)
    proc = subprocess.run([archiver, "rcs", str(lib_path), *objects], capture_output=True, text=True)
    if proc.returncode != 0:
        raise _failed(target, f"archiving {lib_path.name}", proc.stderr)


def build_runner(lib_path: Path, runner_path: Path, target: Target, defines: list[str]) -> None:
    """The stand-alone runner: runtime/llvm/runner.c linked statically with libmodel.a
    (`linker -O2 -static -pthread -o runner runner.c libmodel.a -lm`), so it runs on a device or
    under qemu-user without a sysroot. `defines` carry its CPU check (cpucheck.runner_defines)."""
    linker = _tool(target, "linker", "gcc")
    source = data_dir("runtime") / "llvm" / "runner.c"
    proc = subprocess.run([linker, "-O2", "-static", "-pthread", *defines, "-I", str(data_dir("runtime")),
                           "-o", str(runner_path), str(source), str(lib_path), "-lm"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise _failed(target, f"building the runner ({source.name} + {lib_path.name})", proc.stderr)


def cross_artifact(out: Path, objects: list[str], target: Target) -> dict:
    """The device side of a cross target's artifact, next to model.so: libmodel.a and the static
    runner (qcomp.runtime.llvm_cross runs it, under the target's [runner] command on other hosts).
    Returns the manifest's file entries."""
    archive_static(objects, out / "libmodel.a", target)
    build_runner(out / "libmodel.a", out / "runner", target, runner_defines(target))
    return {"static_library": "libmodel.a", "runner": "runner"}
