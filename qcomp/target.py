"""Targets as data: `targets/*.toml` parsed into a frozen `Target`.

Backends branch on Target fields (backend, triple, cpu, features, dot instruction), never on the
target's name. `host_support` says whether this host can build and run a target, and why not.
"""
from __future__ import annotations

import importlib.util
import platform
import shutil
import tomllib
from dataclasses import dataclass, field

from .errors import QcompError
from .protocol import BACKENDS
from .resources import data_dir


@dataclass(frozen=True)
class DotInstruction:
    instruction: str
    activation: str   # "u8" or "s8"
    weight: str
    lanes: int
    depth: int
    registers: int = 0    # vector registers the kernels may plan for (0: the instruction's ISA default)


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    backend: str                    # "ref", "llvm", "c", "cuda"
    kind: str                       # "interpreter", "native", "cross", "gpu"
    triple: str = ""
    cpu: str = ""
    features: tuple[str, ...] = ()
    host_features: tuple[str, ...] = ()
    host_arch: str = ""
    vector_bits: int = 0
    dot: DotInstruction | None = None
    toolchain: dict = field(default_factory=dict, hash=False, compare=False)
    runner: dict = field(default_factory=dict, hash=False, compare=False)
    architectures: tuple[str, ...] = ()
    ptx: str = ""
    native_rank: int = 0            # --target native picks the runnable CPU target of highest rank (0: never)

    @staticmethod
    def from_toml(text: str, source: str = "<toml>") -> "Target":
        try:
            d = tomllib.loads(text)
            dot = d.pop("dot", None)
            t = Target(
                name=d.pop("name"), description=d.pop("description", ""), backend=d.pop("backend"),
                kind=d.pop("kind"), triple=d.pop("triple", ""), cpu=d.pop("cpu", ""),
                features=tuple(d.pop("features", ())), host_features=tuple(d.pop("host_features", ())),
                host_arch=d.pop("host_arch", ""), vector_bits=int(d.pop("vector_bits", 0)),
                dot=DotInstruction(**dot) if dot else None, toolchain=d.pop("toolchain", {}),
                runner=d.pop("runner", {}), architectures=tuple(d.pop("architectures", ())),
                ptx=d.pop("ptx", ""), native_rank=int(d.pop("native_rank", 0)),
            )
        except (KeyError, TypeError, tomllib.TOMLDecodeError) as e:
            raise QcompError(f"target description {source} is invalid: {e}") from None
        if d:
            raise QcompError(f"target description {source} has unknown keys: {sorted(d)}")
        return t


def all_targets() -> dict[str, Target]:
    out = {}
    for path in sorted(data_dir("targets").glob("*.toml")):
        t = Target.from_toml(path.read_text(), str(path))
        out[t.name] = t
    return out


NATIVE = "native"


def get_target(name: str) -> Target:
    """The target called `name`; "native" is this host's best CPU target (native_choice)."""
    if name == NATIVE:
        return native_choice()[0]
    targets = all_targets()
    if name not in targets:
        raise QcompError(f"unknown target {name!r}; choose one of: {', '.join(sorted(targets))}, or "
                         f"{NATIVE} (`qcomp targets` shows which this host can build and run)")
    return targets[name]


def native_choice(flags: set[str] | None = None, machine: str | None = None) -> tuple[Target, str]:
    """(the best CPU target this host can build and run natively, one line saying why).

    The candidates are the targets with a native_rank (targets/*.toml) whose host_arch is this
    machine's; the first of them, by rank, whose host_features this CPU reports (/proc/cpuinfo)
    and whose toolchain is installed wins. The line names the features that decided and what
    each better-ranked target lacked."""
    flags = host_cpu_flags() if flags is None else flags
    machine = platform.machine() if machine is None else machine
    ranked = sorted((t for t in all_targets().values() if t.native_rank > 0 and t.host_arch == machine),
                    key=lambda t: -t.native_rank)
    passed = []
    for t in ranked:
        missing = [f for f in t.host_features if f not in flags]
        tools = [tool for tool in _tools(t, machine) if shutil.which(tool) is None]
        if not missing and not tools:
            why = f"this {machine} CPU reports {', '.join(t.host_features)}" if t.host_features else f"a {machine} CPU"
            if passed:
                why += "; " + "; ".join(passed)
            return t, f"{t.name} ({why})"
        lack = f"lacks {', '.join(missing)}" if missing else f"needs {', '.join(tools)} (not installed)"
        passed.append(f"not {t.name}: {'this CPU ' if missing else ''}{lack}")
    if not ranked:
        raise QcompError(f"--target native: qcomp has no CPU target for a {machine} host; "
                         f"use --target ref (the integer reference) or a cross target (`qcomp targets`)")
    raise QcompError(f"--target native: no CPU target of qcomp runs on this {machine} host ("
                     + "; ".join(passed) + "); use --target ref or `qcomp targets` to see why each is refused")


@dataclass(frozen=True)
class HostSupport:
    can_build: bool
    can_run: bool
    why: str


def host_cpu_flags() -> set[str]:
    """CPU feature flags of this host as /proc/cpuinfo names them (Linux)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def host_support(t: Target) -> HostSupport:
    """Whether this host can build and run artifacts of target t, with the reason when not."""
    module = BACKENDS.get(t.backend)
    if module is None or not _module_exists(module):
        return HostSupport(False, False, f"the {t.backend} backend is not part of this qcomp version yet")
    missing_tools = [tool for tool in _tools(t) if shutil.which(tool) is None]
    if missing_tools:
        pkgs = t.toolchain.get("debian_packages", []) + t.runner.get("debian_packages", [])
        hint = f" (apt-get install {' '.join(pkgs)})" if pkgs else ""
        return HostSupport(False, False, f"missing {', '.join(missing_tools)}{hint}")
    if t.kind == "gpu":
        # qcomp.runtime.<backend>.gpu_unavailable() -> None when this host has a usable GPU, else why not
        probe = getattr(importlib.import_module(f"qcomp.runtime.{t.backend}"), "gpu_unavailable", None)
        why = probe() if probe is not None else "no GPU on this host (run with --emulate)"
        if why:
            return HostSupport(True, False, why)
    if t.host_arch and t.host_arch != platform.machine() and t.kind == "native":
        return HostSupport(True, False, f"artifacts need a {t.host_arch} CPU")
    missing = [f for f in t.host_features if f not in host_cpu_flags()]
    if missing and t.kind == "native":
        return HostSupport(True, False, f"this CPU lacks {', '.join(missing)}")
    return HostSupport(True, True, "")


def _module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


def _tools(t: Target, machine: str | None = None) -> list[str]:
    machine = platform.machine() if machine is None else machine
    tools = [t.toolchain[k] for k in ("linker", "compiler") if k in t.toolchain]
    if t.runner.get("command") and not (t.host_arch and t.host_arch == machine):
        tools.append(t.runner["command"][0])  # a cross artifact runs natively on its own architecture
    return tools
