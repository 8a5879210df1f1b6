"""`qcomp bench`: batch latency of an artifact, optionally against onnxruntime on the same inputs.

    bench(artifact, threads=N, runs=R, warmup=W, vs="onnxruntime", model=PATH) -> BenchResult

Inputs are random but valid for the manifest: float inputs standard normal (the calibration
scale of image models), integer inputs (token ids, masks) 0 or 1. Every engine runs the same
feeds; after `warmup` untimed runs each, the timed runs are interleaved in blocks (BLOCK runs of
qcomp, BLOCK of ort-fp32, BLOCK of ort-int8, qcomp again, ...) so a change of clock or load hits
every engine alike. Before each block the process sleeps SETTLE seconds and the engine makes one
untimed run: onnxruntime's idle workers keep spinning for tens of milliseconds after a run (measured
here: ~50 ms of CPU burnt after one ResNet-18 run), and interleaving run by run made every
2-thread figure measure one engine's threads competing with the other's spinning ones. Within a
block the runs follow each other back to back, as a serving loop's do. Latency is the wall time of
one `run` call (time.perf_counter), reported as median and 90th percentile.

With vs="onnxruntime" the source ONNX model (`model`, or the file the manifest names, found in the
working directory or next to the artifact, with the sha256 the manifest records) runs in
  - onnxruntime FP32, and
  - onnxruntime int8: quant_pre_process (shape inference, graph optimization: BatchNorm folded
    into Conv, as onnxruntime's quantization guide asks), then quantize_static with QDQ format,
    per-channel weights, QUInt8 activations x QInt8 weights (onnxruntime's VNNI fast path on x86),
    calibrated (minmax) on `calib_samples` random feeds drawn as above,
both with intra_op_num_threads = threads, inter_op_num_threads = 1, sequential execution and all
graph optimizations. qcomp's thread count goes to qcomp.load(path, num_threads=N) when this qcomp
has it, else to the QCOMP_NUM_THREADS environment variable before the library is loaded.
"""
from __future__ import annotations

import hashlib
import inspect
import os
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import QcompError


@dataclass
class Timing:
    name: str
    seconds: list[float] = field(default_factory=list)

    @property
    def median_ms(self) -> float:
        return 1e3 * statistics.median(self.seconds)

    @property
    def p90_ms(self) -> float:
        s = sorted(self.seconds)
        return 1e3 * s[min(len(s) - 1, int(round(0.9 * (len(s) - 1))))]


@dataclass
class BenchResult:
    artifact: str
    threads: int
    runs: int
    warmup: int
    timings: list[Timing]

    def ratios(self) -> dict[str, float]:
        """qcomp's median latency over each other engine's (< 1: qcomp is faster)."""
        q = self.timings[0].median_ms
        return {t.name: q / t.median_ms for t in self.timings[1:]}


def random_feeds(inputs: list[dict], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One feed per manifest input: float standard normal, integers 0/1 (valid ids and masks)."""
    feeds = {}
    for t in inputs:
        dtype = np.dtype(t["dtype"])
        shape = tuple(t["shape"])
        if dtype.kind == "f":
            feeds[t["name"]] = rng.standard_normal(shape).astype(dtype)
        else:
            feeds[t["name"]] = rng.integers(0, 2, size=shape).astype(dtype)
    return feeds


def load_qcomp(path, threads: int | None):
    """qcomp.load with this many threads (the num_threads argument, else QCOMP_NUM_THREADS)."""
    from .api import load
    if threads is None:
        return load(path)
    if "num_threads" in inspect.signature(load).parameters:
        return load(path, num_threads=threads)
    os.environ["QCOMP_NUM_THREADS"] = str(threads)
    return load(path)


def find_model(artifact: Path, manifest: dict, model: str | os.PathLike | None) -> Path:
    """The source ONNX model of the artifact, checked against the manifest's sha256."""
    recorded = manifest.get("model") or {}
    sha = recorded.get("sha256")
    if model is not None:
        p = Path(model)
        if not p.is_file():
            raise QcompError(f"--model {str(p)!r}: no such file")
        if sha and hashlib.sha256(p.read_bytes()).hexdigest() != sha:
            raise QcompError(f"--model {str(p)!r} is not the model artifact {str(artifact)!r} was built from "
                             f"(sha256 differs from the manifest's {sha[:16]}...); give the source ONNX model")
        return p
    name = recorded.get("file")
    for folder in (Path.cwd(), artifact.parent, artifact):
        p = folder / name if name else None
        if p is not None and p.is_file() and hashlib.sha256(p.read_bytes()).hexdigest() == sha:
            return p
    raise QcompError(f"--vs onnxruntime needs the source ONNX model of {str(artifact)!r} (the manifest records "
                     f"{name!r}, sha256 {str(sha)[:16]}...); give it with --model PATH")


def ort_session(model, threads: int):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    return ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])


