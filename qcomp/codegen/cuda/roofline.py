"""Roofline and occupancy figures of a cuda artifact's launch plan (a model, not a measurement: no GPU here).

For every launch the plan records macs (int8 multiply-accumulates), dram_bytes (its node's operands and
results, each moved once) and tensor_cores (mma.sync inner product). On a GPU with compute peak P ops/s
(2 ops per MAC: the dense int8 tensor-core peak for tensor-core kernels, the CUDA cores' INT32 IMAD peak
for the others) and memory bandwidth B bytes/s, a launch takes at least

    t >= max(2 * macs / P, dram_bytes / B)      arithmetic intensity I = 2 * macs / dram_bytes

and is memory-bound when I < P / B (the ridge point). Launch latency is not modelled.

Occupancy (the CUDA occupancy calculator's rules, per SM): a block of W warps using R registers per thread
(ptxas -v) and S bytes of static shared memory fits

    blocks/SM = min(max_blocks, max_warps // W, regs_per_sm // (W * ceil(32 R / 256) * 256),
                    shared_per_sm // (S + reserved_shared_per_block))        (S = 0: no shared-memory limit)

theoretical occupancy = blocks/SM * W / max_warps. The launch plan's grid decides how much of that the
launch achieves: with G blocks on `sms` SMs, the waves are ceil(G / (sms * blocks/SM)) and the average
occupancy over them is theoretical * G / (waves * sms * blocks/SM) (a grid smaller than one wave leaves
SMs idle). The peaks and limits below are NVIDIA's published figures, with their sources.
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Gpu:
    name: str
    int8_ops_per_s: float          # dense int8 tensor-core peak (ops = 2 x MACs)
    bytes_per_s: float             # DRAM bandwidth
    int32_ops_per_s: float = 0.0   # CUDA-core INT32 peak (an IMAD = 2 ops); 0: use int8_ops_per_s
    arch: str = ""                 # the fatbin's SASS this GPU runs (ptxas -v usage is taken from it)
    sms: int = 0
    max_warps_per_sm: int = 64
    max_blocks_per_sm: int = 32
    regs_per_sm: int = 65536
    shared_per_sm: int = 0         # bytes of shared memory an SM can give to blocks
    reserved_shared_per_block: int = 1024
    source: str = ""


A100 = Gpu("A100-SXM4-40GB", 624e12, 1555e9, 19.5e12, "sm_80", 108, 64, 32, 65536, 164 * 1024, 1024,
           "NVIDIA A100 Tensor Core GPU Architecture whitepaper (2020), Table 1: peak INT8 Tensor Core 624 TOPS "
           "(dense; 1248 with sparsity), peak INT32 19.5 TOPS, 108 SMs, 1555 GB/s HBM2 (40 GB); CUDA C++ "
           "Programming Guide, compute capability 8.0: 64 warps, 32 blocks, 64K registers and 164 KB shared "
           "memory per SM, 1 KB shared memory reserved per block")
H100 = Gpu("H100-SXM5-80GB", 1979e12, 3350e9, 33.5e12, "sm_90", 132, 64, 32, 65536, 228 * 1024, 1024,
           "NVIDIA H100 Tensor Core GPU Architecture whitepaper (2022) and H100 datasheet: SXM5 peak INT8 Tensor "
           "Core 1979 TOPS (dense; 3958 with sparsity), peak INT32 33.5 TOPS, 132 SMs, 3.35 TB/s HBM3; CUDA C++ "
           "Programming Guide, compute capability 9.0: 64 warps, 32 blocks, 64K registers and 228 KB shared "
           "memory per SM, 1 KB shared memory reserved per block")
GPUS = (A100, H100)


@dataclass(frozen=True)
class Occupancy:
    blocks_per_sm: int
    theoretical: float     # active warps / max warps, with the SM full of this kernel's blocks
    achieved: float        # averaged over the launch's waves (the grid may not fill the GPU)
    waves: int
    limiter: str           # what bounds blocks/SM: "warps", "registers", "shared", "blocks"


def occupancy(gpu: Gpu, block: tuple[int, int, int] | list[int], grid: tuple[int, int, int] | list[int],
              registers: int, shared_bytes: int) -> Occupancy:
    threads = block[0] * block[1] * block[2]
    warps = math.ceil(threads / 32)
    limits = {"blocks": gpu.max_blocks_per_sm, "warps": gpu.max_warps_per_sm // warps}
    if registers:
        per_warp = math.ceil(32 * registers / 256) * 256
        limits["registers"] = gpu.regs_per_sm // (warps * per_warp)
    if shared_bytes:
        limits["shared"] = gpu.shared_per_sm // (shared_bytes + gpu.reserved_shared_per_block)
    limiter = min(limits, key=lambda k: (limits[k], k))
    per_sm = limits[limiter]
    if per_sm < 1:
        return Occupancy(0, 0.0, 0.0, 0, limiter)
    theoretical = per_sm * warps / gpu.max_warps_per_sm
    blocks = grid[0] * grid[1] * grid[2]
    waves = math.ceil(blocks / (gpu.sms * per_sm))
    return Occupancy(per_sm, theoretical, theoretical * blocks / (waves * gpu.sms * per_sm), waves, limiter)


@dataclass(frozen=True)
class Row:
    kernel: str
    macs: int
    dram_bytes: int
    intensity: float          # int8 ops per DRAM byte
    bound_us: float           # lower bound on the launch's time, microseconds
    limit: str                # "memory" or "compute"
    engine: str = ""          # "tensor" or "cuda-core"
    occupancy: Occupancy | None = None
    registers: int = 0
    shared_bytes: int = 0


def roofline(launches: list[dict], gpu: Gpu, usage: dict[str, dict[str, int]] | None = None) -> list[Row]:
    """One Row per launch; usage (ptxas -v per kernel, qcomp.codegen.cuda.nvcc.parse_ptxas_usage) adds the
    occupancy."""
    rows = []
    for launch in launches:
        tensor = launch.get("tensor_cores", False)
        peak = gpu.int8_ops_per_s if tensor or not gpu.int32_ops_per_s else gpu.int32_ops_per_s
        ops, nbytes = 2 * launch["macs"], launch["dram_bytes"]
        t_compute, t_memory = ops / peak, nbytes / gpu.bytes_per_s
        occ, regs, smem = None, 0, launch.get("shared_bytes", 0)
        if usage is not None:
            u = usage[launch["kernel"]]
            regs, smem = u["registers"], u["shared_bytes"]
            occ = occupancy(gpu, launch["block"], launch["grid"], regs, smem)
        rows.append(Row(launch["kernel"], launch["macs"], nbytes, ops / max(nbytes, 1),
                        1e6 * max(t_compute, t_memory), "compute" if t_compute > t_memory else "memory",
                        "tensor" if tensor else "cuda-core", occ, regs, smem))
    return rows


def ridge(gpu: Gpu, tensor: bool) -> float:
    """ops/byte at which a kernel turns compute-bound."""
    peak = gpu.int8_ops_per_s if tensor or not gpu.int32_ops_per_s else gpu.int32_ops_per_s
    return peak / gpu.bytes_per_s


def format_table(launches: list[dict], gpu: Gpu) -> str:
    rows = roofline(launches, gpu)
    lines = [f"{gpu.name}: peak {gpu.int8_ops_per_s / 1e12:.0f} int8 TOPS, {gpu.bytes_per_s / 1e9:.0f} GB/s, "
             f"ridge at {ridge(gpu, True):.0f} ops/byte",
             f"{'kernel':48} {'MACs':>12} {'bytes':>10} {'ops/byte':>9} {'bound us':>9}  limit"]
    for r in rows:
        lines.append(f"{r.kernel[:48]:48} {r.macs:12,} {r.dram_bytes:10,} {r.intensity:9.1f} {r.bound_us:9.3f}  {r.limit}")
    total = sum(r.bound_us for r in rows)
    lines.append(f"{'total (no launch overhead)':48} {sum(r.macs for r in rows):12,} "
                 f"{sum(r.dram_bytes for r in rows):10,} {'':9} {total:9.3f}")
    return "\n".join(lines)
