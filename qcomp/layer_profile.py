"""`qcomp bench ARTIFACT --per-layer`: where a compiled model's time goes, node by node.

    profile_layers(artifact, threads=N, runs=R, warmup=W) -> LayerProfile;  format_profile(p) -> lines

Like OpenVINO's `benchmark_app -pc` and onnxruntime's profiler. The artifact's own per-node clock
(qcomp_set_profiler, runtime/qcomp.h ABI version 2) times every node kernel of every timed run;
a node's time is its median over the runs; its share is that median over the sum of all nodes'
medians (the shares add up to 100 %). Per run, the sum of its node times (median over the runs)
against the wall time of the whole run call (median; input checks and ctypes included) shows what
lies outside the nodes; on a loaded machine the per-node medians drop preemptions that every run's
sum keeps, so the sum of the medians can fall below both. MACs per node come from the TARGET graph (model.qir lowered, qcomp.ir.stats.node_macs):
GOPS = 2 * MACs / time, and the share of the peak = GOPS / peak GOPS of the threads in effect.

The peak (cpu_peak): int8 ops per cycle per core of the dot instruction x the clock x threads.
  Intel (GenuineIntel) with AVX-512 VNNI: 2 VPDPBUSD zmm per cycle (two 512-bit ports; some Xeon
    Silver/Bronze parts have one and reach half) x 64 MACs x 2 ops = 256 ops/cycle.
  AMD Zen 4 (AuthenticAMD, family 25): a 512-bit VPDPBUSD runs as two 256-bit halves, 1 zmm per
    cycle: 128 ops/cycle. AMD Zen 5 (family 26): a full 512-bit datapath, 256 ops/cycle.
  The clock: measured (runtime/llvm/clock_probe.c: dependent adds, compiled with gcc), else the
    kernel's `cpu MHz` from /proc/cpuinfo (nominal: a boosting core beats it, so shares run high).
The header of the table names the vendor, family, the ops per cycle and the clock it used.
Only llvm artifacts that run on this host (x86-vnni) have the clock; other targets are refused.
"""
from __future__ import annotations

import statistics
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import QcompError

# int8 ops (2 per MAC) per cycle per core of 512-bit VNNI, by (vendor, family); family None: any
_OPS_PER_CYCLE = {("GenuineIntel", None): (256, "Intel AVX-512 VNNI: 2 vpdpbusd zmm/cycle x 64 MACs x 2"),
                  ("AuthenticAMD", 25): (128, "AMD Zen 4: 1 vpdpbusd zmm/cycle (two 256-bit halves) x 64 MACs x 2"),
                  ("AuthenticAMD", 26): (256, "AMD Zen 5: 2 vpdpbusd zmm/cycle x 64 MACs x 2")}


@dataclass(frozen=True)
class Peak:
    vendor: str
    family: int | None
    ops_per_cycle: int          # per core
    basis: str                  # how ops_per_cycle is made up
    hz: float
    clock_source: str           # "measured" or "nominal (/proc/cpuinfo cpu MHz)"
    threads: int

    @property
    def gops(self) -> float:
        return self.ops_per_cycle * self.hz * self.threads / 1e9


