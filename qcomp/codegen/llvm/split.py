"""Split one LLVM module's text into parts that compile in parallel processes and link as one.

LLVM optimizes and compiles a module on one thread; a model's module is a few hundred mostly
independent functions (one per node, its jobs, its micro-kernels). split_module(text, n) cuts it
into n modules whose objects, linked together (`ld -r`), define the same symbols with the same
code as the whole module's object, up to what inlining across the cut would have done:

  units     every function definition, except the always-inline fixed-point helpers (copied into
            every part, internal) and the exported functions (the qcomp.h ABI: all in part 0);
            a function referenced by exactly one other definition stays with it (union-find), so
            what LLVM inlined before (a node's jobs, a micro-kernel only one node calls) is still
            in one module and still inlined
  balance   units by size (lines of IR), largest first, each to the lightest part (deterministic:
            ties by name)
  copies    a function that no exported function, helper or global refers to (a shared GEMM
            micro-kernel, its out-of-line requantize, a shared depthwise row kernel) is copied,
            internal, into every other part whose functions call it: each caller keeps what LLVM's
            inliner and interprocedural passes do with it in one module (calling the shared
            kernels across parts cost MobileNetV2 4 % run time at 1 thread, per-node A/B against
            the unsplit module: its 1x1 convolutions 5-13 %), for some compile time
  linkage   any other function defined in one part and referenced from another (a node's function,
            called by the exported run function) becomes `hidden` (an
            ELF symbol of the object, not exported by model.so) instead of `internal`, and the
            other part gets a `declare hidden` of it; every other function keeps its linkage
  globals   constants are copied into every part (internal: each part keeps those it uses, LLVM
            drops the rest); a mutable global (`global`, e.g. the profiler's buffer pointer) is
            defined once, in part 0 (hidden), and declared `external hidden` in the others, so
            every part reads the same variable

The text is the one llvmlite's ir.Module prints: top-level entities start at column 0, a
definition's header line is followed by `{` and ends at a `}` line.
"""
from __future__ import annotations

import re

# a function is copied into the other parts that call it up to this size (lines of IR): what LLVM's
# inliner would take in one module; larger kernels (a depthwise row kernel) stay a call across parts
COPY_MAX_LINES = 400
_NAME = re.compile(r'@"((?:[^"\\]|\\.)*)"')


def _entities(text: str):
    """(header lines, [(kind, name, lines)]) with kind in define, declare, global, other."""
    lines = text.splitlines()
    header, items, i = [], [], 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("define "):
            j = lines.index("}", i)
            items.append(("define", _NAME.search(line).group(1), lines[i:j + 1]))
            i = j + 1
            continue
        if line.startswith("declare "):
            items.append(("declare", _NAME.search(line).group(1), [line]))
        elif line.startswith("@"):
            items.append(("global", _NAME.match(line).group(1), [line]))
        elif line.startswith(("; ModuleID", "target ", "source_filename")):
            header.append(line)
        elif line.strip():
            items.append(("other", "", [line]))
        i += 1
    return header, items


def _refs(lines: list[str], own: str) -> set[str]:
    return {m.group(1) for line in lines for m in _NAME.finditer(line)} - {own}


def _type_after(text: str) -> str:
    """The LLVM type at the start of `text` (a token, or a bracketed [..], {..}, <..> type)."""
    pairs = {"[": "]", "{": "}", "<": ">"}
    if text[0] not in pairs:
        return text.split()[0].rstrip(",")
    depth = 0
    for i, ch in enumerate(text):
        if ch in pairs:
            depth += 1
        elif ch in pairs.values():
            depth -= 1
            if depth == 0:
                return text[:i + 1]
    raise ValueError(f"split_module: unbalanced type in {text[:80]!r}")


def _mutable(line: str) -> tuple[str, str] | None:
    """(the definition in part 0, the declaration elsewhere) of a mutable global's line, or None."""
    m = re.match(r'(@"(?:[^"\\]|\\.)*") = (?:internal |private )?((?:\w+ )*?)global (.*)$', line)
    if m is None or "external" in m.group(2):
        return None
    name, attrs, rest = m.groups()
    return f"{name} = hidden {attrs}global {rest}", f"{name} = external hidden global {_type_after(rest)}"


