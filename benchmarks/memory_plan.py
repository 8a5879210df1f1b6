"""Workspace and activation bytes of the memory plan, before and after Reshape views, per backend.

    python benchmarks/memory_plan.py               bundled example + MobileNetV2 at 224, updates RESULTS.md
    python benchmarks/memory_plan.py --no-mobilenet --no-write

Both columns come from one run: each model is quantized once, lowered (lower_integer) and planned
twice by qcomp.passes.plan_memory, with `aliases=False` ("before": every Reshape, Flatten, Squeeze
and Unsqueeze is a copy kernel into its own workspace value, as qcomp planned until views existed)
and with the default ("after": a Reshape is a view of its input, no kernel). Each backend then
reports the manifest entries it would write for that plan:

  x86-vnni  qcomp.codegen.llvm.build_module (the LLVM module, not compiled): workspace_bytes =
            planned values + the kernels' scratch, activation_bytes
  cuda      qcomp.codegen.cuda.generate (the launch plan): workspace_bytes = planned values +
            kernel scratch, activation_bytes; the Reshape launches of the plan are counted
  dsp-c     qcomp.codegen.c.emit for dsp-c (generated and compiled with gcc): workspace_bytes = the
            static arena (QCOMP_MODEL_ARENA_BYTES: planned values + the conv patch scratch) and
            ram_bytes (arena + static data + the stack bound)

activation_bytes is the sum of the workspace values' sizes, what a plan without reuse by liveness
would need (graph inputs, outputs and constants are the caller's or the weights', never counted).
The script rewrites the `memory` section of benchmarks/RESULTS.md (between its markers).
"""
from __future__ import annotations

