"""Compiling the generated C: the command line (from the target's [toolchain] table), flash and RAM.

  host (kind "native"):  CC CFLAGS WARNINGS -o runner SOURCES -lm
  cross (Cortex-M):      the same with the startup file and linker script of runtime/dsp/ and
                         --specs=rdimon.specs -nostartfiles (semihosting file I/O for the runner)

Every build is warning-free under WARNINGS (-Werror). Flash bytes are text + rodata + data of the
model's objects (`size`; weights included, the runner and libc not); RAM bytes are the arena, data
+ bss of the model, and the stack bound.

Stack bound: gcc's call graph with frame sizes (-fcallgraph-info=su) of the model's objects. Every
frame must be static or bounded (no VLA, no alloca) and the graph acyclic (no recursion; a cycle fails the
build); the bound is the heaviest call chain from any function of the model,

    stack(f) = frame(f) + max over callees g of stack(g)

where a callee outside the model (memcpy, memset, rintf, libgcc's 64-bit division and soft-float
helpers: leaf routines) counts LIBRARY_FRAME_BYTES, an allowance rather than a measurement. The
Cortex-M4 runner measures the real peak by painting the stack (tests/backends/c/test_c_stack_and_warnings.py
checks peak <= bound). A compiler without -fcallgraph-info (clang) gets the sum of the
STACK_CHAIN largest frames (-fstack-usage) + LIBRARY_FRAME_BYTES instead, an estimate.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ...errors import QcompError
from ...resources import data_dir
from ...target import Target

WARNINGS = ("-std=c99", "-Wall", "-Wextra", "-Wpedantic", "-Werror")
MODEL_SOURCES = ("model.c", "weights.c", "qcomp_kernels.c", "qcomp_kernels_conv.c", "qcomp_kernels_elem.c")
MODEL_SOURCES += ("qcomp_kernels_norm.c",)   # integer LayerNorm
MODEL_SOURCES += ("qcomp_kernels_rows.c",)   # integer Softmax, TopK
MODEL_SOURCES += ("qcomp_kernels_index.c",)   # run-time Gather indices, IntLut
SOURCES16 = ("qcomp_kernels16.c",)   # the A16W8 kernels: compiled (and counted in flash) for int16 models only
SOURCES16 += ("qcomp_softmax16.c",)   # int16 Softmax
SOURCES16 += ("qcomp_boundary16.c",)   # float <-> int16 graph inputs and outputs
STACK_CHAIN = 5   # fallback estimate: run_mode -> kernel -> add_int8 -> requantize -> mbqm
LIBRARY_FRAME_BYTES = 128


@dataclass(frozen=True)
class Build:
    program: str               # file name in the artifact
    compiler: str
    cflags: tuple[str, ...]
    ldflags: tuple[str, ...]
    sources: tuple[str, ...]
    support_files: tuple[Path, ...]   # copied next to the sources (startup, linker script)
    model_sources: tuple[str, ...] = MODEL_SOURCES   # the model's objects (flash, stack bound)


def build_for(target: Target, plain: bool = False, int16: bool = False) -> Build:
    """The target's build; plain=True adds -DQCOMP_PLAIN (the plain reference kernels); int16=True adds the
    A16W8 kernels (SOURCES16)."""
    tc = target.toolchain
    compiler = tc.get("compiler", "cc")
    cflags = (*tc.get("cflags", ("-O2",)), *(("-DQCOMP_PLAIN",) if plain else ()))
    support: tuple[Path, ...] = ()
    model_sources = (*MODEL_SOURCES, *(SOURCES16 if int16 else ()))
    sources = (*model_sources, "runner.c")
    ldflags: tuple[str, ...] = tuple(tc.get("ldflags", ()))
    if target.kind == "cross":
        runtime = data_dir("runtime")
        support = tuple(runtime / p for p in tc.get("support_files", ()))
        sources = (*sources, *(p.name for p in support if p.suffix == ".c"))
        ldflags = (*ldflags, *(f"-T{p.name}" for p in support if p.suffix == ".ld"))
    return Build("model.elf" if target.kind == "cross" else "runner", compiler, cflags, (*ldflags, "-lm"),
                 sources, support, model_sources)


def _run(cmd: list[str], cwd: Path, what: str) -> str:
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)
    except FileNotFoundError:
        raise QcompError(f"{what}: {cmd[0]!r} is not installed (see `qcomp targets` for the package to "
                         f"install)") from None
    if proc.returncode != 0:
        raise QcompError(f"{what} failed ({' '.join(cmd)}):\n{proc.stderr.strip()[:4000]}")
    return proc.stdout


def compile_program(b: Build, out: Path) -> None:
    """Model sources to objects first (their sizes and stack frames are the model's), then the runner."""
    for f in b.support_files:
        shutil.copyfile(f, out / f.name)
    what = f"compiling the generated C with {b.compiler}"
    try:
        _run([b.compiler, *b.cflags, *WARNINGS, "-fstack-usage", "-fcallgraph-info=su", "-c", *b.model_sources],
             out, what)
    except QcompError as e:
        if "callgraph-info" not in str(e):
            raise
        _run([b.compiler, *b.cflags, *WARNINGS, "-fstack-usage", "-c", *b.model_sources], out, what)
    objects = [f"{Path(s).stem}.o" for s in b.model_sources]
    others = [s for s in b.sources if s not in b.model_sources]
    _run([b.compiler, *b.cflags, *WARNINGS, "-o", b.program, *others, *objects, *b.ldflags], out, what)


def _size_tool(compiler: str) -> str:
    prefix = compiler[: -len("gcc")] if compiler.endswith("gcc") else ""
    return f"{prefix}size" if shutil.which(f"{prefix}size") else "size"


def sizes(b: Build, out: Path, arena: int) -> dict[str, int]:
    """flash_bytes (text + rodata + data of the model's objects), ram_bytes (arena + data + bss of the
    model + stack estimate) and stack_bytes; the runner and libc are not counted."""
    objects = [f"{Path(s).stem}.o" for s in b.model_sources]
    text = _run([_size_tool(b.compiler), "-A", "-d", *objects], out, "measuring the model")
    flash = static_ram = 0
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1].isdigit():
            if parts[0].startswith((".text", ".rodata", ".data")):
                flash += int(parts[1])
            if parts[0].startswith((".data", ".bss")):
                static_ram += int(parts[1])
    frames = []
    for su in out.glob("*.su"):
        for line in su.read_text().splitlines():
            m = re.search(r"\t(\d+)\t", line)
            if m:
                frames.append(int(m.group(1)))
        su.unlink()
    graphs = sorted(out.glob("*.ci"))
    if graphs:
        stack, method = stack_bound([ci.read_text() for ci in graphs]), "call graph"
    else:
        stack = sum(sorted(frames, reverse=True)[:STACK_CHAIN]) + LIBRARY_FRAME_BYTES
        method = f"estimate: {STACK_CHAIN} largest frames"
    for f in [*graphs, *(out / o for o in objects)]:
        f.unlink()
    return {"flash_bytes": flash, "ram_bytes": arena + static_ram + stack, "stack_bytes": stack,
            "stack_method": method}