def cpuinfo(path: str = "/proc/cpuinfo") -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo (empty where it cannot be read)."""
    fields: dict[str, str] = {}
    try:
        for line in Path(path).read_text().splitlines():
            if not line.strip():
                break
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
    except OSError:
        pass
    return fields


def ops_per_cycle(vendor: str, family: int | None) -> tuple[int, str]:
    """(int8 ops per cycle per core, its basis) of this vendor and CPU family."""
    for key in ((vendor, family), (vendor, None)):
        if key in _OPS_PER_CYCLE:
            return _OPS_PER_CYCLE[key]
    raise QcompError(f"no VNNI peak is known for CPU vendor {vendor!r} family {family}; per-layer profiling "
                     f"knows {sorted({v for v, _ in _OPS_PER_CYCLE})} (families: AMD 25 Zen 4, 26 Zen 5)")


def measure_clock_hz() -> float | None:
    """The core clock from runtime/llvm/clock_probe.c, or None without gcc or on failure."""
    from .resources import data_dir
    with tempfile.TemporaryDirectory(prefix="qcomp-clock-") as tmp:
        exe = Path(tmp) / "clock_probe"
        try:
            subprocess.run(["gcc", "-O2", "-o", str(exe), str(data_dir("runtime") / "llvm" / "clock_probe.c")],
                           check=True, capture_output=True, timeout=60)
            out = subprocess.run([str(exe)], check=True, capture_output=True, text=True, timeout=60).stdout
            return float(out.split()[0])
        except (OSError, subprocess.SubprocessError, ValueError, IndexError):
            return None


def cpu_peak(threads: int, info: dict[str, str] | None = None, hz: float | None = None) -> Peak:
    info = cpuinfo() if info is None else info
    vendor = info.get("vendor_id", "?")
    family = int(info["cpu family"]) if info.get("cpu family", "").isdigit() else None
    per_cycle, basis = ops_per_cycle(vendor, family)
    source = "measured"
    if hz is None:
        hz = measure_clock_hz()
    if hz is None:
        try:
            hz, source = float(info["cpu MHz"]) * 1e6, "nominal (/proc/cpuinfo cpu MHz)"
        except (KeyError, ValueError):
            raise QcompError("the CPU clock is neither measurable (gcc missing) nor in /proc/cpuinfo; "
                             "per-layer profiling needs one of them for the peak") from None
    return Peak(vendor, family, per_cycle, basis, hz, source, threads)


@dataclass(frozen=True)
class Layer:
    name: str
    op: str
    macs: int
    ms: float          # median over the runs

    def gops(self) -> float:
        return 2 * self.macs / (self.ms * 1e-3) / 1e9 if self.ms > 0 else 0.0


@dataclass
class LayerProfile:
    artifact: str
    target: str
    threads: int
    runs: int
    warmup: int
    layers: list[Layer]          # run order
    run_ms: float                # median wall time of a whole run call
    peak: Peak
    cpu_model: str
    nodes_run_ms: float = 0.0    # median over the runs of the sum of that run's node times

    @property
    def total_ms(self) -> float:
        return sum(layer.ms for layer in self.layers)

    def share(self, layer: Layer) -> float:
        """The layer's share of the sum of the node times, in %."""
        return 100 * layer.ms / self.total_ms if self.total_ms > 0 else 0.0

    def peak_share(self, layer: Layer) -> float:
        return 100 * layer.gops() / self.peak.gops


def _target_graph(path: Path, target):
    """The TARGET graph the artifact was built from (with its backend's fusions: the node names profiled)."""
    from .builder import target_passes
    from .ir.serialize import load_graph
    from .passes.pipeline import run_passes
    return run_passes(load_graph(path / "model.qir"), target_passes(target))