import argparse
import datetime
import importlib
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
for _p in (str(HERE), str(REPO)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from accuracy_lib.report import table, update_section  # noqa: E402
from qcomp.api import load_model  # noqa: E402
from qcomp.builder import BuildOptions, quantize_model  # noqa: E402
from qcomp.ir import Graph, ops, verify  # noqa: E402
from qcomp.ir.memory import lifetimes  # noqa: E402
from qcomp.passes.lower_integer import lower_integer  # noqa: E402
from qcomp.passes.plan_memory import plan_memory  # noqa: E402
from qcomp.target import get_target  # noqa: E402

EXAMPLE = REPO / "examples" / "fashion_mnist"
MOBILENET = dict(width=1.0, image=224, num_classes=1000)


def example() -> tuple[Graph, str]:
    q, _ = quantize_model(load_model(EXAMPLE / "model.onnx", {}), BuildOptions(calib=str(EXAMPLE / "calib.npz")))
    return q, "examples/fashion_mnist/model.onnx (calib.npz)"


def mobilenet(work: Path) -> tuple[Graph, str]:
    """tests/models/cnn_zoo.py's MobileNetV2 (seeded random weights), calibrated on 2 seeded N(0, 1) inputs
    (the sizes of the values do not depend on the calibration)."""
    import onnx
    models = REPO / "tests" / "models"
    spec = importlib.util.spec_from_file_location("qcomp_bench_models", models / "__init__.py",
                                                  submodule_search_locations=[str(models)])
    sys.modules["qcomp_bench_models"] = module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    zoo = importlib.import_module("qcomp_bench_models.cnn_zoo")
    path = work / "mobilenet_v2.onnx"
    onnx.save(zoo.mobilenet_v2(**MOBILENET), path)
    image = MOBILENET["image"]
    np.save(work / "calib.npy", np.random.default_rng(0).normal(0, 1, (2, 3, image, image)).astype(np.float32))
    q, _ = quantize_model(load_model(path, {}), BuildOptions(calib=str(work / "calib.npy")))
    return q, f"tests/models/cnn_zoo.py mobilenet_v2(width={MOBILENET['width']}, image={image})"


def x86(graph: Graph, work: Path) -> dict:
    from qcomp.codegen.llvm import build_module
    mod, entries = build_module(graph, get_target("x86-vnni"))
    kernels = sum(f.name.startswith("node.") for f in mod.m.functions)
    return {**entries, "kernels": kernels}


def cuda(graph: Graph, work: Path) -> dict:
    from qcomp.codegen.cuda import generate
    ctx = generate(graph, get_target("cuda"))
    return {"workspace_bytes": ctx.workspace_bytes, "activation_bytes": ctx.plan.activation_bytes,
            "kernels": len(ctx.launches)}


def dsp_c(graph: Graph, work: Path) -> dict:
    from qcomp.codegen.c import emit
    out = Path(tempfile.mkdtemp(dir=work))
    m = emit(graph, get_target("dsp-c"), out)
    calls = sum(line.lstrip().startswith("qcomp_") and line.rstrip().endswith(";")
                for line in (out / "model.c").read_text().split("qcomp_run_mode", 1)[1].splitlines())
    return {"workspace_bytes": m["workspace_bytes"], "activation_bytes": m["activation_bytes"],
            "ram_bytes": m["ram_bytes"], "kernels": calls}


BACKENDS = {"x86-vnni": x86, "cuda": cuda, "dsp-c": dsp_c}


def peak(g: Graph) -> str:
    """The step where the workspace values alive together are largest, and those values: what
    bounds workspace_bytes (views shrink it only where a Reshape's copy was alive at that step)."""
    live = lifetimes(g, g.memory.aliases)
    steps = range(len(g.nodes))
    at = max(steps, key=lambda s: sum(g.memory.sizes[v] for v, (a, b) in live.items() if a <= s <= b))
    alive = sorted((v for v, (a, b) in live.items() if a <= at <= b), key=lambda v: -g.memory.sizes[v])
    return (f"peak at step {at} (node `{g.nodes[at].name}`): "
            + ", ".join(f"`{v}` {g.memory.sizes[v]:,} B" for v in alive))


def measure(name: str, q: Graph, work: Path) -> tuple[list[list[str]], list[str]]:
    lowered = verify(lower_integer(q))
    before, after = verify(plan_memory(lowered, aliases=False)), verify(plan_memory(lowered))
    reshapes = sum(isinstance(n.op, ops.Reshape) for n in lowered.nodes)
    views = sum(after.memory.is_view(n) for n in after.nodes)
    notes = [f"- `{name}` before: {peak(before)}", f"- `{name}` after: {peak(after)}"]
    rows = []
    for target, fn in BACKENDS.items():
        b, a = fn(before, work), fn(after, work)
        row = [name, target, f"{reshapes} / {views}"]
        for key in ("workspace_bytes", "activation_bytes", "ram_bytes"):
            row.append(f"{b[key]:,} -> {a[key]:,} ({a[key] - b[key]:+,})" if key in b else "-")
        row.append(f"{b['kernels']} -> {a['kernels']}")
        rows.append(row)
        print(" | ".join(row), flush=True)
    return rows, notes


def _commit() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "qcomp"], cwd=REPO, capture_output=True,
                               text=True, check=True).stdout.strip()
        return rev + (" with uncommitted changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-mobilenet", action="store_true", help="only the bundled example")
    ap.add_argument("--no-write", action="store_true", help="print, do not update benchmarks/RESULTS.md")
    args = ap.parse_args(argv)
    start = time.time()
    rows, sources, notes = [], [], []
    with tempfile.TemporaryDirectory(prefix="qcomp-memory-") as tmp:
        work = Path(tmp)
        models = [("fashion_mnist", example)]
        if not args.no_mobilenet:
            models.append(("mobilenet_v2 224", lambda: mobilenet(work)))
        for name, build in models:
            q, source = build()
            sources.append(f"- `{name}`: {source}")
            r, n = measure(name, q, work)
            rows, notes = rows + r, notes + n
    headers = ["model", "target", "Reshapes / views", "workspace_bytes before -> after",
               "activation_bytes before -> after", "dsp-c ram_bytes before -> after", "kernels before -> after"]
    minutes = (time.time() - start) / 60
    body = "\n".join([
        "## Memory plan: workspace and activation bytes before and after Reshape views",
        "",
        f"Written by `python benchmarks/memory_plan.py` ({minutes:.1f} min). Measured "
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; qcomp {_commit()}.",
        "",
        "One quantization per model, lowered once and planned twice by `qcomp.passes.plan_memory`: "
        "\"before\" with `aliases=False` (every Reshape / Flatten / Squeeze / Unsqueeze a copy kernel into its own "
        "workspace value), \"after\" with Reshape views (no kernel; the output shares its input's bytes). "
        "The figures are the manifest entries each backend writes for that plan: `workspace_bytes` (planned values "
        "+ kernel scratch; dsp-c: the static arena), `activation_bytes` (sum of the workspace values, no reuse by "
        "liveness), dsp-c `ram_bytes` (arena + static data + stack bound); kernels = llvm node functions, cuda "
        "launches, C kernel calls.",
        "",
        *sources,
        "",
        *table(headers, rows),
        "",
        "Where the workspace peaks (the planned values alive together at the largest step; a view lowers "
        "workspace_bytes only where a Reshape's copy was alive at that step):",
        "",
        *notes,
    ])
    print(body)
    if not args.no_write:
        print(f"updated {update_section(HERE / 'RESULTS.md', 'memory', body)}")


if __name__ == "__main__":
    main()