_NODE = re.compile(r'node: \{ title: "([^"]+)" label: "([^"]*)"')
_EDGE = re.compile(r'edge: \{ sourcename: "([^"]+)" targetname: "([^"]+)"')
_FRAME = re.compile(r"\\n(\d+) bytes \(([a-z,]+)\)")


def stack_bound(callgraphs: list[str]) -> int:
    """The heaviest call chain (bytes) of gcc -fcallgraph-info=su graphs; QcompError on a dynamic
    frame or a cycle (recursion)."""
    frames: dict[str, int] = {}   # by title: `file.c:name` for a static function, else `name`
    edges: dict[str, set[str]] = {}
    for text in callgraphs:
        for title, label in _NODE.findall(text):
            m = _FRAME.search(label)
            if m is None:
                continue   # declared only: defined in another object, or a library routine
            if m.group(2) not in ("static", "dynamic,bounded"):   # bounded: the figure is the bound
                raise QcompError(f"the generated C has a {m.group(2)} stack frame in {title}: its stack use is "
                                 f"not bounded (a qcomp bug: report it)")
            frames[title] = int(m.group(1))
        for src, dst in _EDGE.findall(text):
            edges.setdefault(src, set()).add(dst)
    memo: dict[str, int] = {}
    active: set[str] = set()

    def depth(f: str) -> int:
        if f in memo:
            return memo[f]
        if f in active:
            raise QcompError(f"the generated C is recursive through {f} (a qcomp bug: report it)")
        if f not in frames:
            return LIBRARY_FRAME_BYTES
        active.add(f)
        memo[f] = frames[f] + max((depth(g) for g in edges.get(f, ())), default=0)
        active.discard(f)
        return memo[f]

    return max((depth(f) for f in frames), default=0)
