"""The markdown report of benchmarks/gpu_check.py: what every step found, from a Check object.

Sections, always all present (a step that did not run says so in its section):
  Steps, Environment, Bit-exact, Batch-1 latency, Per-kernel times (largest model), onnxruntime-gpu.
The per-kernel table joins the measured median of every launch with the H100 roofline bound of the
bundle's roofline.json (max(2 MACs / peak, bytes / bandwidth), qcomp/codegen/cuda/roofline.py), its
modelled occupancy and, when ncu ran, the achieved occupancy it measured; launches sorted by time.
"""
from __future__ import annotations

PER_KERNEL_ROWS = 20
STAND_IN = "STAND-IN mode: the stand-in driver runs the kernels on the CPU emulation; nothing here ran on a GPU"


def _table(headers: list[str], rows: list[str]) -> list[str]:
    return ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers), *[f"| {r} |" for r in rows]]


def _missing(check, prefix: str) -> str:
    failed = [s for s in check.steps if s["name"].startswith(prefix) and s["status"] != "OK"]
    if failed:
        return "; ".join(f"step **{s['name']}** {s['status']}: {s['detail'].splitlines()[0][:300]}" for s in failed)
    return "not run"


def _per_kernel(check) -> list[str]:
    kt = getattr(check, "kernel_times", None)
    if kt is None:
        return [_missing(check, "per-kernel")]
    ncu = getattr(check, "ncu", None)
    total = sum(kt["us"])
    order = sorted(range(len(kt["us"])), key=lambda i: -kt["us"][i])
    rows = []
    for i in order[:PER_KERNEL_ROWS]:
        r, us = kt["rows"][i], kt["us"][i]
        modelled = "-" if r["occupancy_modelled"] is None else f"{100 * r['occupancy_modelled']:.0f}%"
        achieved = "-"
        if ncu is not None and i < len(ncu):
            a = ncu[i].get("sm__warps_active.avg.pct_of_peak_sustained_active")
            achieved = f"{a:.0f}%" if isinstance(a, float) else str(a)
        rows.append(f"{i} | `{r['kernel'][:40]}` | {us:.1f} | {100 * us / total:.0f}% | {r['bound_us']:.2f} | "
                    f"{us / max(r['bound_us'], 1e-9):.0f}x | {r['limit']}, {r['engine']} | "
                    f"{'x'.join(map(str, r['grid']))} / {'x'.join(map(str, r['block']))} | {modelled} | {achieved}")
    bound = sum(r["bound_us"] for r in kt["rows"])
    lines = [f"Model **{kt['model']}** (sm_90 variant): {len(kt['us'])} launches, sum of medians {total:.1f} us, "
             f"roofline bound {bound:.2f} us (no launch overhead modelled). The {min(PER_KERNEL_ROWS, len(order))} "
             f"longest launches:", ""]
    lines += _table(["#", "kernel", "median us", "share", "bound us", "x bound", "limit", "grid / block",
                     "occupancy (model)", "achieved (ncu)"], rows)
    if ncu is None:
        lines += ["", "Achieved occupancy: " + _missing(check, "occupancy")]
    return lines


def render(check) -> str:
    meta = check.meta
    failed = check.failed
    verdict = "FAILED: " + ", ".join(failed) if failed else "every step OK"
    out = [f"# qcomp cuda backend on a GPU: gpu_check report ({verdict})", "",
           f"- started {check.started}; bundle `{check.bundle}` built {meta['created']} from qcomp "
           f"{meta['qcomp_commit']} with {meta['nvcc']}",
           "- " + (STAND_IN if check.stand_in else "GPU mode: CUDA driver API through cuda-bindings"),
           "", "## Steps", ""]
    out += _table(["step", "status", "seconds", "detail"],
                  [f"{s['name']} | **{s['status']}** | {s['seconds']:.1f} | "
                   f"{s['detail'].splitlines()[0][:400] if s['detail'] else ''}" for s in check.steps])
    details = [s for s in check.steps if s["status"] == "FAILED" and "\n" in s["detail"]]
    for s in details:
        out += ["", f"<details><summary>{s['name']}: error</summary>", "", "```", s["detail"][-3000:], "```",
                "</details>"]
    out += ["", "## Environment", ""] + check.sections.get("environment", [_missing(check, "environment")])
    out += ["", "## Bit-exact: cuda raw outputs vs the ref artifact's", ""]
    variants = {v: info["what"] for m in meta["models"] for v, info in m["variants"].items()}
    out += [f"- `{v}`: {what}" for v, what in variants.items()] + [""]
    if "bit-exact" in check.sections:
        out += _table(["model", "variant", "output", "bit-exact", "mismatching", "first mismatches (index: got / want)"],
                      check.sections["bit-exact"])
    failed_be = [s for s in check.steps if s["name"].startswith("bit-exact") and s["status"] != "OK"]
    if failed_be or "bit-exact" not in check.sections:
        out += ["", _missing(check, "bit-exact")]
    out += ["", "## Batch-1 latency (sm_90 variant)", "",
            f"CUDA events around the workspace memset and the launch sequence, after warm-up, median of "
            f"{check.repeats}; host round trip = wall clock of GpuRunner.run (inputs in, launches, synchronize, "
            f"outputs out). Roofline bound: the H100 bound of every launch, summed.", ""]
    if "latency" in check.sections:
        out += _table(["model", "launches", "median us", "p10 / p90 us", "host round trip us", "roofline bound us"],
                      check.sections["latency"])
    if any(s["name"].startswith("latency") and s["status"] != "OK" for s in check.steps) or "latency" not in check.sections:
        out += ["", _missing(check, "latency")]
    out += ["", "## Per-kernel times (largest model)", ""] + _per_kernel(check)
    out += ["", "## onnxruntime-gpu", ""]
    ort = next((s for s in check.steps if s["name"] == "onnxruntime-gpu"), None)
    out += [f"{ort['status']}: {ort['detail']}" if ort else "not run"]
    return "\n".join(out) + "\n"