def profile_layers(artifact, threads: int | None = None, runs: int = 50, warmup: int = 5, seed: int = 0,
                   hz: float | None = None) -> LayerProfile:
    from .artifact import read_manifest
    from .bench import load_qcomp, random_feeds
    from .ir.stats import node_macs
    from .target import get_target
    if runs < 1 or warmup < 0:
        raise QcompError(f"--runs must be at least 1 and --warmup at least 0 (got {runs} and {warmup})")
    path = Path(artifact)
    manifest = read_manifest(path)
    target = get_target(manifest["target"])
    if target.backend != "llvm" or target.kind != "native":
        raise QcompError(f"per-layer profiling is available for llvm targets that run on this host (x86-vnni); "
                         f"{str(path)!r} is a {manifest['target']} artifact: profile an x86-vnni build of the model")
    art = load_qcomp(path, threads)
    runner = getattr(art, "_runner", None)
    if runner is None or not hasattr(runner, "profile"):
        raise QcompError(f"{str(path)!r}: its runtime has no per-node profiler; rebuild it with `qcomp build`")
    feeds = random_feeds(manifest["inputs"], np.random.default_rng(seed))
    names, times, walls = runner.profile(feeds, runs, warmup)
    g = _target_graph(path, target)
    nodes = {n.name: n for n in g.nodes}
    layers = []
    for k, name in enumerate(names):
        node = nodes.get(name) or nodes.get(name.removesuffix(".readers"))   # a raw output's reader twin
        macs = node_macs(g, node) if node is not None and not name.endswith(".readers") else 0
        layers.append(Layer(name, node.kind if node is not None else "?", int(macs),
                            float(np.median(times[:, k])) / 1e6))
    peak = cpu_peak(runner.num_threads, hz=hz)
    return LayerProfile(str(path), manifest["target"], runner.num_threads, runs, warmup, layers,
                        1e3 * statistics.median(walls), peak, cpuinfo().get("model name", "?"),
                        float(np.median(times.sum(axis=1))) / 1e6)


def format_profile(p: LayerProfile, top: int | None = None) -> list[str]:
    """The table, slowest node first, then the totals."""
    peak = p.peak
    family = f" family {peak.family}" if peak.family is not None else ""
    lines = [f"{p.artifact} ({p.target}): per-node time, median of {p.runs} runs after {p.warmup} warm-up runs, "
             f"{p.threads} thread{'s' if p.threads != 1 else ''}",
             f"CPU: {p.cpu_model} ({peak.vendor}{family}); VNNI peak = {peak.basis} = {peak.ops_per_cycle} ops/cycle/core "
             f"x {peak.hz / 1e9:.2f} GHz ({peak.clock_source}) x {peak.threads} core{'s' if peak.threads != 1 else ''} "
             f"= {peak.gops:.0f} GOPS"]
    rows = sorted(p.layers, key=lambda layer: -layer.ms)
    shown = rows[:top] if top else rows
    width = max([len(layer.name) for layer in shown] + [4])
    head = f"  {'node':<{width}}  {'op':<14} {'ms':>9} {'%':>6} {'MMACs':>10} {'GOPS':>8} {'% peak':>7}"
    lines += [head, "  " + "-" * (len(head) - 2)]
    for layer in shown:
        gops = f"{layer.gops():8.1f}" if layer.macs else f"{'-':>8}"
        of_peak = f"{p.peak_share(layer):6.1f}%" if layer.macs else f"{'-':>7}"
        lines.append(f"  {layer.name:<{width}}  {layer.op:<14} {layer.ms:9.4f} {p.share(layer):5.1f}% "
                     f"{layer.macs / 1e6:10.3f} {gops} {of_peak}")
    if top and len(rows) > top:
        rest = rows[top:]
        lines.append(f"  ({len(rest)} more nodes: {sum(r.ms for r in rest):.4f} ms)")
    macs = sum(layer.macs for layer in p.layers)
    mac_ms = sum(layer.ms for layer in p.layers if layer.macs)
    lines.append("  " + "-" * (len(head) - 2))
    lines.append(f"  {'nodes':<{width}}  {len(p.layers):<14} {p.total_ms:9.4f} 100.0% {macs / 1e6:10.3f} "
                 f"{2 * macs / (p.total_ms * 1e-3) / 1e9 if p.total_ms else 0:8.1f}")
    if mac_ms:
        gops = 2 * macs / (mac_ms * 1e-3) / 1e9
        lines.append(f"  conv/dense/matmul nodes alone: {mac_ms:.4f} ms, {gops:.1f} GOPS, "
                     f"{100 * gops / peak.gops:.1f} % of the peak")
    lines.append(f"  per run (medians): nodes {p.nodes_run_ms:.4f} ms, whole run call {p.run_ms:.4f} ms, outside "
                 f"the nodes (input checks, ctypes) {p.run_ms - p.nodes_run_ms:.4f} ms")
    return lines