def ort_int8_model(model: Path, inputs: list[dict], out: Path, calib_samples: int = 8, seed: int = 1) -> Path:
    """onnxruntime's own static int8 model: QDQ, per-channel, QUInt8 activations x QInt8 weights."""
    import logging

    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    rng = np.random.default_rng(seed)
    samples = [random_feeds(inputs, rng) for _ in range(calib_samples)]

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._it = iter(samples)

        def get_next(self):
            return next(self._it, None)

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)   # onnxruntime.quantization logs advice through the root logger
    try:
        pre = out.with_name(out.stem + ".pre.onnx")
        quant_pre_process(str(model), str(pre))   # shape inference + graph optimization (BN folding)
        quantize_static(str(pre), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    finally:
        root.setLevel(level)
    return out


BLOCK = 5        # timed runs of one engine in a row
SETTLE = 0.1     # seconds of sleep before each block: the previous engine's spinning threads go idle


def time_interleaved(engines: list[tuple[str, object]], runs: int, warmup: int, block: int = BLOCK,
                     settle: float = SETTLE) -> list[Timing]:
    """engines: (name, zero-argument callable). Warm each up, then interleave blocks of timed runs
    (`runs` per engine in all), each block after `settle` seconds of sleep and one untimed run."""
    for _, fn in engines:
        for _ in range(warmup):
            fn()
    timings = [Timing(name) for name, _ in engines]
    while len(timings[0].seconds) < runs:
        for timing, (_, fn) in zip(timings, engines):
            if len(engines) > 1 and settle > 0:
                time.sleep(settle)
                fn()
            for _ in range(min(block, runs - len(timing.seconds))):
                t0 = time.perf_counter()
                fn()
                timing.seconds.append(time.perf_counter() - t0)
    return timings


def bench(artifact, threads: int | None = None, runs: int = 50, warmup: int = 5, vs: str | None = None,
          model=None, seed: int = 0) -> BenchResult:
    from .artifact import read_manifest
    if runs < 1 or warmup < 0:
        raise QcompError(f"--runs must be at least 1 and --warmup at least 0 (got {runs} and {warmup})")
    if threads is not None and threads < 1:
        raise QcompError(f"--threads must be at least 1 (got {threads})")
    path = Path(artifact)
    manifest = read_manifest(path)
    if manifest["target"] == "ref":
        raise QcompError("the ref target is the integer reference interpreter (numpy), not a compiled model; "
                         "bench an artifact built for x86-vnni, arm-sdot, cuda or dsp-c")
    art = load_qcomp(path, threads)
    feeds = random_feeds(manifest["inputs"], np.random.default_rng(seed))
    engines: list[tuple[str, object]] = [(f"qcomp {manifest['target']}", lambda: art.run(feeds))]
    if vs is not None:
        if vs != "onnxruntime":
            raise QcompError(f"--vs {vs!r}: only onnxruntime is supported")
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            raise QcompError("--vs onnxruntime needs the onnxruntime package (pip install onnxruntime)") from None
        source = find_model(path, manifest, model)
        n = threads or os.cpu_count() or 1
        try:
            fp32 = ort_session(source, n)
            with tempfile.TemporaryDirectory(prefix="qcomp-bench-") as tmp:
                int8 = ort_session(ort_int8_model(source, manifest["inputs"], Path(tmp) / "int8.onnx"), n)
        except Exception as e:   # onnxruntime's own failures (unsupported op, quantization) are not qcomp bugs
            raise QcompError(f"--vs onnxruntime: onnxruntime could not load or quantize {str(source)!r}: "
                             f"{type(e).__name__}: {e}") from None
        engines += [("onnxruntime fp32", lambda: fp32.run(None, feeds)),
                    ("onnxruntime int8", lambda: int8.run(None, feeds))]
    timings = time_interleaved(engines, runs, warmup)
    return BenchResult(str(path), threads or 0, runs, warmup, timings)


def format_result(r: BenchResult) -> list[str]:
    threads = f"{r.threads} thread{'s' if r.threads != 1 else ''}" if r.threads else "default threads"
    lines = [f"{r.artifact}: {r.runs} runs after {r.warmup} warm-up runs, {threads}, batch as built"]
    width = max(len(t.name) for t in r.timings)
    for t in r.timings:
        lines.append(f"  {t.name:<{width}}  median {t.median_ms:8.3f} ms   p90 {t.p90_ms:8.3f} ms")
    for name, ratio in r.ratios().items():
        verdict = "faster" if ratio < 1 else "slower"
        lines.append(f"  qcomp / {name}: {ratio:.2f} (qcomp {verdict})")
    return lines
