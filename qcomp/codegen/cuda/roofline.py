"""Roofline figures of a cuda artifact's launch plan (a model, not a measurement: no GPU here).

For every launch the plan records macs (int8 multiply-accumulates) and dram_bytes (its node's
operands and results, each moved once). On a GPU with peak P int8 ops/s (2 per MAC) and memory
bandwidth B bytes/s, a launch takes at least

    t >= max(2 * macs / P, dram_bytes / B)      arithmetic intensity I = 2 * macs / dram_bytes

and is memory-bound when I < P / B (the ridge point). Peaks are the published dense int8
tensor-core figures (the sm_80+ path of the GEMM kernels); small layers sit far left of the ridge,
so the figure that matters for them is bandwidth (and launch latency, which this model ignores).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Gpu:
    name: str
    int8_ops_per_s: float     # dense int8 tensor-core peak (ops = 2 x MACs)
    bytes_per_s: float        # DRAM bandwidth


GPUS = (Gpu("A100-SXM4-40GB (sm_80)", 624e12, 1555e9), Gpu("H100-SXM5 (sm_90)", 1979e12, 3350e9))


@dataclass(frozen=True)
class Row:
    kernel: str
    macs: int
    dram_bytes: int
    intensity: float          # int8 ops per DRAM byte
    bound_us: float           # lower bound on the launch's time, microseconds
    limit: str                # "memory" or "compute"


def roofline(launches: list[dict], gpu: Gpu) -> list[Row]:
    rows = []
    for launch in launches:
        ops, nbytes = 2 * launch["macs"], launch["dram_bytes"]
        t_compute, t_memory = ops / gpu.int8_ops_per_s, nbytes / gpu.bytes_per_s
        rows.append(Row(launch["kernel"], launch["macs"], nbytes, ops / max(nbytes, 1),
                        1e6 * max(t_compute, t_memory), "compute" if t_compute > t_memory else "memory"))
    return rows


def format_table(launches: list[dict], gpu: Gpu) -> str:
    rows = roofline(launches, gpu)
    ridge = gpu.int8_ops_per_s / gpu.bytes_per_s
    lines = [f"{gpu.name}: peak {gpu.int8_ops_per_s / 1e12:.0f} int8 TOPS, {gpu.bytes_per_s / 1e9:.0f} GB/s, "
             f"ridge at {ridge:.0f} ops/byte",
             f"{'kernel':48} {'MACs':>12} {'bytes':>10} {'ops/byte':>9} {'bound us':>9}  limit"]
    for r in rows:
        lines.append(f"{r.kernel[:48]:48} {r.macs:12,} {r.dram_bytes:10,} {r.intensity:9.1f} {r.bound_us:9.3f}  {r.limit}")
    total = sum(r.bound_us for r in rows)
    lines.append(f"{'total (no launch overhead)':48} {sum(r.macs for r in rows):12,} "
                 f"{sum(r.dram_bytes for r in rows):10,} {'':9} {total:9.3f}")
    return "\n".join(lines)