def _declaration(header: str) -> str:
    """`define [internal] T @f(args) attrs` -> `declare hidden T @f(args) attrs`."""
    rest = header[len("define "):]
    for linkage in ("internal ", "private "):
        if rest.startswith(linkage):
            rest = rest[len(linkage):]
    return "declare hidden " + rest.rstrip(" {")


def _hidden(header: str) -> str:
    for linkage in ("define internal ", "define private "):
        if header.startswith(linkage):
            return "define hidden " + header[len(linkage):]
    return header


def split_module(text: str, parts: int) -> list[str]:
    """`text` (one module) as `parts` module texts (fewer when it has fewer units); see the module
    docstring. parts <= 1: [text]."""
    if parts <= 1:
        return [text]
    header, items = _entities(text)
    defines = {name: lines for kind, name, lines in items if kind == "define"}
    helpers = {n for n, lines in defines.items() if "alwaysinline" in lines[0]}
    roots = {n for n, lines in defines.items()
             if n not in helpers and not lines[0].startswith(("define internal ", "define private "))}
    refs = {n: _refs(lines, n) & defines.keys() for n, lines in defines.items()}
    global_refs = {r for kind, name, lines in items if kind == "global" for r in _refs(lines, name)} & defines.keys()
    callers: dict[str, set[str]] = {n: set() for n in defines}
    for n, rs in refs.items():
        for r in rs:
            callers[r].add(n)

    parent = {n: n for n in defines}

    def find(n):
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n
    movable = [n for n in defines if n not in helpers and n not in roots]
    for n in movable:   # a function with one referrer stays with it
        if len(callers[n]) == 1 and n not in global_refs:
            (c,) = callers[n]
            if c not in helpers and c not in roots:
                parent[find(n)] = find(c)
    units: dict[str, list[str]] = {}
    for n in movable:
        units.setdefault(find(n), []).append(n)
    if not units:
        return [text]
    parts = min(parts, len(units) + (1 if roots else 0))
    load = [0] * parts
    owner = {n: 0 for n in roots}
    load[0] = sum(len(defines[n]) for n in roots)
    for members in sorted(units.values(), key=lambda ms: (-sum(len(defines[m]) for m in ms), min(ms))):
        p = min(range(parts), key=lambda q: (load[q], q))
        load[p] += sum(len(defines[m]) for m in members)
        owner.update((m, p) for m in members)
    pinned = set(global_refs) | {r for n in roots | helpers for r in refs[n]}
    copyable = {n for n in defines if n not in helpers and n not in roots and n not in pinned
                and len(defines[n]) <= COPY_MAX_LINES}
    copies: list[set[str]] = [set() for _ in range(parts)]
    for p in range(parts):   # the copyable functions part p's own functions reach in other parts
        todo = [n for n in defines if n not in helpers and owner[n] == p]
        while todo:
            for r in refs[todo.pop()] - helpers:
                if r in copyable and owner[r] != p and r not in copies[p]:
                    copies[p].add(r)
                    todo.append(r)
    crossing = set(global_refs - helpers)
    for n, rs in refs.items():
        for r in rs - helpers:
            if n in helpers or (owner[n] != owner[r] and r not in copyable):
                crossing.add(r)

    out = []
    for p in range(parts):
        body: list[str] = []
        used = set()
        for kind, name, lines in items:
            if kind == "define":
                if name in helpers:
                    body += lines
                    used |= refs[name]
                elif owner[name] == p:
                    body += [_hidden(lines[0]) if name in crossing else lines[0], *lines[1:]]
                    used |= refs[name]
                elif name in copies[p]:
                    body += lines
                    used |= refs[name]
            elif kind == "global":
                mutable = _mutable(lines[0])
                body.append(lines[0] if mutable is None else mutable[0] if p == 0 else mutable[1])
                used |= _refs(lines, name) & defines.keys()
            else:
                body += lines
            body.append("")
        for name in sorted(used - helpers):
            if owner[name] != p and name not in copies[p]:
                body += [_declaration(defines[name][0]), ""]
        out.append("\n".join(header + [""] + body) + "\n")
    return out
